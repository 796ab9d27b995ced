"""The app's events against `make up`, put as the README shows (the AWS CLI's put-events, boto3's put_events): an
event from the app's source starts the workflow it names, which succeeds, and the console shows it with its trigger;
one from another source starts nothing; one event put twice starts one run; and 1,000 tender/enrich.requested events
look their tenders up with at most 2 database connections open at once."""

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from local.bench.connection_peak import ConnectionPeak
from local.engine.database import fresh_database
from tender_sync.app_events.events import execution_name
from tender_sync.workflows import ENRICH_TODAY, SINGLE_TENDER, SYNC
from tests.helpers.local_up import RunningUp, running_up

AWS = str(Path(sys.executable).parent / "aws")
BUS = "tender-sync"
APP = "tender-app"
# The batching window, shortened here as `make up --batching-window` allows (the template's is 15 s).
BATCHING_WINDOW_SECONDS = "2"
TENDER_EVENTS = 1000

# `make up` in a process of its own, running whole executions; in one worker with test_up.py's.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("up")]


@pytest.fixture(scope="module")
def up(server_url: str) -> Iterator[RunningUp]:
    with (
        fresh_database(server_url) as database_url,
        running_up(database_url, "--batching-window", BATCHING_WINDOW_SECONDS) as running,
    ):
        yield running
    assert running.process.returncode == 0, "\n".join(running.lines)


