"""The operators' workflows, synthesized by the CDK and run end to end on this machine: enrich-today, backfill,
single tender and cleanup, each checked in the database afterwards; and a bad input to each, rejected."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.engine.stack import Execution, LocalStack
from local.sample_source.server import SampleSource
from tender_sync.models.inputs import MAX_BACKFILL_WINDOWS
from tender_sync.source.publishers import SAST as SOUTH_AFRICA
from tender_sync.storage.cursor import source_today
from tender_sync.workflows import WORKFLOWS
from tests.helpers import not_none
from tests.helpers.local_stack import Sync, expected_tenders, local_sync

pytestmark = pytest.mark.slow

SEPTEMBER = (date(2025, 9, 1), date(2025, 10, 1))
TABLES = ("tenders", "job_log", "sync_state", "quarantine", "backfill_progress")


class Operations(Sync):
    """The local stack on one test database: any workflow by name, and the tables."""

    def __init__(self, local: LocalStack, template: dict[str, Any], database_url: str):
        super().__init__(local, template, database_url)
        self.template = template

    def start(self, workflow: str, execution_input: dict[str, Any]) -> str:
        return self.local.start(WORKFLOWS[workflow].state_machine_id(self.template), execution_input)

    def execute(self, workflow: str, execution_input: dict[str, Any], **wait_options: Any) -> Execution:
        return self.local.wait(self.start(workflow, execution_input), **wait_options)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return {table: self.query(f"SELECT * FROM {table} ORDER BY 1, 2") for table in TABLES}


@contextmanager
def operations_on(template, database_url: str, ocds_url: str, portal_url: str) -> Iterator[Operations]:
    with local_sync(template, database_url, ocds_url, portal_url) as local:
        yield Operations(local, template, database_url)


@pytest.fixture
def operations(template, database_url, sample_source) -> Iterator[Operations]:
    """On a migrated, empty database, against the session's sample source."""
    with operations_on(template, database_url, sample_source.url, sample_source.url) as stack:
        yield stack


def step_inputs(execution: Execution, state: str) -> list[dict[str, Any]]:
    """The input of each time the execution entered `state`, in order."""
    return [
        json.loads(event["stateEnteredEventDetails"]["input"])
        for event in execution.history
        if event.get("stateEnteredEventDetails", {}).get("name") == state
    ]


def windows_fetched(execution: Execution) -> list[tuple[str, str]]:
    return [
        (step["job"]["window"]["from"], step["job"]["window"]["to"]) for step in step_inputs(execution, "FetchReleases")
    ]


def release_day(row: dict[str, Any]) -> date:
    """A stored tender's release date, as the South African date eTenders gives it."""
    return row["release_date"].astimezone(SOUTH_AFRICA).date()


def releases_between(source: SampleSource, start: date, end: date) -> int:
    return sum(start <= date.fromisoformat(release["date"][:10]) < end for release in source.releases)


# Backfill


def test_backfill_stores_each_window_in_order_and_moves_the_cursor_only_forwards(operations: Operations, sample_source):
    execution = operations.execute("backfill", {"from": "2025-09-01", "to": "2025-10-01", "windowDays": 7})

    assert execution.status == "SUCCEEDED", execution.cause
    assert windows_fetched(execution) == [
        ("2025-09-01", "2025-09-08"),
        ("2025-09-08", "2025-09-15"),
        ("2025-09-15", "2025-09-22"),
        ("2025-09-22", "2025-09-29"),
        ("2025-09-29", "2025-10-01"),
    ]
    expected = expected_tenders(sample_source, SEPTEMBER)
    tenders = {row["ocid"]: row for row in operations.query("SELECT * FROM tenders")}
    assert {ocid: row["release_id"] for ocid, row in tenders.items()} == {o: r["id"] for o, r in expected.items()}
    assert all(row["enrichment_status"] == "enriched" and row["detailed_category"] for row in tenders.values())
    [job] = operations.query("SELECT * FROM job_log")
    assert (job["workflow"], job["status"], job["window_from"], job["window_to"]) == ("backfill", "SUCCESS", *SEPTEMBER)
    assert job["fetched"] == releases_between(sample_source, *SEPTEMBER)
    [progress] = operations.query("SELECT * FROM backfill_progress")
    assert progress["done_to"] == SEPTEMBER[1] and progress["completed_at"] is not None
    # A fresh database: each window leaves no gap after the cursor (the first starts at firstRunFrom).
    [state] = operations.query("SELECT * FROM sync_state")
    assert state["cursor"] == SEPTEMBER[1] and state["lease_holder"] is None
    # Step Functions' history quota: about 58 events a window (400 windows, the most a backfill takes, stay
    # below 25,000).
    assert len(execution.history) < 60 * len(windows_fetched(execution))
    assert 60 * MAX_BACKFILL_WINDOWS < 25_000


