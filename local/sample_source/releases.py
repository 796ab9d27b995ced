"""The sample source's tenders, built from the 200 real portal rows in data/ocds/.

The fixed data (SampleSource(fixed=True), the tests'): tender k (k = 0 .. count-1) comes from portal row k % 200
(rows sorted by id), in cycle k // 200:
- id = row id + cycle * 1_000_000, ocid ocds-9t57fa-{id}; tender number = tender_No, suffixed /{cycle} after cycle 0;
- one release on day start + (k % days), at midnight labelled Z as eTenders publishes it;
- even k: the newer feed shape carrying the portal fields (category, province, briefing, contact...);
  odd k: the older shape without them, so enrichment needs the portal;
- k % 10 == 0: a second, newer release 2 days later: closing date 7 days later when k % 20 == 0,
  status "cancelled" when k % 20 == 10.
Every release's times are South African wall-clock labelled Z, as eTenders publishes them.

The live data (SampleSource's default) keeps publishing: tender k appears at LIVE_START + k * PUBLISH_EVERY (one
every 5 minutes since 2025-09-01, South African time), made as above from row k % 200 in cycle k // 200, with every
date of its row (published, closing, briefing, documents) moved by the same number of days, to the day it appears;
its release is dated that day, and its second release (k % 10 == 0) appears UPDATE_AFTER later to the minute. The
feed has carried the portal fields since 2026: one tender in OLD_SHAPE_EVERY (k % 50 == 1) comes in the older
shape. A release is listed once the time it appears has come. A week of it, what a sync's window holds, is about
2,000 tenders of which 40 need the portal: light enough for each `make run` catching up, while a run 5 minutes
after the last finds a new tender.
"""

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from local.toolchain import ROOT
from tender_sync.source.publishers import SAST

SAMPLE_DATA = ROOT / "data" / "ocds"
PORTAL_ROWS_FILE = "etenders-za/portal_PaginatedTenderOpportunities_2025-09-18.json"
OCID_PREFIX = "ocds-9t57fa"
CYCLE_ID_OFFSET = 1_000_000
UPDATE_AFTER = timedelta(days=2)
LIVE_START = datetime(2025, 9, 1, tzinfo=SAST)
PUBLISH_EVERY = timedelta(minutes=5)
TENDERS_A_DAY = timedelta(days=1) // PUBLISH_EVERY
OLD_SHAPE_EVERY = 50

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
        day = start + timedelta(days=k % days)
        listed.extend(_releases_for(row, base_documents[base], k, day, new_shape=k % 2 == 0))
    listed.sort(key=lambda entry: (entry[0], entry[1]["ocid"]))
    return portal_rows, listed


class LiveTenders:
    """The live data's tenders, each made when asked for: tender k, its portal row and its releases."""

    def __init__(self) -> None:
        self._rows = load_portal_rows()
        self._documents = [[_document(document) for document in row.get("supportDocument") or []] for row in self._rows]
        self._base_by_id = {row["id"]: base for base, row in enumerate(self._rows)}

    @staticmethod
    def appears(k: int) -> datetime:
        return LIVE_START + k * PUBLISH_EVERY

    @staticmethod
    def appeared_by(now: datetime) -> int:
        """How many tenders have appeared by `now`: tenders 0 .. n-1."""
        return max(0, (now - LIVE_START) // PUBLISH_EVERY + 1)

    def tender_of(self, ocid: str) -> int | None:
        """k of the tender with this ocid, whether it has appeared yet or not."""
        prefix, _, number = ocid.rpartition("-")
        if prefix != OCID_PREFIX or not number.isdigit():
            return None
        cycle, row_id = divmod(int(number), CYCLE_ID_OFFSET)
        base = self._base_by_id.get(row_id)
        return None if base is None else cycle * len(self._rows) + base

    def tender_number(self, k: int) -> str:
        cycle, base = divmod(k, len(self._rows))
        return _tender_number(self._rows[base], cycle)

    def portal_row(self, k: int) -> PortalRow:
        cycle, base = divmod(k, len(self._rows))
        return _moved(_synthetic_row(self._rows[base], cycle), self._days_moved(k))

    def releases_of(self, k: int) -> list[tuple[datetime, Release]]:
        """(when it appears, the release) for each release of tender k."""
        days = self._days_moved(k)
        documents = [
            {
                **document,
                "datePublished": _later(document["datePublished"], days),
                "dateModified": _later(document["dateModified"], days),
            }
            for document in self._documents[k % len(self._rows)]
        ]
        appears = self.appears(k)
        releases = _releases_for(self.portal_row(k), documents, k, appears.date(), new_shape=k % OLD_SHAPE_EVERY != 1)
        return [(appears + (date.fromisoformat(day) - appears.date()), release) for day, release in releases]

    def releases_on(self, day: date) -> list[tuple[datetime, Release]]:
        """(when it appears, the release) for each release listed on `day`, in the order they appear: the first
        releases of the tenders that appear that day, and the second releases of those that appeared UPDATE_AFTER
        before."""
        listed: list[tuple[datetime, Release]] = []
        for first_day in (day - UPDATE_AFTER, day):
            first = (first_day - LIVE_START.date()).days * TENDERS_A_DAY
            for k in range(max(first, 0), first + TENDERS_A_DAY):
                listed.extend(entry for entry in self.releases_of(k) if entry[0].date() == day)
        return sorted(listed, key=lambda entry: entry[0])

    def _days_moved(self, k: int) -> int:
        """From the day the real tender was published to the day tender k appears."""
        published = date.fromisoformat(self._rows[k % len(self._rows)]["date_Published"][:10])
        return (self.appears(k).date() - published).days


def _synthetic_row(row: PortalRow, cycle: int) -> PortalRow:
    if cycle == 0:
        return row
    tender_number = _tender_number(row, cycle)
    return {
        **row,
        "id": row["id"] + cycle * CYCLE_ID_OFFSET,
        "tender_No": tender_number,
        "actions": {**row["actions"], "tender_No": tender_number},
    }


def _tender_number(row: PortalRow, cycle: int) -> str:
    return f"{row['tender_No']}/{cycle}" if cycle else row["tender_No"]


def _moved(row: PortalRow, days: int) -> PortalRow:
    """The row with every date in it `days` later."""
    briefing = row["compulsory_briefing_session"]
    return {
        **row,
        "date_Published": _later(row["date_Published"], days),
        "closing_Date": _later(row["closing_Date"], days),
        "compulsory_briefing_session": _later(briefing, days) if briefing else briefing,
        "supportDocument": [
            {**document, "dateModified": _later(document["dateModified"], days)}
            for document in row.get("supportDocument") or []
        ],
    }


def _later(timestamp: str, days: int) -> str:
    """An ISO timestamp `days` later, written as it was (the portal's has 7 fractional digits at times)."""
    return (date.fromisoformat(timestamp[:10]) + timedelta(days=days)).isoformat() + timestamp[10:]


def _releases_for(
    row: PortalRow, documents: list[Document], k: int, day: date, new_shape: bool
) -> list[tuple[str, Release]]:
    """(the day it is listed under, the release) for each release of tender k."""
    ocid = f"{OCID_PREFIX}-{row['id']}"
    first = _release(row, documents, ocid, day, new_shape)
    if k % 10 != 0:
        return [(day.isoformat(), first)]
    update_day = day + UPDATE_AFTER
    update = _release(row, documents, ocid, update_day, new_shape)
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
