"""A backfill: a date range worked through window by window, each stored as a sync stores its window.

It holds no lease: storing is idempotent and a newer release always wins, so it may run beside the sync. The
cursor moves by the sync's own rule, applied when each window is stored (cursor.move_cursor): never backwards,
never past a gap. Progress is kept per plan in backfill_progress, so a rerun resumes at the first window
not yet stored."""

from datetime import date, timedelta

import psycopg

from tender_sync.models.inputs import BackfillRequest
from tender_sync.models.jobs import BackfillJob, BackfillPlan, Window
from tender_sync.settings import SyncSettings
from tender_sync.storage import cursor, job_log
from tender_sync.storage.database import one_row
from tender_sync.workflows import BACKFILL


def start(conn: psycopg.Connection, settings: SyncSettings, execution_id: str, request: BackfillRequest) -> BackfillJob:
    """Open the job and claim the plan's progress: resumed where a run that did not complete left it, else afresh."""
    plan = BackfillPlan(rangeFrom=request.date_from, rangeTo=request.date_to, windowDays=request.windowDays)
    job_id = job_log.open_job(
        conn, BACKFILL.name, execution_id, "manual", Window(date_from=plan.rangeFrom, date_to=plan.rangeTo)
    )
    (done_to,) = one_row(
        conn.execute(
            """INSERT INTO backfill_progress (source, range_from, range_to, window_days, done_to, execution_id)
           VALUES (%(source)s, %(from)s, %(to)s, %(days)s, %(from)s, %(execution)s)
           ON CONFLICT (source, range_from, range_to, window_days) DO UPDATE
              SET done_to = CASE WHEN backfill_progress.completed_at IS NULL
                                 THEN backfill_progress.done_to ELSE EXCLUDED.done_to END,
                  completed_at = NULL, execution_id = EXCLUDED.execution_id, updated_at = now()
        RETURNING done_to""",
            {
                "source": settings.source_name,
                "from": plan.rangeFrom,
                "to": plan.rangeTo,
                "days": plan.windowDays,
                "execution": execution_id,
            },
        )
    )
    return BackfillJob(
        jobId=job_id,
        executionId=execution_id,
        window=window_from(plan, done_to),
        maxEnrichment=request.maxEnrichment,
        backfill=plan,
    )


def window_from(plan: BackfillPlan, start: date) -> Window | None:
    """The plan's window that starts at `start`, or None when the plan is done."""
    if start >= plan.rangeTo:
        return None
    return Window(date_from=start, date_to=min(start + timedelta(days=plan.windowDays), plan.rangeTo))


def next_window(job: BackfillJob) -> BackfillJob:
    """The job moved on to the window after its current one (window None: no windows left)."""
    if job.window is None:
        return job
    return job.model_copy(update={"window": window_from(job.backfill, job.window.date_to)})


def record_window(
    conn: psycopg.Connection, settings: SyncSettings, job: BackfillJob, window: Window, counts: dict[str, int]
) -> None:
    """In the transaction that stored the window: the cursor by its rule, the plan's progress, the job's counts."""
    cursor.move_cursor(conn, settings, window)
    plan = job.backfill
    conn.execute(
        """UPDATE backfill_progress SET done_to = GREATEST(done_to, %s), updated_at = now()
            WHERE source = %s AND range_from = %s AND range_to = %s AND window_days = %s""",
        (window.date_to, settings.source_name, plan.rangeFrom, plan.rangeTo, plan.windowDays),
    )
    job_log.add_counts(conn, job.jobId, counts)


def complete(conn: psycopg.Connection, source: str, job: BackfillJob) -> None:
    """Every window stored: the next backfill of the same plan starts afresh."""
    plan = job.backfill
    conn.execute(
        """UPDATE backfill_progress SET completed_at = now(), updated_at = now()
            WHERE source = %s AND range_from = %s AND range_to = %s AND window_days = %s""",
        (source, plan.rangeFrom, plan.rangeTo, plan.windowDays),
    )
