"""enrich-today: today's tenders still lacking their detailed category, staged for the enrichment Map.

It stages each tender's stored release again, in the shapes FetchReleases writes, so the Map and UpsertTenders
work as in a sync; the same release stored again only fills in the enrichment (upsert.ON_CONFLICT_NEWER). It
holds no lease and never moves the cursor: a concurrent sync storing a newer release simply wins."""
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import psycopg

from tender_sync.window import SOUTH_AFRICA

# Newest first, so a capped run enriches the freshest tenders (tenders_enrichment_pending_idx serves 'failed').
TODAYS_UNENRICHED_SQL = """
SELECT raw FROM tenders
 WHERE release_date >= %(start)s AND release_date < %(end)s
   AND (detailed_category IS NULL OR enrichment_status = 'failed')
 ORDER BY release_date DESC, ocid
 LIMIT %(cap)s
"""


def todays_unenriched_releases(conn: psycopg.Connection, today: date, cap: int) -> Iterator[dict[str, Any]]:
    """The stored releases of tenders released today (South African date), up to `cap`, newest first."""
    start = datetime.combine(today, time(0), SOUTH_AFRICA)
    with conn.cursor(name="todays_unenriched") as cursor:
        cursor.execute(TODAYS_UNENRICHED_SQL, {"start": start, "end": start + timedelta(days=1), "cap": cap})
        for (raw,) in cursor:
            yield raw
