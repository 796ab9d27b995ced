"""A run's window stored, its lookups stored, and its job finished or failed: the work of UpsertTenders,
StoreLookups, FinishJob and FailJob for every workflow. Each storing transaction records what it changed, to be
announced (tender_sync.changes)."""

import psycopg

from tender_sync import backfill, backlog, changes, jobs
from tender_sync.artifacts import read_json_lines
from tender_sync.fetch import FetchSummary
from tender_sync.models import LookupPlan
from tender_sync.settings import SyncSettings
from tender_sync.upsert import store_quarantined, store_tenders


def store_window(conn: psycopg.Connection, settings: SyncSettings, job: jobs.Job, fetch: FetchSummary) -> dict[str, int]:
    """In one transaction: the staged tenders, the quarantine, the cursor, and the job's record (a backfill's
    window adds to its job; any other run's one window makes its job a SUCCESS). Their lookups come after, from
    the backlog (tender_sync.backlog): a window is stored whether or not they succeed."""
    stored = store_tenders(conn, settings.source_name, read_json_lines(fetch.bucket, fetch.tendersKey))
    counts = stored.counts
    store_quarantined(conn, settings.source_name, read_json_lines(fetch.bucket, fetch.quarantineKey))
    changes.record(conn, settings.source_name, job, stored.changed)
    if job.cursorAfter:
        jobs.advance_cursor(conn, settings.source_name, job.cursorAfter)
    job_counts = jobs.counts_of(fetch.model_dump(), counts)
    if job.backfill:
        backfill.record_window(conn, settings, job, job_counts)
    else:
        jobs.record_stored_window(conn, job, job_counts)
    return counts


def store_lookups(
    conn: psycopg.Connection, source: str, job: jobs.Job, plan: LookupPlan, recheck_hours: int
) -> dict[str, float]:
    """In one transaction: what the lookups found, added to the job's counts, and the tenders they enriched
    recorded as the window's changes."""
    counts, enriched = backlog.store_results(conn, plan, recheck_hours)
    jobs.record_lookups(conn, job, counts)
    changes.record(conn, source, job, dict.fromkeys(enriched, "enriched"))
    return counts


def record_published(conn: psycopg.Connection, job: jobs.Job, sent: list[str]) -> int:
    """The events EventBridge took marked sent, and the tender changes they announced added to the job's counts."""
    published = changes.mark_sent(conn, job.executionId, sent)
    jobs.add_counts(conn, job.jobId, {"changes_published": published})
    return published


def finish_run(conn: psycopg.Connection, source: str, job: jobs.Job) -> jobs.FinishedJob:
    """The job SUCCESS with the counts its steps recorded and the events still unsent (late), and the lease
    released."""
    if job.backfill:
        backfill.complete(conn, source, job)
    return jobs.finish_job(conn, source, job, {"events_late": changes.late(conn, source, job)})


def fail_run(
    conn: psycopg.Connection, source: str, execution_id: str, job_id: int | None, error: str, workflow: str
) -> jobs.FinishedJob | None:
    """The job FAILED with its error, and the lease freed; a job whose window was stored stays SUCCESS, finished
    with its unsent events counted late (its announcement may never have been tried)."""
    late = None
    if job_id is not None:
        late = changes.late(conn, source, jobs.Job(jobId=job_id, executionId=execution_id, workflow=workflow))
    return jobs.fail_job(conn, source, execution_id, job_id, error, workflow, {"events_late": late})
