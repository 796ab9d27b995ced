"""Migrations, the upsert and the job log against a real PostgreSQL."""

from datetime import date

import psycopg
import pytest

from tender_sync.models.jobs import Window
from tender_sync.runs import sync
from tender_sync.storage import cursor, job_log, migrations
from tender_sync.storage.tenders import store_quarantined
from tests.helpers.database import SETTINGS, query, rows, store, tender


def test_migrations_apply_once_in_order_and_are_recorded(empty_database_url):
    with psycopg.connect(empty_database_url) as conn:
        assert migrations.migrate(conn) == migrations.versions()
        assert migrations.migrate(conn) == []
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert {"tenders", "job_log", "sync_state", "quarantine", "backfill_progress", "schema_migrations"} <= tables
    assert versions == migrations.versions()
    assert versions[:5] == [
        "001_tables",
        "002_backfill_progress",
        "003_enrichment_backlog",
        "004_change_events",
        "005_lookup_claims",
    ]


def test_tenders_has_the_columns_other_tools_read(database_url):
    with psycopg.connect(database_url) as conn:
        columns = {
            r[0]
            for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'tenders'")
        }
    assert {
        "ocid",
        "release_id",
        "release_date",
        "title",
        "description",
        "status",
        "main_category",
        "detailed_category",
        "province",
        "buyer_name",
        "close_date",
        "value_amount",
        "currency",
        "enrichment_status",
        "enriched_at",
        "raw",
        "created_at",
        "updated_at",
    } <= columns


def test_upsert_inserts_then_leaves_an_identical_window_untouched(database_url):
    counts = store(database_url, [tender("a"), tender("b")])
    assert (counts["inserted"], counts["updated"], counts["unchanged"]) == (2, 0, 0)
    before = rows(database_url)

    counts = store(database_url, [tender("a"), tender("b")])
    assert (counts["inserted"], counts["updated"], counts["unchanged"]) == (0, 0, 2)
    assert rows(database_url) == before  # updated_at included


def test_newer_release_replaces_older_and_older_never_overwrites_newer(database_url):
    store(database_url, [tender("a", day="2025-09-05", title="new")])
    counts = store(database_url, [tender("a", day="2025-09-01", title="old")])
    assert counts["unchanged"] == 1
    assert rows(database_url)[0]["title"] == "new"

    store(database_url, [tender("a", day="2025-09-09", title="newest")])
    assert rows(database_url)[0]["title"] == "newest"


def test_several_releases_of_one_ocid_in_a_window_keep_the_newest(database_url):
    counts = store(
        database_url,
        [
            tender("a", day="2025-09-03", title="mid"),
            tender("a", day="2025-09-04", title="last"),
            tender("a", day="2025-09-01", title="first"),
        ],
    )
    assert counts["tenders"] == 1 and counts["inserted"] == 1
    assert rows(database_url)[0]["title"] == "last"


def same_day_release(release_id, title):
    """A release of ocid "a" on 2025-09-01, with its own release id."""
    return {**tender("a", day="2025-09-01", title=title), "release_id": release_id}


@pytest.mark.parametrize("lower_first", [True, False], ids=["lower id first", "higher id first"])
def test_two_releases_of_one_ocid_on_the_same_date_in_a_batch_keep_the_higher_release_id(database_url, lower_first):
    batch = [same_day_release("a-1", "lower"), same_day_release("a-2", "higher")]
    counts = store(database_url, batch if lower_first else batch[::-1])
    assert counts["tenders"] == 1 and counts["inserted"] == 1
    [row] = rows(database_url)
    assert (row["release_id"], row["title"]) == ("a-2", "higher")


def test_a_later_release_on_the_same_date_with_a_higher_id_replaces_the_stored_one(database_url):
    store(database_url, [same_day_release("a-1", "stored")])
    counts = store(database_url, [same_day_release("a-2", "later")])
    assert counts["updated"] == 1
    [row] = rows(database_url)
    assert (row["release_id"], row["title"]) == ("a-2", "later")


