"""Recovery, end to end: a database that goes away, a source that fails, a run that crashed holding the
lease, lookups that fail. Each time the data comes out exactly right, without repeating stored work."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import psycopg
import pytest

from local.bench.database_proxy import DatabaseProxy
from local.engine.stack import LocalStack
from local.sample_source.faults import Faults
from local.sample_source.server import SampleSource
from tests.helpers import not_none
from tests.helpers.local_stack import Sync, expected_tenders

pytestmark = pytest.mark.slow

FIRST_WINDOW = (date(2025, 9, 1), date(2025, 9, 8))  # cdk.json: firstRunFrom 2025-09-01, windowDays 7, overlapDays 1
SECOND_WINDOW = (date(2025, 9, 7), date(2025, 9, 14))


@contextmanager
def sync_through_proxy(template, database_url: str, source_url: str, fault_for) -> Iterator[Sync]:
    """The local stack reaching the database through a DatabaseProxy; queries in the test go direct."""
    with DatabaseProxy(database_url, fault_for) as proxy:
        environment = {"DATABASE_URL": proxy.url, "OCDS_BASE_URL": source_url, "PORTAL_BASE_URL": source_url}
        with LocalStack(template, environment) as local:
            yield Sync(local, template, database_url)


def stored(sync: Sync) -> dict[str, dict[str, Any]]:
    return {row["ocid"]: row for row in sync.query("SELECT * FROM tenders")}


def failed_attempts(execution, error: str) -> int:
    return sum(
        event["type"] == "LambdaFunctionFailed" and event["lambdaFunctionFailedEventDetails"]["error"] == error
        for event in execution.history
    )


def test_a_database_cut_off_mid_transaction_costs_retries_not_data(template, database_url, sample_source):
    # Connection 1 is StartJob's; 2 is UpsertTenders', cut in the middle of its COPY; 3, its retry, is refused.
    faults = {2: "cut", 3: "refuse"}
    with sync_through_proxy(template, database_url, sample_source.url, faults.get) as sync:
        execution = sync.run()

    assert execution.status == "SUCCEEDED", execution.cause
    assert failed_attempts(execution, "DatabaseUnavailable") == 2
    expected = expected_tenders(sample_source, FIRST_WINDOW)
    tenders = stored(sync)
    assert {ocid: row["release_id"] for ocid, row in tenders.items()} == {
        ocid: release["id"] for ocid, release in expected.items()
    }
    [job] = sync.query("SELECT * FROM job_log")
    assert (job["status"], job["upserted"]) == ("SUCCESS", len(expected))
    assert sync.query("SELECT cursor FROM sync_state")[0]["cursor"] == FIRST_WINDOW[1]


def test_a_run_failed_by_the_database_is_completed_by_the_next_without_repeating_stored_work(
    template, database_url, sample_source
):
    # Run 1: connections 1-7 (StartJob, UpsertTenders, PlanLookups, StoreLookups, PrepareChanges, RecordPublished,
    # FinishJob). Run 2: StartJob (8), then every attempt of UpsertTenders (9-12) is refused; FailJob (13) gets
    # through. Run 3: the database is back.
    refused = range(9, 13)
    with sync_through_proxy(
        template, database_url, sample_source.url, lambda n: "refuse" if n in refused else None
    ) as sync:
        assert sync.run().status == "SUCCEEDED"
        after_first = stored(sync)

        failed = sync.run()
        assert failed.status == "FAILED"
        assert failed_attempts(failed, "DatabaseUnavailable") == 4
        assert stored(sync) == after_first
        state = sync.query("SELECT cursor, lease_holder FROM sync_state")[0]
        assert (state["cursor"], state["lease_holder"]) == (FIRST_WINDOW[1], None)

        rerun = sync.run()

    assert rerun.status == "SUCCEEDED", rerun.cause
    jobs = sync.query("SELECT status, window_from, window_to, error FROM job_log ORDER BY id")
    assert [job["status"] for job in jobs] == ["SUCCESS", "FAILED", "SUCCESS"]
    assert jobs[1]["error"].startswith("DatabaseUnavailable: cannot connect to the database")
    assert (
        (jobs[1]["window_from"], jobs[1]["window_to"])
        == (jobs[2]["window_from"], jobs[2]["window_to"])
        == SECOND_WINDOW
    )
    expected = expected_tenders(sample_source, FIRST_WINDOW, SECOND_WINDOW)
    tenders = stored(sync)
    assert {ocid: row["release_id"] for ocid, row in tenders.items()} == {
        ocid: release["id"] for ocid, release in expected.items()
    }
    # Nothing stored before was written again unless a newer release of it came in.
    rewritten = {ocid for ocid, row in after_first.items() if tenders[ocid] != row}
    assert rewritten == {ocid for ocid, row in after_first.items() if row["release_id"] != expected[ocid]["id"]}
    upsert = not_none(rerun.output)["upsert"]
    assert upsert["inserted"] == len(set(tenders) - set(after_first))
    assert upsert["updated"] == len(rewritten)
    assert sync.query("SELECT cursor FROM sync_state")[0]["cursor"] == SECOND_WINDOW[1]


def test_a_run_failed_by_the_source_is_completed_by_the_next(template, database_url):
    # Error bodies with HTTP 200 on every request: after its retries the page is BadSourceData, a permanent error.
    with SampleSource(faults=Faults(rate=1.0, kinds=("error-body",))) as source:
        with sync_through_proxy(template, database_url, source.url, lambda n: None) as sync:
            failed = sync.run()
            source.faults = Faults()
            rerun = sync.run()

        assert failed.status == "FAILED"
        assert failed_attempts(failed, "BadSourceData") == 1  # not retried by the state machine
        assert rerun.status == "SUCCEEDED", rerun.cause
        jobs = sync.query("SELECT status, window_from, error FROM job_log ORDER BY id")
        assert [job["status"] for job in jobs] == ["FAILED", "SUCCESS"]
        assert jobs[0]["window_from"] == jobs[1]["window_from"] == FIRST_WINDOW[0]
        assert "An error has occurred" in jobs[0]["error"] and "(attempt 4 of 4)" in jobs[0]["error"]
        expected = expected_tenders(source, FIRST_WINDOW)
        assert {o: r["release_id"] for o, r in stored(sync).items()} == {o: r["id"] for o, r in expected.items()}


def test_a_crashed_runs_lease_blocks_until_it_expires_then_is_taken_over(sync: Sync, sample_source):
    dead = "arn:aws:states:us-east-1:123456789012:execution:Sync:crashed"
    assert sync.run().status == "SUCCEEDED"  # the first window, stored
    with psycopg.connect(sync.database_url) as conn:
        # Then a run crashed on the second: its job_log row left RUNNING, its lease never released.
        conn.execute("DELETE FROM job_log")
        conn.execute(
            "INSERT INTO job_log (workflow, status, window_from, window_to, execution_id) "
            "VALUES ('sync', 'RUNNING', '2025-09-07', '2025-09-14', %s)",
            (dead,),
        )
        conn.execute("UPDATE sync_state SET lease_holder = %s, lease_expires_at = now() + interval '1 hour'", (dead,))

    blocked = sync.run()

    assert blocked.status == "SUCCEEDED" and not_none(blocked.output)["job"]["skipped"]
    assert dead in not_none(blocked.output)["job"]["reason"]
    with psycopg.connect(sync.database_url) as conn:
        conn.execute("UPDATE sync_state SET lease_expires_at = now() - interval '1 second'")

    taken_over = sync.run()

    assert taken_over.status == "SUCCEEDED", taken_over.cause
    jobs = {row["execution_id"]: row for row in sync.query("SELECT * FROM job_log WHERE status <> 'SKIPPED'")}
    assert jobs[taken_over.arn]["status"] == "SUCCESS"
    assert jobs[dead]["status"] == "FAILED"
    assert jobs[dead]["error"] == f"its lease expired and was taken over by {taken_over.arn}"
    state = sync.query("SELECT cursor, lease_holder FROM sync_state")[0]
    assert (state["cursor"], state["lease_holder"]) == (SECOND_WINDOW[1], None)
    expected = expected_tenders(sample_source, FIRST_WINDOW, SECOND_WINDOW)
    assert {o: r["release_id"] for o, r in stored(sync).items()} == {o: r["id"] for o, r in expected.items()}


def test_a_lookup_failing_after_its_retries_is_stored_with_its_error_and_the_next_pass_fills_it_in(
    template, database_url, sample_source
):
    window = {"from": FIRST_WINDOW[0].isoformat(), "to": FIRST_WINDOW[1].isoformat()}
    with SampleSource(faults=Faults(rate=1.0, kinds=("error-body",))) as portal:
        environment = {"DATABASE_URL": database_url, "OCDS_BASE_URL": sample_source.url, "PORTAL_BASE_URL": portal.url}
        with LocalStack(template, environment) as local:
            sync = Sync(local, template, database_url)
            first = sync.run(**window)
            failed = sync.query("SELECT * FROM tenders WHERE enrichment_status = 'failed'")
            portal.faults = Faults()
            # Not due before its next try, 30 minutes later: the run just after looks nothing up.
            too_soon = sync.run(**window)
            sync.query("UPDATE tenders SET enrichment_due_at = now() WHERE enrichment_status = 'failed' RETURNING 1")
            second = sync.run(**window)

    assert first.status == too_soon.status == second.status == "SUCCEEDED"
    assert failed and len(failed) == not_none(first.output)["looked"]["enrichment_failed"]
    assert not_none(too_soon.output)["lookups"]["tenders"] == 0
    for tender in failed:
        assert tender["enrichment_error"].startswith("BadSourceData: GET /Home/PaginatedTenderOpportunities?")
        assert "portal search answered without a data list (attempt 4 of 4)" in tender["enrichment_error"]
        assert tender["detailed_category"] is None
    refilled = {row["ocid"]: row for row in sync.query("SELECT * FROM tenders")}
    for tender in failed:
        row = refilled[tender["ocid"]]
        assert (row["enrichment_status"], row["enrichment_error"]) == ("enriched", None)
        assert row["detailed_category"] and isinstance(row["enriched_at"], datetime)
    assert not_none(second.output)["looked"]["enriched"] == len(failed)
    assert not_none(second.output)["upsert"]["updated"] == 0  # the window itself had not changed


def test_a_stored_window_stays_a_success_when_finishing_fails(template, database_url, sample_source, capfd):
    # Connection 1 is StartJob's, 2 UpsertTenders' (it commits the window), 3 PlanLookups', 4 StoreLookups',
    # 5 PrepareChanges', 6 RecordPublished'; FinishJob's four attempts (7-10) are refused; FailJob (11) gets through.
    with sync_through_proxy(
        template, database_url, sample_source.url, lambda n: "refuse" if 7 <= n <= 10 else None
    ) as sync:
        capfd.readouterr()
        execution = sync.run()

    assert execution.status == "FAILED"
    assert failed_attempts(execution, "DatabaseUnavailable") == 4
    assert "after the window was stored" in not_none(execution.cause)
    expected = expected_tenders(sample_source, FIRST_WINDOW)
    assert {o: r["release_id"] for o, r in stored(sync).items()} == {o: r["id"] for o, r in expected.items()}
    [job] = sync.query("SELECT * FROM job_log")
    assert (job["status"], job["upserted"], job["error"]) == ("SUCCESS", len(expected), None)
    state = sync.query("SELECT cursor, lease_holder FROM sync_state")[0]
    assert (state["cursor"], state["lease_holder"]) == (FIRST_WINDOW[1], None)
    # The run's metrics, published once, by FailJob since FinishJob could not.
    emf = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [(m["workflow"], m["upserted"]) for m in emf] == [("sync", [float(len(expected))])]
