"""The job log: one job_log row per run, opened by its first step, added to by its steps, finished or failed."""

from collections.abc import Mapping
from typing import Any

import psycopg

from tender_sync.app_events.events import trigger
from tender_sync.models.jobs import FinishedJob, Window
from tender_sync.storage.cursor import release_lease
from tender_sync.storage.database import one_row

# The counts a finished job stores, and FinishJob emits as metrics.
COUNTS = (
    "fetched",
    "enriched",
    "not_found",
    "enrichment_failed",
    "upserted",
    "quarantined",
    "lookups",
    "throttled",
    "changes_published",
    "events_late",
)
# What the lookups add to a job's counts.
LOOKUP_COUNTS = ("enriched", "not_found", "enrichment_failed", "lookups", "throttled")


def open_job(
    conn: psycopg.Connection, workflow: str, execution_id: str, triggered_by: str, window: Window | None
) -> int:
    """The execution's RUNNING job_log row (the same row again when a step is retried). An execution the app's events
    started records so in its trigger (tender_sync.app_events.events.trigger)."""
    triggered_by = trigger(workflow, execution_id, triggered_by)
    (job_id,) = one_row(
        conn.execute(
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
        )
    )
    return int(job_id)


def finish_job(
    conn: psycopg.Connection,
    source: str,
    job_id: int | None,
    execution_id: str,
    counts: Mapping[str, int | None] | None,
) -> FinishedJob:
    """job_log SUCCESS with the counts (None: keep those the row holds, as a backfill adds them up), lease released."""
    values: dict[str, int | None] = {**dict.fromkeys(COUNTS), **(counts or {})}
    row = one_row(
        conn.execute(
            f"""UPDATE job_log
              SET status = 'SUCCESS', finished_at = now(), error = NULL,
                  {", ".join(f"{name} = COALESCE(%({name})s, {name}, 0)" for name in COUNTS)}
            WHERE id = %(id)s
        RETURNING {", ".join(COUNTS)}, extract(epoch FROM finished_at - started_at)""",
            {**values, "id": job_id},
        )
    )
    release_lease(conn, source, execution_id)
    return FinishedJob(counts=dict(zip(COUNTS, row[:-1], strict=True)), seconds=float(row[-1]))


def record_stored_window(conn: psycopg.Connection, job_id: int | None, counts: dict[str, int]) -> None:
    """The job SUCCESS with its counts, in the transaction that stores its one window: whatever fails after, the
    stored window stays a success (FinishJob then only adds its duration and frees the lease)."""
    conn.execute(
        f"""UPDATE job_log SET status = 'SUCCESS', finished_at = now(), error = NULL,
                  {", ".join(f"{name} = %({name})s" for name in COUNTS)}
             WHERE id = %(id)s""",
        {**counts, "id": job_id},
    )


def record_lookups(conn: psycopg.Connection, job_id: int | None, counts: dict[str, float]) -> None:
    """What the run's lookups found, added to the job's counts, with the rate they were made at."""
    add_counts(conn, job_id, {name: counts[name] for name in LOOKUP_COUNTS})
    conn.execute("UPDATE job_log SET lookups_per_second = %s WHERE id = %s", (counts["lookups_per_second"], job_id))


def add_counts(conn: psycopg.Connection, job_id: int | None, counts: Mapping[str, float]) -> None:
    """Add counts (a backfill window's, or a run's lookups': any of COUNTS) to the job's."""
    names = [name for name in COUNTS if name in counts]
    conn.execute(
        f"""UPDATE job_log SET {", ".join(f"{name} = COALESCE({name}, 0) + %({name})s" for name in names)}
             WHERE id = %(id)s""",
        {**counts, "id": job_id},
    )


def fail_job(
    conn: psycopg.Connection,
    source: str,
    execution_id: str,
    job_id: int | None,
    error: str,
    workflow: str,
    counts_if_stored: Mapping[str, int | None] | None = None,
) -> FinishedJob | None:
    """Mark the run FAILED with its error (a row is made if StartJob never made one) and free the lease.

    A job already SUCCESS (its window was stored, and a later step failed) is never overwritten: it is
    returned, finished (with counts_if_stored), for its metrics."""
    updated = None
    if job_id is not None:
        status = conn.execute("SELECT status FROM job_log WHERE id = %s FOR UPDATE", (job_id,)).fetchone()
        if status == ("SUCCESS",):
            return finish_job(conn, source, job_id, execution_id, counts_if_stored)
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