def test_backfill_behind_the_cursor_leaves_it_and_one_reaching_past_it_moves_it(operations: Operations, sample_source):
    operations.query("INSERT INTO sync_state (source, cursor) VALUES ('etenders-za', '2025-09-20') RETURNING cursor")

    behind = operations.execute("backfill", {"from": "2025-09-01", "to": "2025-09-15"})
    assert behind.status == "SUCCEEDED", behind.cause
    assert operations.query("SELECT cursor FROM sync_state")[0]["cursor"] == date(2025, 9, 20)

    # [09-15, 09-22) covers the cursor, then [09-22, 09-29) follows it without a gap.
    past = operations.execute("backfill", {"from": "2025-09-15", "to": "2025-09-29", "windowDays": 7})
    assert past.status == "SUCCEEDED", past.cause
    assert operations.query("SELECT cursor FROM sync_state")[0]["cursor"] == date(2025, 9, 29)
    stored = {row["ocid"]: row["release_id"] for row in operations.query("SELECT ocid, release_id FROM tenders")}
    expected = expected_tenders(sample_source, (date(2025, 9, 1), date(2025, 9, 29)))
    assert stored == {ocid: release["id"] for ocid, release in expected.items()}


class ListingGate(ThreadingHTTPServer):
    """In front of the sample source: while `closed_from` is set, a listing of that day or later is refused
    (HTTP 400, which a sync does not retry); everything else is passed through."""

    def __init__(self, target: str) -> None:
        self.closed_from: date | None = None
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                day = parse_qs(urlsplit(self.path).query).get("dateFrom", [None])[0]
                if gate.closed_from and day and date.fromisoformat(day) >= gate.closed_from:
                    status, body, content_type = 400, b'{"error": "closed"}', "application/json"
                else:
                    response = httpx.get(target + self.path)
                    status, body, content_type = (
                        response.status_code,
                        response.content,
                        response.headers["content-type"],
                    )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def test_a_failed_backfill_rerun_finishes_the_windows_that_remain(template, database_url, sample_source):
    gate = ListingGate(sample_source.url)
    gate.closed_from = date(2025, 9, 8)
    plan = {"from": "2025-09-01", "to": "2025-09-22", "windowDays": 7}
    try:
        with operations_on(template, database_url, gate.url, sample_source.url) as operations:
            failed = operations.execute("backfill", plan)
            progress_after_failure = operations.query("SELECT * FROM backfill_progress")
            gate.closed_from = None
            rerun = operations.execute("backfill", plan)
    finally:
        gate.shutdown()

    assert failed.status == "FAILED"
    assert not_none(failed.cause).startswith("SourceRejected:")
    [progress] = progress_after_failure
    assert progress["done_to"] == date(2025, 9, 8) and progress["completed_at"] is None

    assert rerun.status == "SUCCEEDED", rerun.cause
    assert windows_fetched(rerun) == [("2025-09-08", "2025-09-15"), ("2025-09-15", "2025-09-22")]
    first, second = operations.query("SELECT * FROM job_log ORDER BY id")
    assert (first["status"], second["status"]) == ("FAILED", "SUCCESS")
    assert first["error"].startswith("SourceRejected:") and "\n" not in first["error"]
    assert first["fetched"] == releases_between(sample_source, date(2025, 9, 1), date(2025, 9, 8))
    assert second["fetched"] == releases_between(sample_source, date(2025, 9, 8), date(2025, 9, 22))
    expected = expected_tenders(sample_source, (date(2025, 9, 1), date(2025, 9, 22)))
    stored = {row["ocid"]: row["release_id"] for row in operations.query("SELECT ocid, release_id FROM tenders")}
    assert stored == {ocid: release["id"] for ocid, release in expected.items()}
    [progress] = operations.query("SELECT * FROM backfill_progress")
    assert progress["done_to"] == date(2025, 9, 22) and progress["completed_at"] is not None


# Enrich today


