"""The sample source's tenders, built from the 200 real portal rows in data/ocds/.

Tender k (k = 0 .. count-1) comes from portal row k % 200 (rows sorted by id), in cycle k // 200:
- id = row id + cycle * 1_000_000, ocid ocds-9t57fa-{id}; tender number = tender_No, suffixed /{cycle} after cycle 0;
- one release on day start + (k % days), at midnight labelled Z as eTenders publishes it;
- even k: the newer feed shape carrying the portal fields (category, province, briefing, contact...);
  odd k: the older shape without them, so enrichment needs the portal;
- k % 10 == 0: a second, newer release 2 days later: closing date 7 days later when k % 20 == 0,
  status "cancelled" when k % 20 == 10.
Every release's times are South African wall-clock labelled Z, as eTenders publishes them.
"""

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from local.toolchain import ROOT

SAMPLE_DATA = ROOT / "data" / "ocds"
PORTAL_ROWS_FILE = "etenders-za/portal_PaginatedTenderOpportunities_2025-09-18.json"
OCID_PREFIX = "ocds-9t57fa"
CYCLE_ID_OFFSET = 1_000_000

# JSON as the portal and the OCDS API give it: a portal row (and a support document of one), a release (and a
# document of one).
PortalRow = dict[str, Any]
Release = dict[str, Any]
Document = dict[str, Any]


def sample_data_dir() -> Path:
    """The real OCDS sample data kept in data/ocds/, unless OCDS_SAMPLE_DATA names another directory."""
    return Path(os.environ.get("OCDS_SAMPLE_DATA") or SAMPLE_DATA)


def load_portal_rows() -> list[PortalRow]:
    """The 200 real portal rows, sorted by id."""
    document = json.loads((sample_data_dir() / PORTAL_ROWS_FILE).read_text(encoding="utf-8"))
    return sorted(document["data"], key=lambda row: row["id"])


def sample_tenders(start: date, days: int, count: int) -> tuple[list[PortalRow], list[tuple[str, Release]]]:
    """The portal rows of `count` tenders, and (the day it is listed under, the release) for each of their
    releases, in order of day and ocid."""
    base_rows = load_portal_rows()
    # Built once per real row: quoting document URLs is most of the cost of 50,000 releases.
    base_documents = [[_document(document) for document in row.get("supportDocument") or []] for row in base_rows]
    portal_rows: list[PortalRow] = []
    listed: list[tuple[str, Release]] = []
    for k in range(count):
        cycle, base = divmod(k, len(base_rows))
        row = _synthetic_row(base_rows[base], cycle)
        portal_rows.append(row)
        listed.extend(_releases_for(row, base_documents[base], k, start + timedelta(days=k % days)))
    listed.sort(key=lambda entry: (entry[0], entry[1]["ocid"]))
    return portal_rows, listed


def _synthetic_row(row: PortalRow, cycle: int) -> PortalRow:
    if cycle == 0:
        return row
    tender_number = f"{row['tender_No']}/{cycle}"
    return {
        **row,
        "id": row["id"] + cycle * CYCLE_ID_OFFSET,
        "tender_No": tender_number,
        "actions": {**row["actions"], "tender_No": tender_number},
    }


def _releases_for(row: PortalRow, documents: list[Document], k: int, day: date) -> list[tuple[str, Release]]:
    """(the day it is listed under, the release) for each release of tender k."""
    ocid = f"{OCID_PREFIX}-{row['id']}"
    first = _release(row, documents, ocid, day, new_shape=k % 2 == 0)
    if k % 10 != 0:
        return [(day.isoformat(), first)]
    update_day = day + timedelta(days=2)
    update = _release(row, documents, ocid, update_day, new_shape=k % 2 == 0)
    if k % 20 == 0:
        closing = datetime.fromisoformat(row["closing_Date"]) + timedelta(days=7)
        update["tender"]["tenderPeriod"]["endDate"] = closing.isoformat() + "Z"
    else:
        update["tender"]["status"] = "cancelled"
    return [(day.isoformat(), first), (update_day.isoformat(), update)]


def _release(row: PortalRow, documents: list[Document], ocid: str, day: date, new_shape: bool) -> Release:
    department = {"id": str(row["departmentsID"]), "name": row["department"]}
    tender = {
        "id": str(row["id"]),
        "title": row["tender_No"],
        "status": "active",
        "mainProcurementCategory": _main_category(row["category"]),
        "description": row["description"],
        "value": {"amount": 0, "currency": "ZAR"},
        "documents": [dict(document) for document in documents],
        "tenderPeriod": {"startDate": row["date_Published"] + "Z", "endDate": row["closing_Date"] + "Z"},
        "tenderers": [],
        "procuringEntity": dict(department),
        "procurementMethodDetails": row["type"],
    }
    if new_shape:
        briefing_date = row["compulsory_briefing_session"]
        tender.update(
            {
                "category": row["category"],
                "province": row["province"],
                "deliveryLocation": row["delivery"],
                "specialConditions": row["conditions"],
                "briefingSession": {
                    "isSession": row["briefingSession"],
                    "compulsory": row["briefingCompulsory"],
                    "date": briefing_date + "Z" if briefing_date else None,
                    "venue": row["briefingVenue"],
                },
                "contactPerson": {
                    "name": row["contactPerson"],
                    "email": row["email"],
                    "telephoneNumber": row["telephone"],
                },
            }
        )
    return {
        "ocid": ocid,
        "id": f"{ocid}-{day.isoformat()}",
        "date": f"{day.isoformat()}T00:00:00Z",
        "tag": ["compiled"],
        "initiationType": "tender",
        "tender": tender,
        "planning": {"rationale": "", "budget": {"description": " - "}, "documents": []},
        "parties": [],
        "buyer": dict(department),
        "language": "en-za",
        "awards": [],
        "contracts": [],
    }


def _main_category(category: str) -> str:
    if category.startswith(("Construction", "Civil", "Building")):
        return "works"
    if category.startswith("Services"):
        return "services"
    return "goods"


def _document(document: dict[str, Any]) -> Document:
    blob_name = document["supportDocumentID"] + document["extension"]
    modified = document["dateModified"][:19] + "Z"
    return {
        "id": document["supportDocumentID"],
        "documentType": "basic",
        "title": document["fileName"],
        "description": document["fileName"],
        "url": f"https://www.etenders.gov.za/home/Download?blobName={blob_name}"
        f"&downloadedFileName={quote(document['fileName'])}",
        "datePublished": modified,
        "dateModified": modified,
        "format": document["extension"].lstrip("."),
        "language": "en",
    }
