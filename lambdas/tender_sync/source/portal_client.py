"""Searches the eTenders portal's open tenders, whose rows hold what the feed lacks (see tender_sync.enrichment)."""

from typing import Any

from tender_sync.errors import BadSourceData
from tender_sync.source.requests import SourceClient, decode_json

SEARCH_PATH = "/Home/PaginatedTenderOpportunities"


class PortalClient(SourceClient):
    def search(self, tender_number: str) -> list[dict[str, Any]]:
        """The open tenders whose number contains tender_number (the portal's first 10 matches)."""
        url = self._url(
            SEARCH_PATH, params={"draw": 1, "start": 0, "length": 10, "status": 1, "search[value]": tender_number}
        )
        return self._fetch(url, _read_rows)


def _read_rows(body: bytes, content_type: str | None) -> list[dict[str, Any]]:
    """The rows of a portal search answer. An answer without a data list (an error object) is BadSourceData."""
    document = decode_json(body, content_type)
    rows = document.get("data") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise BadSourceData("portal search answered without a data list")
    return [row for row in rows if isinstance(row, dict)]
