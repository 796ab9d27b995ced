"""The job log, the one-run-at-a-time lease and the cursor, in sync_state."""
from datetime import date
from typing import Any

import psycopg
from pydantic import BaseModel

from tender_sync.artifacts import run_prefix
from tender_sync.models import BackfillPlan, Window
from tender_sync.settings import SyncSettings
from tender_sync.window import cursor_after, next_window, source_today
from tender_sync.workflows import SINGLE_TENDER, SYNC

# The counts a finished job stores, and FinishJob emits as metrics.
COUNTS = (
    "fetched", "enriched", "not_found", "enrichment_failed", "upserted", "quarantined", "lookups", "throttled",
    "changes_published", "events_late",
)
# What the lookups add to a job's counts.
LOOKUP_COUNTS = ("enriched", "not_found", "enrichment_failed", "lookups", "throttled")


class Job(BaseModel):
    """What a workflow's first step hands to the later steps."""

    jobId: int | None
    executionId: str
    workflow: str = SYNC.name
    skipped: bool = False
    reason: str | None = None
    window: Window | None = None
    cursorAfter: date | None = None
    maxEnrichment: int = 0
    ocid: str | None = None  # single-tender
    backfill: BackfillPlan | None = None
    # Where its lookups are chosen from, when not the whole backlog: enrich-today's day.
    lookupsWithin: Window | None = None

    @property
    def artifacts_prefix(self) -> str:
        """Where the run's artifacts go in S3. A backfill keeps each window apart, so the enrichment results of
        one window are never read as another's."""
        if self.backfill and self.window:
            return f"{run_prefix(self.executionId)}{self.window.date_from.isoformat()}/"
        return run_prefix(self.executionId)


class FinishedJob(BaseModel):
    """A job's stored counts and how long it ran."""

    counts: dict[str, int]
    seconds: float


def _take_lease(conn: psycopg.Connection, source: str, holder: str, lease_seconds: int):
    """The lease row (cursor, holder, expiry) after trying to take it; taken when holder matches.

    A lease past its expiry is taken over: its holder crashed or was stopped without FailJob, so its
    job_log row, if still RUNNING, becomes FAILED saying so.
    """
    conn.execute("INSERT INTO sync_state (source) VALUES (%s) ON CONFLICT DO NOTHING", (source,))
    taken = conn.execute(
        """WITH previous AS (SELECT lease_holder FROM sync_state WHERE source = %(source)s FOR UPDATE)
           UPDATE sync_state
              SET lease_holder = %(holder)s,
                  lease_expires_at = now() + make_interval(secs => %(secs)s),
                  updated_at = now()
             FROM previous
            WHERE source = %(source)s
              AND (sync_state.lease_holder IS NULL OR sync_state.lease_holder = %(holder)s
                   OR lease_expires_at < now())
        RETURNING cursor, sync_state.lease_holder, lease_expires_at, previous.lease_holder""",
        {"holder": holder, "secs": lease_seconds, "source": source},
    ).fetchone()
    if taken:
        cursor, holder_now, expires, previous_holder = taken
        if previous_holder not in (None, holder):
            conn.execute(
                """UPDATE job_log SET status = 'FAILED', finished_at = now(),
                          error = 'its lease expired and was taken over by ' || %s
                    WHERE execution_id = %s AND status = 'RUNNING'""",
                (holder, previous_holder),
            )
        return cursor, holder_now, expires
    return conn.execute(
        "SELECT cursor, lease_holder, lease_expires_at FROM sync_state WHERE source = %s", (source,)
    ).fetchone()


def start_sync(
    conn: psycopg.Connection,
    settings: SyncSettings,
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
            (SYNC.name, reason, execution_id, triggered_by),
        )
        return Job(jobId=None, executionId=execution_id, skipped=True, reason=reason)

    window = requested or next_window(
        cursor, source_today(), settings.first_run_from, settings.window_days, settings.overlap_days
    )
    job_id = open_job(conn, SYNC.name, execution_id, triggered_by, window)
    return Job(
        jobId=job_id,
        executionId=execution_id,
        window=window,
        cursorAfter=cursor_after(window, cursor, settings.first_run_from),
        maxEnrichment=max_enrichment,
    )


def start_single_tender(conn: psycopg.Connection, execution_id: str, ocid: str) -> Job:
    """The job for one ocid: no window, no lease, and its one tender looked up if it needs it."""
    job_id = open_job(conn, SINGLE_TENDER.name, execution_id, "manual", None)
    return Job(jobId=job_id, executionId=execution_id, workflow=SINGLE_TENDER.name, ocid=ocid, maxEnrichment=1)


def open_job(
    conn: psycopg.Connection, workflow: str, execution_id: str, triggered_by: str, window: Window | None
) -> int:
    """The execution's RUNNING job_log row (the same row again when a step is retried)."""
    (job_id,) = conn.execute(
        """INSERT INTO job_log (workflow, status, window_from, window_to, execution_id, triggered_by)
           VALUES (%s, 'RUNNING', %s, %s, %s, %s)
           ON CONFLICT (execution_id) WHERE status <> 'SKIPPED'
           DO UPDATE SET status = 'RUNNING'
           RETURNING id""",
        (
            workflow,
            window.date_from if window else None,
            window.date_to if window else None,
            execution_id,
            triggered_by,
        ),
    ).fetchone()
    return job_id


