"""What the console shows from the database: job_log, the cursor and lease, backfill progress, the quarantine, the
tenders' enrichment and the alert subscriptions. Each column is named: never a release's payload, tenders' details
or raw (they hold the contact fields, personal data), nor a subscription's address or signing secret. A panel whose
table this database does not have is left out; one whose query fails says why, and the others still show."""

from dataclasses import dataclass
from typing import Any

import psycopg

from tender_sync.storage.database import connect, describe_database_error

# The console's panels: title, the table it reads (it shows when the database has it), and the query.
PANELS = [
    (
        "job_log",
        "job_log",
        """SELECT id, workflow, status, window_from, window_to, fetched, enriched, not_found, enrichment_failed,
                  lookups, throttled, upserted, quarantined, triggered_by, started_at, finished_at, error, execution_id
             FROM job_log ORDER BY id DESC LIMIT 20""",
    ),
    (
        "cursor and lease",
        "sync_state",
        "SELECT source, cursor, lease_holder, lease_expires_at, updated_at FROM sync_state ORDER BY source",
    ),
    (
        "backfill progress",
        "backfill_progress",
        """SELECT source, range_from, range_to, window_days, done_to,
                  round(100.0 * (done_to - range_from) / nullif(range_to - range_from, 0)) AS percent_done,
                  completed_at, execution_id
             FROM backfill_progress ORDER BY updated_at DESC LIMIT 20""",
    ),
    (
        "quarantine",
        "quarantine",
        """SELECT source, ocid, reason, seen_count, first_seen_at, last_seen_at
             FROM quarantine ORDER BY last_seen_at DESC LIMIT 20""",
    ),
    (
        "tenders by enrichment",
        "tenders",
        """SELECT enrichment_status, count(*) AS tenders, min(enrichment_due_at) AS next_lookup_due
             FROM tenders GROUP BY enrichment_status ORDER BY enrichment_status""",
    ),
    (
        "alert subscriptions",
        "alert_subscriptions",
        """SELECT id, channel, frequency, updates, categories, provinces, buyers, query, min_value, paused_at,
                  paused_reason, created_at
             FROM alert_subscriptions ORDER BY id DESC LIMIT 20""",
    ),
]


@dataclass
class Panel:
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    error: str | None = None


def panels(database_url: str) -> list[Panel]:
    """Each panel of a table the database has (none before any migration)."""
    result = []
    with connect(database_url) as conn:
        for title, table, sql in PANELS:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                continue
            try:
                with conn.transaction():
                    cursor = conn.execute(sql)
                    columns = [column.name for column in cursor.description or ()]
                    result.append(Panel(title, columns, cursor.fetchall()))
            except psycopg.Error as error:
                result.append(Panel(title, [], [], describe_database_error(error)))
    return result


def triggers(database_url: str, execution_arns: list[str]) -> dict[str, str]:
    """Who started each execution, as its job_log row says."""
    with connect(database_url) as conn:
        if conn.execute("SELECT to_regclass('job_log')").fetchone() == (None,):
            return {}
        rows = conn.execute(
            "SELECT execution_id, triggered_by FROM job_log WHERE execution_id = ANY(%s)", (execution_arns,)
        ).fetchall()
    return {arn: str(trigger) for arn, trigger in rows if trigger}
