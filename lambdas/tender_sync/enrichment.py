"""Detailed category, province and details for a tender, from the eTenders portal's tender search."""
from dataclasses import replace

import httpx

from tender_sync.errors import BadSourceData
from tender_sync.models import EnrichmentItem, EnrichmentResult
from tender_sync.normalize import clean_details, clean_text
from tender_sync.ocds_client import RequestPolicy, decode_json, fetch

SEARCH_PATH = "/Home/PaginatedTenderOpportunities"


class PortalClient:
    def __init__(
        self,
        base_url: str,
        timeout: float | None = None,
        client: httpx.Client | None = None,
        policy: RequestPolicy | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RequestPolicy.from_env()
        if timeout is not None:
            self.policy = replace(self.policy, timeout=timeout)
        self._http = client or httpx.Client()

    def search(self, tender_number: str) -> list[dict]:
        """The open tenders whose number contains tender_number (the portal's first 10 matches)."""
        url = httpx.URL(
            self.base_url + SEARCH_PATH,
            params={"draw": 1, "start": 0, "length": 10, "status": 1, "search[value]": tender_number},
        )
        return fetch(self._http, url, _read_rows, self.policy)


def _read_rows(body: bytes, content_type: str | None) -> list[dict]:
    """The rows of a portal search answer. An answer without a data list (an error object) is BadSourceData."""
    document = decode_json(body, content_type)
    rows = document.get("data") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise BadSourceData("portal search answered without a data list")
    return [row for row in rows if isinstance(row, dict)]


def enrich(item: EnrichmentItem, portal: PortalClient) -> EnrichmentResult:
    tender_number = clean_text(item.tenderNumber)
    if tender_number is None:
        return EnrichmentResult(ocid=item.ocid, status="not_found")
    # The portal row's id is the ocid suffix: ocds-9t57fa-134030 <-> row 134030.
    portal_id = item.ocid.rsplit("-", 1)[-1]
    row = next((row for row in portal.search(tender_number) if str(row.get("id")) == portal_id), None)
    if row is None:
        return EnrichmentResult(ocid=item.ocid, status="not_found")
    try:
        details = clean_details(
            {
                "deliveryLocation": row.get("delivery"),
                "specialConditions": row.get("conditions"),
                "briefingSession": {
                    "isSession": row.get("briefingSession"),
                    "compulsory": row.get("briefingCompulsory"),
                    "date": row.get("compulsory_briefing_session"),
                    "venue": row.get("briefingVenue"),
                },
                "contactPerson": {
                    "name": row.get("contactPerson"),
                    "email": row.get("email"),
                    "telephoneNumber": row.get("telephone"),
                },
            }
        )
    except ValueError as exc:
        raise BadSourceData(f"portal row {portal_id}: {exc}") from None
    return EnrichmentResult(
        ocid=item.ocid,
        status="enriched",
        detailed_category=clean_text(row.get("category")),
        province=clean_text(row.get("province")),
        details=details,
    )
