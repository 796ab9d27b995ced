"""The change events' outbox against a real PostgreSQL: one event per window and execution, each tender once by
its first change, late counting, and forgetting what was sent long ago."""

from datetime import date

import psycopg

from tender_sync.changes import outbox
from tender_sync.models.jobs import Job, SingleTenderJob, SyncJob, Window
from tender_sync.storage import job_log
from tender_sync.storage.tenders import store_tenders
from tests.helpers import not_none
from tests.helpers.database import SETTINGS, tender

SOURCE = SETTINGS.source_name


def job(conn: psycopg.Connection, execution: str, window: Window | None = None, ocid: str | None = None) -> Job:
    workflow = "single-tender" if ocid else "sync"
    job_id = job_log.open_job(conn, workflow, execution, "test", window)
    if ocid:
        return SingleTenderJob(jobId=job_id, executionId=execution, ocids=[ocid])
    return SyncJob(jobId=job_id, executionId=execution, window=window)


WINDOW = Window(date_from=date(2025, 9, 1), date_to=date(2025, 9, 8))


def test_a_tender_is_announced_once_by_its_first_change_and_a_run_without_changes_has_no_event(database_url):
    with psycopg.connect(database_url) as conn:
        store_tenders(conn, SOURCE, [tender("ocds-9t57fa-1"), tender("ocds-9t57fa-2")])
        first = job(conn, "exec-1", WINDOW)
        outbox.record(conn, SOURCE, first, {"ocds-9t57fa-1": "new", "ocds-9t57fa-2": "updated"})
        outbox.record(conn, SOURCE, first, {"ocds-9t57fa-1": "enriched"})
        outbox.record(conn, SOURCE, job(conn, "exec-2", WINDOW), {})
        [event] = conn.execute("SELECT id, changes_key FROM change_events").fetchall()
        listed = {line.ocid: line.change for line in outbox.lines(conn, event[0])}

    assert event == ("exec-1/2025-09-01/2025-09-08", "runs/exec-1/changes/2025-09-01_2025-09-08.jsonl")
    assert listed == {"ocds-9t57fa-1": "new", "ocds-9t57fa-2": "updated"}


def test_late_counts_this_runs_unsent_events_and_earlier_ones_but_not_a_later_runs(database_url):
    with psycopg.connect(database_url) as conn:
        store_tenders(conn, SOURCE, [tender("ocds-9t57fa-1")])
        earlier = job(conn, "exec-earlier", WINDOW)
        outbox.record(conn, SOURCE, earlier, {"ocds-9t57fa-1": "new"})
        conn.commit()
        this = job(conn, "exec-this", None, ocid="ocds-9t57fa-1")
        conn.commit()
        later = job(conn, "exec-later", WINDOW)
        outbox.record(conn, SOURCE, later, {"ocds-9t57fa-1": "updated"})
        conn.commit()
        assert (
            outbox.late(conn, SOURCE, this.executionId, this.jobId) == 1
        )  # the earlier run's; the later one's is still its own to send
        outbox.record(conn, SOURCE, this, {"ocds-9t57fa-1": "enriched"})
        assert outbox.late(conn, SOURCE, this.executionId, this.jobId) == 2
        assert (
            outbox.mark_sent(conn, "exec-this", ["exec-earlier/2025-09-01/2025-09-08", "exec-this/ocds-9t57fa-1"]) == 2
        )
        assert outbox.late(conn, SOURCE, this.executionId, this.jobId) == 0
        # Marking again changes nothing.
        assert outbox.mark_sent(conn, "exec-this", ["exec-this/ocds-9t57fa-1"]) == 0


def test_cleanup_forgets_events_sent_long_ago_and_keeps_unsent_ones(database_url):
    with psycopg.connect(database_url) as conn:
        store_tenders(conn, SOURCE, [tender("ocds-9t57fa-1")])
        for execution in ("exec-old", "exec-recent", "exec-unsent"):
            outbox.record(conn, SOURCE, job(conn, execution, WINDOW), {"ocds-9t57fa-1": "new"})
        outbox.mark_sent(conn, "exec-x", ["exec-old/2025-09-01/2025-09-08", "exec-recent/2025-09-01/2025-09-08"])
        conn.execute(
            "UPDATE change_events SET sent_at = now() - make_interval(days => %s) WHERE execution_id = 'exec-old'",
            (outbox.SENT_EVENTS_KEPT_DAYS + 1,),
        )
        assert outbox.forget_sent(conn) == 1
        left = [row[0] for row in conn.execute("SELECT execution_id FROM change_events ORDER BY 1")]
        (lines,) = not_none(conn.execute("SELECT count(*) FROM tender_changes").fetchone())

    assert left == ["exec-recent", "exec-unsent"] and lines == 2
