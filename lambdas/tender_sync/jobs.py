"""The job log, the one-run-at-a-time lease and the cursor, in sync_state."""
from datetime import date
from typing import Any

import psycopg
from pydantic import BaseModel

from tender_sync.models import Window
from tender_sync.window import cursor_after, next_window, source_today
from tender_sync.settings import Settings

SYNC_WORKFLOW = "sync"


class Job(BaseModel):
    """What StartJob hands to the later steps."""

    jobId: int | None
    executionId: str
    skipped: bool = False
    reason: str | None = None
    window: dict[str, date] | None = None
    cursorAfter: date | None = None
    maxEnrichment: int = 300


def _take_lease(conn: psycopg.Connection, source: str, holder: str, lease_seconds: int):
    """The lease row (cursor, holder, expiry) after trying to take it; taken when holder matches."""
    conn.execute("INSERT INTO sync_state (source) VALUES (%s) ON CONFLICT DO NOTHING", (source,))
    taken = conn.execute(
        """UPDATE sync_state
              SET lease_holder = %(holder)s,
                  lease_expires_at = now() + make_interval(secs => %(secs)s),
                  updated_at = now()
            WHERE source = %(source)s
              AND (lease_holder IS NULL OR lease_holder = %(holder)s OR lease_expires_at < now())
        RETURNING cursor, lease_holder, lease_expires_at""",
        {"holder": holder, "secs": lease_seconds, "source": source},
    ).fetchone()
    if taken:
        return taken
    return conn.execute(
        "SELECT cursor, lease_holder, lease_expires_at FROM sync_state WHERE source = %s", (source,)
    ).fetchone()


def start_sync(
    conn: psycopg.Connection,
    settings: Settings,
    execution_id: str,
    triggered_by: str,
    max_enrichment: int,
    requested: Window | None,
) -> Job:
    """Take the lease, pick the window and open a RUNNING job_log row; or log SKIPPED when another run holds the lease."""
    cursor, holder, expires = _take_lease(conn, settings.source_name, execution_id, settings.lease_seconds)
    if holder != execution_id:
        reason = f"another run holds the lease: {holder} (until {expires:%Y-%m-%d %H:%M:%S %Z})"
        conn.execute(
            """INSERT INTO job_log (workflow, status, error, execution_id, triggered_by, finished_at)
               VALUES (%s, 'SKIPPED', %s, %s, %s, now())""",
            (SYNC_WORKFLOW, reason, execution_id, triggered_by),
        )
        return Job(jobId=None, executionId=execution_id, skipped=True, reason=reason)

    window = requested or next_window(
        cursor, source_today(), settings.first_run_from, settings.window_days, settings.overlap_days
    )
    (job_id,) = conn.execute(
        """INSERT INTO job_log (workflow, status, window_from, window_to, execution_id, triggered_by)
           VALUES (%s, 'RUNNING', %s, %s, %s, %s)
           ON CONFLICT (execution_id) WHERE status <> 'SKIPPED'
           DO UPDATE SET status = 'RUNNING'
           RETURNING id""",
        (SYNC_WORKFLOW, window.date_from, window.date_to, execution_id, triggered_by),
    ).fetchone()
    return Job(
        jobId=job_id,
        executionId=execution_id,
        window={"from": window.date_from, "to": window.date_to},
        cursorAfter=cursor_after(window, cursor, settings.first_run_from),
        maxEnrichment=max_enrichment,
    )


def advance_cursor(conn: psycopg.Connection, source: str, to: date) -> None:
    """Move the cursor forwards only; called in the transaction that stored the window."""
    conn.execute(
        """UPDATE sync_state SET cursor = GREATEST(COALESCE(cursor, %(to)s), %(to)s), updated_at = now()
            WHERE source = %(source)s""",
        {"to": to, "source": source},
    )


def release_lease(conn: psycopg.Connection, source: str, holder: str) -> None:
    conn.execute(
        """UPDATE sync_state SET lease_holder = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE source = %s AND lease_holder = %s""",
        (source, holder),
    )


def finish_job(conn: psycopg.Connection, source: str, job: Job, counts: dict[str, int]) -> None:
    conn.execute(
        """UPDATE job_log
              SET status = 'SUCCESS', finished_at = now(), error = NULL,
                  fetched = %(fetched)s, enriched = %(enriched)s, not_found = %(not_found)s,
                  enrichment_failed = %(enrichment_failed)s, upserted = %(upserted)s,
                  quarantined = %(quarantined)s
            WHERE id = %(id)s""",
        {**counts, "id": job.jobId},
    )
    release_lease(conn, source, job.executionId)


def fail_job(
    conn: psycopg.Connection, source: str, execution_id: str, job_id: int | None, error: str, workflow: str = SYNC_WORKFLOW
) -> None:
    """Mark the run FAILED with its error (a row is made if StartJob never made one) and free the lease."""
    updated = None
    if job_id is not None:
        updated = conn.execute(
            "UPDATE job_log SET status = 'FAILED', error = %s, finished_at = now() WHERE id = %s RETURNING id",
            (error, job_id),
        ).fetchone()
    if updated is None:
        conn.execute(
            """INSERT INTO job_log (workflow, status, error, execution_id, finished_at)
               VALUES (%s, 'FAILED', %s, %s, now())
               ON CONFLICT (execution_id) WHERE status <> 'SKIPPED'
               DO UPDATE SET status = 'FAILED', error = EXCLUDED.error, finished_at = now()""",
            (workflow, error, execution_id),
        )
    release_lease(conn, source, execution_id)


def counts_of(fetch: dict[str, Any] | None, upsert: dict[str, Any] | None) -> dict[str, int]:
    fetch, upsert = fetch or {}, upsert or {}
    return {
        "fetched": fetch.get("fetched", 0),
        "quarantined": fetch.get("quarantined", 0),
        "enriched": upsert.get("enriched", 0),
        "not_found": upsert.get("notFound", 0),
        "enrichment_failed": upsert.get("enrichmentFailed", 0),
        "upserted": upsert.get("upserted", 0),
    }
