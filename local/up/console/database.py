"""What the console shows from the database: job_log, the cursor and lease, backfill progress, the quarantine and
the tenders' enrichment. Each column is named: never a release's payload, tenders' details or raw (they hold the
contact fields, personal data)."""

from dataclasses import dataclass
from typing import Any

import psycopg

from tender_sync.storage.database import connection_string

# The console's panels: title, and the query (named columns only).
PANELS = {
    "job_log": """
        SELECT id, workflow, status, window_from, window_to, fetched, enriched, not_found, enrichment_failed,
               lookups, throttled, upserted, quarantined, triggered_by, started_at, finished_at, error, execution_id
          FROM job_log ORDER BY id DESC LIMIT 20""",
    "cursor and lease": "SELECT source, cursor, lease_holder, lease_expires_at, updated_at FROM sync_state ORDER BY source",
    "backfill progress": """
        SELECT source, range_from, range_to, window_days, done_to,
               round(100.0 * (done_to - range_from) / nullif(range_to - range_from, 0)) AS percent_done,
               completed_at, execution_id
          FROM backfill_progress ORDER BY updated_at DESC LIMIT 20""",
    "quarantine": """
        SELECT source, ocid, reason, seen_count, first_seen_at, last_seen_at
          FROM quarantine ORDER BY last_seen_at DESC LIMIT 20""",
    "tenders by enrichment": """
        SELECT enrichment_status, count(*) AS tenders, min(enrichment_due_at) AS next_lookup_due
          FROM tenders GROUP BY enrichment_status ORDER BY enrichment_status""",
}


@dataclass
class Panel:
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


def panels(database_url: str) -> list[Panel] | None:
    """Each panel's rows; None before any workflow has made the tables."""
    with psycopg.connect(connection_string(database_url)) as conn:
        if conn.execute("SELECT to_regclass('job_log')").fetchone() == (None,):
            return None
        result = []
        for title, sql in PANELS.items():
            cursor = conn.execute(sql)
            result.append(Panel(title, [column.name for column in cursor.description or ()], cursor.fetchall()))
        return result


def triggers(database_url: str, execution_arns: list[str]) -> dict[str, str]:
    """Who started each execution, as its job_log row says."""
    with psycopg.connect(connection_string(database_url)) as conn:
        if conn.execute("SELECT to_regclass('job_log')").fetchone() == (None,):
            return {}
        rows = conn.execute(
            "SELECT execution_id, triggered_by FROM job_log WHERE execution_id = ANY(%s)", (execution_arns,)
        ).fetchall()
    return dict(rows)
