"""Detailed category, province and details for a tender, from the eTenders portal's tender search."""

from tender_sync.errors import BadSourceData
from tender_sync.models.lookups import LookupItem, LookupResult
from tender_sync.source.normalize import clean_details, clean_text
from tender_sync.source.portal_client import PortalClient
from tender_sync.source.publishers import by_ocid


def look_up(item: LookupItem, portal: PortalClient) -> LookupResult:
    publisher = by_ocid(item.ocid)
    tender_number = clean_text(item.tenderNumber)
    if publisher is None or tender_number is None:
        return LookupResult(ocid=item.ocid, status="not_found")
    portal_id = publisher.portal_row_id(item.ocid)
    row = next((row for row in portal.search(tender_number) if str(row.get("id")) == portal_id), None)
    if row is None:
        return LookupResult(ocid=item.ocid, status="not_found")
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
            },
            publisher.zone,
        )
    except ValueError as exc:
        raise BadSourceData(f"portal row {portal_id}: {exc}") from None
    return LookupResult(
        ocid=item.ocid,
        status="enriched",
        detailed_category=clean_text(row.get("category")),
        province=clean_text(row.get("province")),
        details=details,
    )