def test_a_later_release_on_the_same_date_with_a_lower_id_does_not_replace_the_stored_one(database_url):
    store(database_url, [same_day_release("a-2", "stored")])
    counts = store(database_url, [same_day_release("a-1", "later")])
    assert counts["unchanged"] == 1
    [row] = rows(database_url)
    assert (row["release_id"], row["title"]) == ("a-2", "stored")


def quarantine_rows(url):
    return query(url, "SELECT source, ocid, reason, payload, seen_count FROM quarantine ORDER BY id")


def quarantined(ocid):
    return {"ocid": ocid, "reason": f"release {ocid} has no date", "release": {"ocid": ocid}}


def test_store_quarantined_keeps_the_ocid_and_reason_and_counts_a_repeat(database_url):
    entry = quarantined("ocds-9t57fa-7")
    with psycopg.connect(database_url) as conn:
        assert store_quarantined(conn, SETTINGS.source_name, [entry]) == 1
    assert quarantine_rows(database_url) == [
        {
            "source": "etenders-za",
            "ocid": "ocds-9t57fa-7",
            "reason": "release ocds-9t57fa-7 has no date",
            "payload": {"ocid": "ocds-9t57fa-7"},
            "seen_count": 1,
        }
    ]

    with psycopg.connect(database_url) as conn:
        store_quarantined(conn, SETTINGS.source_name, [entry])
    [row] = quarantine_rows(database_url)
    assert (row["ocid"], row["seen_count"]) == ("ocds-9t57fa-7", 2)

    with psycopg.connect(database_url) as conn:
        store_quarantined(conn, SETTINGS.source_name, [quarantined("ocds-9t57fa-8")])
    assert [(row["ocid"], row["seen_count"]) for row in quarantine_rows(database_url)] == [
        ("ocds-9t57fa-7", 2),
        ("ocds-9t57fa-8", 1),
    ]


def test_lease_lets_one_run_work_and_skips_the_other(database_url):
    with psycopg.connect(database_url) as conn:
        first = sync.start_sync(conn, SETTINGS, "exec-1", "test", 300, None)
    with psycopg.connect(database_url) as conn:
        second = sync.start_sync(conn, SETTINGS, "exec-2", "test", 300, None)
    assert not first.skipped and second.skipped
    assert second.reason is not None and "exec-1" in second.reason
    with psycopg.connect(database_url) as conn:
        job_log.finish_job(conn, SETTINGS.source_name, first.jobId, first.executionId, job_log.counts_of({}, {}))
        third = sync.start_sync(conn, SETTINGS, "exec-3", "test", 300, None)
        statuses = [r[0] for r in conn.execute("SELECT status FROM job_log ORDER BY id")]
    assert not third.skipped
    assert statuses == ["SUCCESS", "SKIPPED", "RUNNING"]


CRASHED = "exec-crashed"


