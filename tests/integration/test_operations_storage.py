"""The operators' workflows against a real PostgreSQL: backfill progress, cleanup, and the job log's counts."""

from datetime import date

import psycopg
import pytest

from tender_sync.models.inputs import BackfillRequest
from tender_sync.models.jobs import BackfillJob, BackfillPlan, Window
from tender_sync.runs import backfill
from tender_sync.runs.cleanup import clean_up
from tender_sync.storage import job_log
from tender_sync.workflows import BACKFILL, SYNC
from tests.helpers import INPUT_DEFAULTS
from tests.helpers.database import SETTINGS

# backfill


def request(start: str, end: str, window_days: int = 7) -> BackfillRequest:
    return BackfillRequest.model_validate({"from": start, "to": end, "windowDays": window_days}, context=INPUT_DEFAULTS)


def store_window(database_url: str, job: BackfillJob, counts: dict[str, int] | None = None) -> BackfillJob:
    assert job.window is not None
    with psycopg.connect(database_url) as conn:
        backfill.record_window(conn, SETTINGS, job, job.window, counts or dict.fromkeys(job_log.COUNTS, 1))
    return backfill.next_window(job)


def test_a_backfill_resumes_where_a_run_that_did_not_complete_stopped(database_url):
    with psycopg.connect(database_url) as conn:
        first = backfill.start(conn, SETTINGS, "exec-1", request("2025-09-01", "2025-09-20"))
    assert first.window == Window(date_from=date(2025, 9, 1), date_to=date(2025, 9, 8))
    second = store_window(database_url, first)
    assert second.window == Window(date_from=date(2025, 9, 8), date_to=date(2025, 9, 15))

    with psycopg.connect(database_url) as conn:
        resumed = backfill.start(conn, SETTINGS, "exec-2", request("2025-09-01", "2025-09-20"))
        other_plan = backfill.start(conn, SETTINGS, "exec-3", request("2025-09-01", "2025-09-20", window_days=3))
    assert resumed.window == second.window
    assert other_plan.window == Window(date_from=date(2025, 9, 1), date_to=date(2025, 9, 4))

    last = store_window(database_url, store_window(database_url, resumed))
    assert last.window is None
    with psycopg.connect(database_url) as conn:
        backfill.complete(conn, SETTINGS.source_name, last)
        finished = job_log.finish_job(conn, SETTINGS.source_name, last.jobId, last.executionId, None)
        again = backfill.start(conn, SETTINGS, "exec-4", request("2025-09-01", "2025-09-20"))
    # The job's counts are its own windows' (two), kept by finish_job; a completed plan starts afresh.
    assert finished.counts == dict.fromkeys(job_log.COUNTS, 2)
    assert again.window == first.window


def test_backfill_windows_end_at_the_range_end():
    plan = BackfillPlan(rangeFrom=date(2025, 9, 1), rangeTo=date(2025, 9, 10), windowDays=7)
    assert backfill.window_from(plan, date(2025, 9, 8)) == Window(date_from=date(2025, 9, 8), date_to=date(2025, 9, 10))
    assert backfill.window_from(plan, date(2025, 9, 10)) is None


# cleanup


def test_cleanup_fails_the_jobs_and_frees_the_leases_of_executions_no_longer_running(database_url):
    statuses = {"aborted": "ABORTED", "timed-out": "TIMED_OUT", "running": "RUNNING", "forgotten": None}

    def status_of(execution_id: str) -> str | None:
        if execution_id not in statuses:
            raise PermissionError(f"not allowed to describe {execution_id}")
        return statuses[execution_id]

    with psycopg.connect(database_url) as conn:
        for execution_id in (*statuses, "another-stacks"):
            job_log.open_job(conn, SYNC.name, execution_id, "test", None)
        conn.execute(
            "INSERT INTO sync_state (source, lease_holder, lease_expires_at) VALUES ('a', 'aborted', now() + interval '1 hour'),"
            " ('b', 'running', now() + interval '1 hour')"
        )
        result = clean_up(conn, status_of)
        jobs_now: dict[str, str] = dict(conn.execute("SELECT execution_id, status FROM job_log").fetchall())
        errors: dict[str, str] = dict(
            conn.execute("SELECT execution_id, error FROM job_log WHERE status = 'FAILED'").fetchall()
        )
        leases: dict[str, str | None] = dict(conn.execute("SELECT source, lease_holder FROM sync_state").fetchall())

    assert sorted(result.jobsFailed) == ["aborted", "forgotten", "timed-out"]
    assert result.leasesFreed == ["aborted"]
    assert jobs_now == {
        "aborted": "FAILED",
        "timed-out": "FAILED",
        "forgotten": "FAILED",
        "running": "RUNNING",
        "another-stacks": "RUNNING",
    }
    assert errors["timed-out"] == "cleanup: its execution ended TIMED_OUT without finishing the job"
    assert leases == {"a": None, "b": "running"}


@pytest.mark.parametrize(
    "counts",
    [
        None,
        {
            "fetched": 3,
            "enriched": 2,
            "not_found": 0,
            "enrichment_failed": 1,
            "upserted": 3,
            "quarantined": 0,
            "lookups": 3,
            "throttled": 0,
            "changes_published": 3,
            "events_late": 0,
        },
    ],
)
def test_finish_job_stores_the_counts_or_keeps_those_added_up(database_url, counts):
    with psycopg.connect(database_url) as conn:
        job_id = job_log.open_job(conn, BACKFILL.name, "exec-1", "test", None)
        job_log.add_counts(conn, job_id, dict.fromkeys(job_log.COUNTS, 5))
        finished = job_log.finish_job(conn, SETTINGS.source_name, job_id, "exec-1", counts)
    assert finished.counts == (counts or dict.fromkeys(job_log.COUNTS, 5))
    assert finished.seconds >= 0
