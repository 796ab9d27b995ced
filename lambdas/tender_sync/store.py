"""A run's window stored, and its job finished: the work of UpsertTenders and FinishJob for every workflow."""

import psycopg

from tender_sync import backfill, jobs
from tender_sync.artifacts import read_json_lines
from tender_sync.fetch import FetchSummary
from tender_sync.settings import SyncSettings
from tender_sync.upsert import store_quarantined, store_tenders


def store_window(conn: psycopg.Connection, settings: SyncSettings, job: jobs.Job, fetch: FetchSummary) -> dict[str, int]:
    """In one transaction: the staged tenders, the quarantine, the cursor, and the job's record (a backfill's
    window adds to its job; any other run's one window makes its job a SUCCESS). Their lookups come after, from
    the backlog (tender_sync.backlog): a window is stored whether or not they succeed."""
    counts = store_tenders(conn, settings.source_name, read_json_lines(fetch.bucket, fetch.tendersKey))
    store_quarantined(conn, settings.source_name, read_json_lines(fetch.bucket, fetch.quarantineKey))
    if job.cursorAfter:
        jobs.advance_cursor(conn, settings.source_name, job.cursorAfter)
    job_counts = jobs.counts_of(fetch.model_dump(), counts)
    if job.backfill:
        backfill.record_window(conn, settings, job, job_counts)
    else:
        jobs.record_stored_window(conn, job, job_counts)
    return counts


def finish_run(conn: psycopg.Connection, source: str, job: jobs.Job) -> jobs.FinishedJob:
    """The job SUCCESS with the counts its steps recorded, and the lease released."""
    if job.backfill:
        backfill.complete(conn, source, job)
    return jobs.finish_job(conn, source, job, None)