def move_cursor(conn: psycopg.Connection, settings: SyncSettings, window: Window) -> date | None:
    """Move the cursor past a window just stored, by the cursor rule (window.cursor_after) applied to the cursor
    as it is now, in the storing transaction. For runs that hold no lease (a backfill): returns the new cursor."""
    conn.execute("INSERT INTO sync_state (source) VALUES (%s) ON CONFLICT DO NOTHING", (settings.source_name,))
    (cursor,) = conn.execute(
        "SELECT cursor FROM sync_state WHERE source = %s FOR UPDATE", (settings.source_name,)
    ).fetchone()
    moved_to = cursor_after(window, cursor, settings.first_run_from)
    if moved_to:
        advance_cursor(conn, settings.source_name, moved_to)
    return moved_to


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


def finish_job(conn: psycopg.Connection, source: str, job: Job, counts: dict[str, int] | None) -> FinishedJob:
    """job_log SUCCESS with the counts (None: keep those the row holds, as a backfill adds them up), lease released."""
    counts = {**dict.fromkeys(COUNTS), **(counts or {})}
    row = conn.execute(
        f"""UPDATE job_log
              SET status = 'SUCCESS', finished_at = now(), error = NULL,
                  {", ".join(f"{name} = COALESCE(%({name})s, {name}, 0)" for name in COUNTS)}
            WHERE id = %(id)s
        RETURNING {", ".join(COUNTS)}, extract(epoch FROM finished_at - started_at)""",
        {**counts, "id": job.jobId},
    ).fetchone()
    release_lease(conn, source, job.executionId)
    return FinishedJob(counts=dict(zip(COUNTS, row[:-1])), seconds=float(row[-1]))


def record_stored_window(conn: psycopg.Connection, job: Job, counts: dict[str, int]) -> None:
    """The job SUCCESS with its counts, in the transaction that stores its one window: whatever fails after, the
    stored window stays a success (FinishJob then only adds its duration and frees the lease)."""
    conn.execute(
        f"""UPDATE job_log SET status = 'SUCCESS', finished_at = now(), error = NULL,
                  {", ".join(f"{name} = %({name})s" for name in COUNTS)}
             WHERE id = %(id)s""",
        {**counts, "id": job.jobId},
    )


def record_lookups(conn: psycopg.Connection, job: Job, counts: dict[str, float]) -> None:
    """What the run's lookups found, added to the job's counts, with the rate they were made at."""
    add_counts(conn, job.jobId, {name: counts[name] for name in LOOKUP_COUNTS})
    conn.execute(
        "UPDATE job_log SET lookups_per_second = %s WHERE id = %s", (counts["lookups_per_second"], job.jobId)
    )


def add_counts(conn: psycopg.Connection, job_id: int, counts: dict[str, int]) -> None:
    """Add counts (a backfill window's, or a run's lookups': any of COUNTS) to the job's."""
    names = [name for name in COUNTS if name in counts]
    conn.execute(
        f"""UPDATE job_log SET {", ".join(f"{name} = COALESCE({name}, 0) + %({name})s" for name in names)}
             WHERE id = %(id)s""",
        {**counts, "id": job_id},
    )


def fail_job(
    conn: psycopg.Connection, source: str, execution_id: str, job_id: int | None, error: str, workflow: str,
    counts_if_stored: dict[str, int] | None = None,
) -> FinishedJob | None:
    """Mark the run FAILED with its error (a row is made if StartJob never made one) and free the lease.

    A job already SUCCESS (its window was stored, and a later step failed) is never overwritten: it is
    returned, finished (with counts_if_stored), for its metrics."""
    updated = None
    if job_id is not None:
        status = conn.execute("SELECT status FROM job_log WHERE id = %s FOR UPDATE", (job_id,)).fetchone()
        if status == ("SUCCESS",):
            job = Job(jobId=job_id, executionId=execution_id, workflow=workflow)
            return finish_job(conn, source, job, counts_if_stored)
        updated = conn.execute(
            "UPDATE job_log SET status = 'FAILED', error = %s, finished_at = now() WHERE id = %s RETURNING id",
            (error, job_id),
        ).fetchone()
    if updated is None:
        conn.execute(
            """INSERT INTO job_log (workflow, status, error, execution_id, finished_at)
               VALUES (%s, 'FAILED', %s, %s, now())
               ON CONFLICT (execution_id) WHERE status <> 'SKIPPED'
               DO UPDATE SET status = 'FAILED', error = EXCLUDED.error, finished_at = now()
               WHERE job_log.status <> 'SUCCESS'""",
            (workflow, error, execution_id),
        )
    release_lease(conn, source, execution_id)
    return None


def counts_of(fetch: dict[str, Any] | None, upsert: dict[str, Any] | None) -> dict[str, int]:
    fetch, upsert = fetch or {}, upsert or {}
    return {
        "fetched": fetch.get("fetched", 0),
        # Refused by normalization, and (rarely) by PostgreSQL itself in the upsert.
        "quarantined": fetch.get("quarantined", 0) + upsert.get("quarantined", 0),
        # The window's tenders whose releases carry their category; the lookups add theirs (record_lookups).
        "enriched": upsert.get("enriched", 0),
        "upserted": upsert.get("upserted", 0),
        "not_found": 0,
        "enrichment_failed": 0,
        "lookups": 0,
        "throttled": 0,
        "changes_published": 0,
        "events_late": 0,
    }