def crashed_run_holding_the_lease(url, expires_in: str):
    """A run that crashed working the window after the cursor (2025-09-08): its job_log row left RUNNING, its
    lease never released, expiring after `expires_in` (an interval; negative: already expired)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO job_log (workflow, status, window_from, window_to, execution_id) "
            "VALUES ('sync', 'RUNNING', '2025-09-07', '2025-09-14', %s)",
            (CRASHED,),
        )
        conn.execute(
            "INSERT INTO sync_state (source, cursor, lease_holder, lease_expires_at) "
            "VALUES (%s, '2025-09-08', %s, now() + %s::interval)",
            (SETTINGS.source_name, CRASHED, expires_in),
        )


def job_log_by_execution(conn):
    cursor = conn.execute("SELECT execution_id, status, error, window_from, window_to FROM job_log ORDER BY id")
    columns = [column.name for column in cursor.description]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}


def test_start_sync_takes_over_an_expired_lease_and_fails_the_crashed_runs_job(database_url):
    crashed_run_holding_the_lease(database_url, "-1 second")

    with psycopg.connect(database_url) as conn:
        job = sync.start_sync(conn, SETTINGS, "exec-new", "test", 300, None)
        log = job_log_by_execution(conn)
        lease = conn.execute("SELECT cursor, lease_holder FROM sync_state").fetchone()

    assert not job.skipped
    assert job.window == Window(date_from=date(2025, 9, 7), date_to=date(2025, 9, 14))
    assert job.cursorAfter == date(2025, 9, 14)
    assert (log[CRASHED]["status"], log[CRASHED]["error"]) == (
        "FAILED",
        "its lease expired and was taken over by exec-new",
    )
    assert (log["exec-new"]["status"], log["exec-new"]["window_from"], log["exec-new"]["window_to"]) == (
        "RUNNING",
        date(2025, 9, 7),
        date(2025, 9, 14),
    )
    assert lease == (date(2025, 9, 8), "exec-new")


def test_start_sync_does_not_take_over_a_lease_that_has_not_expired(database_url):
    crashed_run_holding_the_lease(database_url, "1 hour")

    with psycopg.connect(database_url) as conn:
        job = sync.start_sync(conn, SETTINGS, "exec-new", "test", 300, None)
        statuses = conn.execute("SELECT execution_id, status FROM job_log ORDER BY id").fetchall()
        [(skipped_error,)] = conn.execute("SELECT error FROM job_log WHERE status = 'SKIPPED'").fetchall()
        lease = conn.execute("SELECT cursor, lease_holder FROM sync_state").fetchone()

    assert job.skipped and job.window is None
    assert statuses == [(CRASHED, "RUNNING"), ("exec-new", "SKIPPED")]
    assert skipped_error.startswith(f"another run holds the lease: {CRASHED} (until ")
    assert lease == (date(2025, 9, 8), CRASHED)


def test_first_window_starts_at_first_run_date_and_moves_the_cursor_when_stored(database_url):
    with psycopg.connect(database_url) as conn:
        job = sync.start_sync(conn, SETTINGS, "exec-1", "test", 300, None)
        assert job.window == Window(date_from=date(2025, 9, 1), date_to=date(2025, 9, 8))
        assert job.cursorAfter == date(2025, 9, 8)
        cursor.advance_cursor(conn, SETTINGS.source_name, job.cursorAfter)
        job_log.finish_job(conn, SETTINGS.source_name, job.jobId, job.executionId, job_log.counts_of({}, {}))
        job = sync.start_sync(conn, SETTINGS, "exec-2", "test", 300, None)
    assert job.window == Window(date_from=date(2025, 9, 7), date_to=date(2025, 9, 14))


def test_a_manual_window_after_a_gap_does_not_move_the_cursor(database_url):
    with psycopg.connect(database_url) as conn:
        job = sync.start_sync(
            conn, SETTINGS, "exec-1", "test", 300, Window(date_from=date(2025, 10, 1), date_to=date(2025, 10, 5))
        )
    assert job.cursorAfter is None


@pytest.mark.parametrize("job_id", [None, "from-start"])
def test_fail_job_records_the_error_and_frees_the_lease(database_url, job_id):
    with psycopg.connect(database_url) as conn:
        job = sync.start_sync(conn, SETTINGS, "exec-1", "test", 300, None)
        job_log.fail_job(
            conn, SETTINGS.source_name, "exec-1", job.jobId if job_id else None, "SourceUnavailable: 503", "sync"
        )
        row = conn.execute("SELECT status, error FROM job_log").fetchall()
        lease = conn.execute("SELECT lease_holder FROM sync_state").fetchone()
    assert row == [("FAILED", "SourceUnavailable: 503")]
    assert lease == (None,)


def test_fail_job_never_overwrites_a_stored_window(database_url):
    with psycopg.connect(database_url) as conn:
        job = sync.start_sync(conn, SETTINGS, "exec-1", "test", 300, None)
        job_log.record_stored_window(conn, job.jobId, job_log.counts_of({"fetched": 5}, {"upserted": 4}))
        finished = job_log.fail_job(
            conn, SETTINGS.source_name, "exec-1", job.jobId, "DatabaseUnavailable: gone", "sync"
        )
        row = conn.execute("SELECT status, error, fetched, upserted FROM job_log").fetchall()
        lease = conn.execute("SELECT lease_holder FROM sync_state").fetchone()
    assert row == [("SUCCESS", None, 5, 4)] and lease == (None,)
    assert finished is not None and (finished.counts["fetched"], finished.counts["upserted"]) == (5, 4)