def test_enrich_today_looks_up_todays_failed_tenders_up_to_the_cap(template, database_url, capsys):
    today = source_today()
    with SampleSource(start=today - timedelta(days=2), days=3, count=60) as source:
        # A sync while the portal is gone: the tenders of the older shape are stored with a failed enrichment.
        with operations_on(template, database_url, source.url, f"{source.url}/gone") as operations:
            synced = operations.execute(
                "sync",
                {
                    "triggeredBy": "test",
                    "from": (today - timedelta(days=2)).isoformat(),
                    "to": (today + timedelta(days=1)).isoformat(),
                },
            )
            assert synced.status == "SUCCEEDED", synced.cause
        failed = operations.query(
            "SELECT ocid, release_date FROM tenders WHERE enrichment_status = 'failed' ORDER BY ocid"
        )
        today_failed = [row["ocid"] for row in failed if release_day(row) == today]
        yesterday_failed = {row["ocid"] for row in failed if release_day(row) != today}
        assert len(today_failed) > 3 and yesterday_failed
        state_before = operations.query("SELECT * FROM sync_state")

        with operations_on(template, database_url, source.url, source.url) as operations:
            capped = operations.execute("enrich-today", {"maxEnrichment": 3, "adminUserId": "admin-7"})
            enriched_by_capped = {
                row["ocid"] for row in operations.query("SELECT ocid FROM tenders WHERE enrichment_status = 'enriched'")
            }
            rest = operations.execute("enrich-today", {"maxEnrichment": 500})

    assert capped.status == "SUCCEEDED", capped.cause
    assert rest.status == "SUCCEEDED", rest.cause
    # Today's tenders share one release time, so after the newest come the first by ocid.
    assert set(today_failed[:3]) <= enriched_by_capped and not set(today_failed[3:]) & enriched_by_capped
    tenders = {row["ocid"]: row for row in operations.query("SELECT * FROM tenders")}
    assert all(tenders[o]["enrichment_status"] == "enriched" and tenders[o]["detailed_category"] for o in today_failed)
    assert {o for o, row in tenders.items() if row["enrichment_status"] == "failed"} == yesterday_failed
    later = len(today_failed) - 3
    jobs = operations.query("SELECT * FROM job_log WHERE workflow = 'enrich-today' ORDER BY id")
    assert [(j["status"], j["fetched"], j["enriched"], j["upserted"]) for j in jobs] == [
        ("SUCCESS", 0, 3, 0),
        ("SUCCESS", 0, later, 0),
    ]
    assert jobs[0]["triggered_by"] == "admin admin-7" and jobs[0]["window_from"] == today
    assert operations.query("SELECT * FROM sync_state") == state_before  # the cursor never moves
    # FinishJob's metrics, as the EMF lines Lambda would send to CloudWatch.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    enrich_today_metrics = [m for m in emf if m.get("workflow") == "enrich-today"]
    assert [m["enriched"] for m in enrich_today_metrics] == [[3.0], [float(later)]]
    assert enrich_today_metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TenderSync"


# Single tender


def test_single_tender_fetches_enriches_and_stores_one_tender(operations: Operations, sample_source):
    latest = sample_source.latest_by_ocid()
    # A tender of the older shape, with an update: the newest release, and the portal for its category.
    ocid = next(
        o for o, release in latest.items() if "category" not in release["tender"] and release["id"] != f"{o}-2025-09-01"
    )

    execution = operations.execute("single-tender", {"ocid": ocid})

    assert execution.status == "SUCCEEDED", execution.cause
    [tender] = operations.query("SELECT * FROM tenders")
    assert (tender["ocid"], tender["release_id"]) == (ocid, latest[ocid]["id"])
    assert tender["enrichment_status"] == "enriched" and tender["detailed_category"]
    [job] = operations.query("SELECT * FROM job_log")
    assert (job["workflow"], job["status"], job["fetched"], job["enriched"], job["upserted"]) == (
        "single-tender",
        "SUCCESS",
        1,
        1,
        1,
    )
    assert operations.query("SELECT * FROM sync_state") == []


def test_an_unknown_ocid_fails_with_a_clear_reason(operations: Operations):
    execution = operations.execute("single-tender", {"ocid": "ocds-9t57fa-424242424"})

    assert execution.status == "FAILED"
    assert execution.cause == "SourceRejected: unknown ocid 'ocds-9t57fa-424242424'"
    [job] = operations.query("SELECT * FROM job_log")
    assert (job["workflow"], job["status"], job["error"]) == ("single-tender", "FAILED", execution.cause)
    assert operations.query("SELECT * FROM tenders") == []


# Cleanup


def wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_cleanup_fails_jobs_whose_execution_ended_and_frees_their_lease(template, database_url):
    with (
        SampleSource(portal_latency=0.5) as source,
        operations_on(template, database_url, source.url, source.url) as ops,
    ):
        # A sync stopped from outside while it looks tenders up: it never reaches FailJob.
        aborted = ops.start("sync", {"triggeredBy": "test"})
        # Stopped once its Map runs (slow lookups): stopped inside a Task, moto's interpreter may let that Task
        # fail on into FailJob instead of ending the execution ABORTED.
        wait_for(lambda: any(e["type"] == "MapRunStarted" for e in ops.local.history(aborted)))
        ops.local.sfn.stop_execution(executionArn=aborted)
        assert ops.local.wait(aborted).status == "ABORTED"
        # A row whose execution Step Functions no longer knows, and one whose id is not an execution ARN at all.
        gone = aborted.rsplit(":", 1)[0] + ":gone"
        for execution_id in (gone, "not-an-arn"):
            ops.query(
                "INSERT INTO job_log (workflow, status, execution_id) VALUES ('sync', 'RUNNING', %s) RETURNING id",
                execution_id,
            )
        # And a backfill still running (no lease: it runs beside the rest) while cleanup runs: of the next week,
        # whose tenders the aborted sync has not claimed (it waits for the portal while the sync's range lasts).
        running = ops.start("backfill", {"from": "2025-09-08", "to": "2025-09-15"})
        wait_for(lambda: ops.query("SELECT 1 FROM job_log WHERE execution_id = %s", running))

        cleanup = ops.execute("cleanup", {"triggeredBy": "test"})
        still_running = ops.query("SELECT status FROM job_log WHERE execution_id = %s", running)[0]["status"]
        assert ops.local.wait(running).status == "SUCCEEDED"

    assert cleanup.status == "SUCCEEDED", cleanup.cause
    # The sync stored its window before its lookups: its job is a SUCCESS, only its lease was left held.
    assert not_none(cleanup.output)["cleanup"]["jobsFailed"] == [gone]
    assert not_none(cleanup.output)["cleanup"]["leasesFreed"] == [aborted]
    # The tenders the aborted sync had claimed for its lookups are free for the next run.
    assert not_none(cleanup.output)["cleanup"]["claimsReleased"] == [aborted]
    assert ops.query("SELECT count(*) AS n FROM lookup_claims WHERE execution_id = %s", aborted)[0]["n"] == 0
    assert still_running == "RUNNING"
    jobs = {row["execution_id"]: row for row in ops.query("SELECT * FROM job_log")}
    assert (jobs[aborted]["status"], jobs[aborted]["error"]) == ("SUCCESS", None)
    assert jobs[gone]["status"] == "FAILED" and "no longer exists" in jobs[gone]["error"]
    assert jobs["not-an-arn"]["status"] == "RUNNING"  # not an execution of ours: left alone
    assert jobs[running]["status"] == "SUCCESS"
    assert jobs[cleanup.arn]["workflow"] == "cleanup" and jobs[cleanup.arn]["status"] == "SUCCESS"
    [state] = ops.query("SELECT * FROM sync_state")
    assert state["lease_holder"] is None


# Invalid input: rejected by the first step with its reason; nothing written


@pytest.mark.parametrize(
    ("workflow", "execution_input", "reason"),
    [
        ("sync", {"maxEnrichment": 99_999}, "maxEnrichment: Input should be less than or equal to 10000"),
        ("enrich-today", {}, "maxEnrichment: required"),
        ("enrich-today", {"maxEnrichment": 5, "userId": "x"}, "userId: not a field of this input"),
        ("backfill", {"from": "2025-09-31", "to": "2025-10-01"}, "from: '2025-09-31' is not a date (YYYY-MM-DD)"),
        ("backfill", {"from": "2025-09-10", "to": "2025-09-01"}, "'from' (2025-09-10) must be before 'to'"),
        ("backfill", {"from": "2015-01-01", "to": "2025-01-01", "windowDays": 1}, "at most 400 per backfill"),
        (
            "backfill",
            {"from": "2025-09-01", "to": "2025-09-08", "windowDays": 0},
            "windowDays: Input should be greater",
        ),
        ("single-tender", {"ocid": "134030"}, "ocid '134030' is not prefix-publisher-id shaped"),
        ("cleanup", {"force": True}, "force: not a field of this input"),
    ],
)
def test_a_bad_input_fails_at_the_first_step_with_its_reason_and_writes_nothing(
    operations: Operations, workflow: str, execution_input: dict[str, Any], reason: str
):
    before = operations.snapshot()

    execution = operations.execute(workflow, execution_input)

    assert execution.status == "FAILED"
    cause = not_none(execution.cause)
    assert cause.startswith(f"InvalidInput: invalid {workflow} input: ") and reason in cause
    assert "\n" not in cause
    entered = [e["stateEnteredEventDetails"]["name"] for e in execution.history if "stateEnteredEventDetails" in e]
    assert entered[1:] == ["FailJob", entered[-1]] and entered[-1].endswith("Failed")
    assert operations.snapshot() == before


def test_a_backfill_into_the_future_is_refused(operations: Operations):
    tomorrow = source_today() + timedelta(days=1)
    execution = operations.execute(
        "backfill", {"from": tomorrow.isoformat(), "to": (tomorrow + timedelta(days=1)).isoformat()}
    )
    assert execution.status == "FAILED"
    assert f"'to' ({tomorrow + timedelta(days=1)}) is in the future: at most {tomorrow}" in not_none(execution.cause)
    assert operations.query("SELECT * FROM job_log") == []
