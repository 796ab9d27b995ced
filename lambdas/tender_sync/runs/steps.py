"""The steps every workflow shares: a run's window stored (UpsertTenders), its lookups stored (StoreLookups), its
change events marked sent (RecordPublished), and its job finished (FinishJob) or failed (FailJob). Each storing
transaction records what it changed, to be announced (tender_sync.changes.outbox)."""

import psycopg

from tender_sync.changes import outbox
from tender_sync.lookups import store
from tender_sync.models.jobs import BackfillJob, FinishedJob, Job, SyncJob
from tender_sync.models.lookups import LookupPlan
from tender_sync.runs import backfill
from tender_sync.settings import SyncSettings
from tender_sync.source.staging import FetchSummary
from tender_sync.storage import cursor, job_log
from tender_sync.storage.artifacts import read_json_lines
from tender_sync.storage.tenders import store_quarantined, store_tenders


def store_window(conn: psycopg.Connection, settings: SyncSettings, job: Job, fetch: FetchSummary) -> dict[str, int]:
    """In one transaction: the staged tenders, the quarantine, the cursor, and the job's record (a backfill's
    window adds to its job; any other run's one window makes its job a SUCCESS). Their lookups come after
    (tender_sync.lookups): a window is stored whether or not they succeed."""
    stored = store_tenders(conn, settings.source_name, read_json_lines(fetch.bucket, fetch.tendersKey))
    counts = stored.counts
    store_quarantined(conn, settings.source_name, read_json_lines(fetch.bucket, fetch.quarantineKey))
    outbox.record(conn, settings.source_name, job, stored.changed)
    if isinstance(job, SyncJob) and job.cursorAfter:
        cursor.advance_cursor(conn, settings.source_name, job.cursorAfter)
    job_counts = job_log.counts_of(fetch.model_dump(), counts)
    if isinstance(job, BackfillJob) and job.window is not None:
        backfill.record_window(conn, settings, job, job.window, job_counts)
    else:
        job_log.record_stored_window(conn, job.jobId, job_counts)
    return counts


def store_lookups(
    conn: psycopg.Connection, source: str, job: Job, plan: LookupPlan, recheck_hours: int
) -> dict[str, float]:
    """In one transaction: what the lookups found, added to the job's counts, and the tenders they enriched
    recorded as the window's changes."""
    counts, enriched = store.store_results(conn, job.executionId, plan, recheck_hours)
    job_log.record_lookups(conn, job.jobId, counts)
    outbox.record(conn, source, job, dict.fromkeys(enriched, "enriched"))
    return counts


def record_published(conn: psycopg.Connection, job: Job, sent: list[str]) -> int:
    """The events EventBridge took marked sent, and the tender changes they announced added to the job's counts."""
    published = outbox.mark_sent(conn, job.executionId, sent)
    job_log.add_counts(conn, job.jobId, {"changes_published": published})
    return published


def finish_run(conn: psycopg.Connection, source: str, job: Job) -> FinishedJob:
    """The job SUCCESS with the counts its steps recorded and the events still unsent (late), and the lease
    released."""
    if isinstance(job, BackfillJob):
        backfill.complete(conn, source, job)
    late = outbox.late(conn, source, job.executionId, job.jobId)
    return job_log.finish_job(conn, source, job.jobId, job.executionId, {"events_late": late})


def fail_run(
    conn: psycopg.Connection, source: str, execution_id: str, job_id: int | None, error: str, workflow: str
) -> FinishedJob | None:
    """The job FAILED with its error, and the lease freed; a job whose window was stored stays SUCCESS, finished
    with its unsent events counted late (its announcement may never have been tried)."""
    late = None
    if job_id is not None:
        late = outbox.late(conn, source, execution_id, job_id)
    return job_log.fail_job(conn, source, execution_id, job_id, error, workflow, {"events_late": late})
