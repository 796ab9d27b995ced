"""The sync: the window after the cursor, stored by one run at a time (the lease)."""

import psycopg

from tender_sync.models.jobs import SyncJob, Window
from tender_sync.settings import SyncSettings
from tender_sync.storage.cursor import cursor_after, next_window, source_today, take_lease
from tender_sync.storage.database import NOT_CONFIGURED
from tender_sync.storage.job_log import open_job
from tender_sync.workflows import SYNC


def not_configured(execution_id: str) -> SyncJob:
    """The sync's job when there is no database yet: skipped, saying why (no job_log row: there is no database)."""
    return SyncJob(jobId=None, executionId=execution_id, skipped=True, reason=NOT_CONFIGURED)


def start_sync(
    conn: psycopg.Connection,
    settings: SyncSettings,
    execution_id: str,
    triggered_by: str,
    max_enrichment: int,
    requested: Window | None,
) -> SyncJob:
    """Take the lease, pick the window and open a RUNNING job_log row; or log SKIPPED when another run holds the lease."""
    cursor, holder, expires = take_lease(conn, settings.source_name, execution_id, settings.lease_seconds)
    if holder != execution_id:
        reason = f"another run holds the lease: {holder} (until {expires:%Y-%m-%d %H:%M:%S %Z})"
        conn.execute(
            """INSERT INTO job_log (workflow, status, error, execution_id, triggered_by, finished_at)
               VALUES (%s, 'SKIPPED', %s, %s, %s, now())""",
            (SYNC.name, reason, execution_id, triggered_by),
        )
        return SyncJob(jobId=None, executionId=execution_id, skipped=True, reason=reason)

    window = requested or next_window(
        cursor, source_today(), settings.first_run_from, settings.window_days, settings.overlap_days
    )
    job_id = open_job(conn, SYNC.name, execution_id, triggered_by, window)
    return SyncJob(
        jobId=job_id,
        executionId=execution_id,
        window=window,
        cursorAfter=cursor_after(window, cursor, settings.first_run_from),
        maxEnrichment=max_enrichment,
    )