def query(up: RunningUp, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(up.database_url) as conn:
        return conn.execute(sql, params).fetchall()


def outputs(up: RunningUp) -> dict[str, str]:
    stack = up.client("cloudformation").describe_stacks(StackName="TenderSync")["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


def executions(up: RunningUp, stack_output: str) -> list[dict[str, Any]]:
    sfn = up.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=outputs(up)[stack_output])
    return [execution for page in pages for execution in page["executions"]]


def named(up: RunningUp, stack_output: str, key: str) -> list[dict[str, Any]]:
    return [e for e in executions(up, stack_output) if e["name"] == execution_name(key)]


def put(up: RunningUp, detail_type: str, detail: dict[str, Any], source: str = APP) -> None:
    answer = up.client("events").put_events(
        Entries=[{"EventBusName": BUS, "Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}]
    )
    assert answer["FailedEntryCount"] == 0, answer


def wait_for(condition: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.3)
    return result


def recorded(up: RunningUp, key: str) -> bool:
    return bool(query(up, "SELECT 1 FROM requested_events WHERE key = %s AND execution_arn IS NOT NULL", key))


def test_an_enrich_today_event_put_with_the_aws_cli_starts_enrich_today_which_succeeds(up):
    entries = [
        {
            "EventBusName": BUS,
            "Source": APP,
            "DetailType": "tender/enrich-today.requested",
            "Detail": json.dumps({"maxEnrichment": 50}),
        }
    ]
    done = subprocess.run(
        [AWS, "events", "put-events", "--entries", json.dumps(entries)],
        env=up.shell_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    event_id = json.loads(done.stdout)["Entries"][0]["EventId"]  # no id in the detail: EventBridge's is the key

    [execution] = wait_for(lambda: named(up, ENRICH_TODAY.stack_output, event_id), 60, "the enrich-today run")
    assert up.wait_for_end(execution["executionArn"])["status"] == "SUCCEEDED"
    assert query(up, "SELECT status, triggered_by FROM job_log WHERE execution_id = %s", execution["executionArn"]) == [
        ("SUCCESS", "event tender/enrich-today.requested")
    ]
    with urllib.request.urlopen(up.console, timeout=30) as page:
        html = page.read().decode()
    row = html[html.index(execution["name"]) :].split("</tr>", 1)[0]
    assert "event tender/enrich-today.requested" in row and "SUCCEEDED" in row


def test_an_event_from_a_source_not_listed_starts_nothing(up):
    put(up, "tender/enrich-today.requested", {"id": "from-elsewhere", "maxEnrichment": 5}, source="someone-else")
    # Put after it, from the app: once this one has started its run, the other had its chance.
    put(up, "tender/enrich-today.requested", {"id": "from-the-app", "maxEnrichment": 5})

    wait_for(lambda: named(up, ENRICH_TODAY.stack_output, "from-the-app"), 60, "the app's event's run")
    assert named(up, ENRICH_TODAY.stack_output, "from-elsewhere") == []
    assert not recorded(up, "from-elsewhere")


def test_the_same_event_put_twice_starts_one_run(up):
    detail = {"id": "sync-requested-twice", "maxEnrichment": 0, "triggeredBy": "cron"}
    put(up, "tender/sync.requested", detail)
    put(up, "tender/sync.requested", detail)
    # Put after both: once it has started, both of the others were taken.
    put(up, "tender/enrich-today.requested", {"id": "after-the-twice", "maxEnrichment": 5})

    wait_for(lambda: named(up, ENRICH_TODAY.stack_output, "after-the-twice"), 60, "the run after")
    [execution] = named(up, SYNC.stack_output, "sync-requested-twice")
    assert json.loads(
        up.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["input"]
    ) == {
        "maxEnrichment": 0,
        "triggeredBy": "cron",
    }
    assert up.wait_for_end(execution["executionArn"])["status"] == "SUCCEEDED"
    assert query(up, "SELECT count(*) FROM requested_events WHERE key = 'sync-requested-twice'") == [(1,)]


def test_a_thousand_tender_events_look_their_tenders_up_with_at_most_two_connections(up):
    # A first sync stores the first window's tenders without looking them up (as a sync whose cap ran out would).
    sfn = up.client("stepfunctions")
    first = sfn.start_execution(
        stateMachineArn=outputs(up)[SYNC.stack_output],
        input=json.dumps({"from": "2025-09-01", "to": "2025-09-08", "maxEnrichment": 0}),
    )["executionArn"]
    assert up.wait_for_end(first)["status"] == "SUCCEEDED"
    ocids = [ocid for (ocid,) in query(up, "SELECT ocid FROM tenders ORDER BY ocid")]
    pending = {ocid for (ocid,) in query(up, "SELECT ocid FROM tenders WHERE enrichment_status <> 'enriched'")}
    assert len(ocids) == 49 and pending
    events = up.client("events")

    started = time.monotonic()
    with ConnectionPeak(up.database_url) as peak:
        for first_number in range(0, TENDER_EVENTS, 10):  # PutEvents takes 10 entries at most
            entries = [
                {
                    "EventBusName": BUS,
                    "Source": APP,
                    "DetailType": SINGLE_TENDER.detail_type,
                    "Detail": json.dumps(
                        {"id": f"tender-{n}", "ocid": ocids[n % len(ocids)], "publishedAt": "2025-09-02T10:00:00Z"}
                    ),
                }
                for n in range(first_number, first_number + 10)
            ]
            assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
        put_seconds = time.monotonic() - started

        def all_done() -> bool:
            counted = query(
                up, "SELECT count(*) FROM requested_events WHERE key LIKE 'tender-%%' AND execution_arn IS NOT NULL"
            )
            return counted == [(TENDER_EVENTS,)] and not any(
                e["status"] == "RUNNING" for e in executions(up, SINGLE_TENDER.stack_output)
            )

        wait_for(all_done, 150, "the tender events' runs")
    seconds = time.monotonic() - started
    runs = query(
        up,
        """SELECT j.status, j.fetched, j.lookups, j.triggered_by FROM job_log j
            WHERE j.execution_id IN (SELECT execution_arn FROM requested_events WHERE key LIKE 'tender-%%')""",
    )
    print(
        f"\n{TENDER_EVENTS} tender events: put in {put_seconds:.1f} s, done in {seconds:.1f} s, {len(runs)} "
        f"single-tender runs; peak {peak.peak} connections in {peak.samples} samples"
    )

    assert 0 < peak.peak <= 2, f"{peak.peak} database connections were open at once"
    assert runs and len(runs) < TENDER_EVENTS / 10  # gathered: a run for many events
    assert {(status, trigger) for status, _, _, trigger in runs} == {("SUCCESS", "event tender/enrich.requested")}
    assert sum(lookups for _, _, lookups, _ in runs) >= len(pending)
    # Every tender named was fetched again and is now looked up.
    assert query(up, "SELECT enrichment_status, count(*) FROM tenders GROUP BY 1") == [("enriched", 49)]
    assert query(
        up, "SELECT count(*), count(DISTINCT published_at) FROM requested_events WHERE key LIKE 'tender-%%'"
    ) == [(TENDER_EVENTS, 1)]
