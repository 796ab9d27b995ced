"""The sync's settings as the storage tests give them, tender rows to store, and the tenders table as stored."""

from collections.abc import Iterable
from datetime import date
from typing import Any

import psycopg

from tender_sync.settings import SyncSettings
from tender_sync.storage.tenders import store_tenders

SETTINGS = SyncSettings(
    source_name="etenders-za",
    first_run_from=date(2025, 9, 1),
    window_days=7,
    overlap_days=1,
    lease_seconds=3600,
    max_enrichment=300,
)


def tender(
    ocid: str = "ocds-9t57fa-1",
    day: str = "2025-09-01",
    status: str = "pending",
    category: str | None = None,
    title: str = "Cleaning",
) -> dict[str, Any]:
    """A normalized tender, as store_tenders takes it: released on `day`, its lookup `status`."""
    return {
        "ocid": ocid,
        "release_id": f"{ocid}-{day}",
        "release_date": f"{day}T00:00:00+02:00",
        "tender_number": "T/1",
        "title": title,
        "description": title,
        "status": "active",
        "main_category": "services",
        "detailed_category": category,
        "province": None,
        "buyer_name": "Dept",
        "close_date": "2025-10-01T11:00:00+02:00",
        "value_amount": None,
        "currency": "ZAR",
        "enrichment_status": status,
        "enrichment_error": None,
        "enriched_at": None,
        "details": None,
        "raw": {"ocid": ocid, "date": day},
    }


def query(url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    """The rows `sql` selects, each a dict by column name."""
    with psycopg.connect(url) as conn:
        cursor = conn.execute(sql, params or None)
        assert cursor.description is not None, f"{sql!r} returns no rows"
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def rows(url: str) -> list[dict[str, Any]]:
    """The tenders table, by ocid."""
    return query(url, "SELECT * FROM tenders ORDER BY ocid")


def store(url: str, tenders: Iterable[dict[str, Any]]) -> dict[str, int]:
    """store_tenders' counts for `tenders`, stored under SETTINGS' source."""
    with psycopg.connect(url) as conn:
        return store_tenders(conn, SETTINGS.source_name, tenders).counts
