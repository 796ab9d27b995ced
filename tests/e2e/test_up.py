"""`make up`, driven as the docs drive the deployed stack: the real AWS CLI (a subprocess) and boto3 against its
endpoint, the inputs of docs/local-development.md's CLI table, then the database; its schedules firing at a short
rate; its alerts."""

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from local.engine.database import fresh_database
from local.toolchain import ROOT
from tender_sync.workflows import WORKFLOWS
from tests.helpers.local_up import RunningUp, running_up

# The AWS CLI installed beside this Python (requirements.txt).
AWS = str(Path(sys.executable).parent / "aws")
# The inputs of the CLI table in docs/local-development.md ("The CLI": each AWS CLI start-execution), by workflow.
DOCUMENTED_INPUTS = {
    "sync": {"from": "2025-09-01", "to": "2025-09-08", "triggeredBy": "cli"},
    "enrich-today": {"maxEnrichment": 200, "adminUserId": "u-17"},
    "backfill": {"from": "2025-01-01", "to": "2025-07-01", "windowDays": 7},
    "single-tender": {"ocid": "ocds-9t57fa-134030"},
    "cleanup": {"triggeredBy": "cli"},
}

# `make up` in a process of its own, running whole executions; in one worker with test_console.py's.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("up")]


@pytest.fixture(scope="module")
def module_database_url(server_url: str) -> Iterator[str]:
    with fresh_database(server_url) as url:
        yield url


@pytest.fixture(scope="module")
def up(module_database_url: str) -> Iterator[RunningUp]:
    with running_up(module_database_url) as running:
        yield running
    assert running.process.returncode == 0, "\n".join(running.lines)


def aws(up: RunningUp, *args: str) -> str:
    """The AWS CLI from .venv, with only what `make up` printed to reach it."""
    done = subprocess.run([AWS, *args], env=up.shell_environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def stack_output(up: RunningUp, key: str) -> str:
    """The describe-stacks command of the README ("Start it") and docs/local-development.md ("The CLI")."""
    return aws(
        up,
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        "TenderSync",
        "--query",
        f"Stacks[0].Outputs[?OutputKey=='{key}'].OutputValue",
        "--output",
        "text",
    )


def start(up: RunningUp, workflow: str) -> str:
    arn = stack_output(up, WORKFLOWS[workflow].stack_output)
    return json.loads(
        aws(
            up,
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            arn,
            "--input",
            json.dumps(DOCUMENTED_INPUTS[workflow]),
        )
    )["executionArn"]


def query(database_url: str, sql: str, *params) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()


def test_describe_stacks_names_the_local_state_machines(up):
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in up.client("cloudformation").describe_stacks(StackName="TenderSync")["Stacks"][0]["Outputs"]
    }
    machines = {m["stateMachineArn"] for m in up.client("stepfunctions").list_state_machines()["stateMachines"]}

    assert {outputs[workflow.stack_output] for workflow in WORKFLOWS.values()} == machines
    assert stack_output(up, "SyncStateMachineArn") == outputs["SyncStateMachineArn"]
    assert (
        up.client("s3").head_bucket(Bucket=outputs["ArtifactsBucketName"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    )
    assert up.client("sns").get_topic_attributes(TopicArn=outputs["AlertsTopicArn"])["Attributes"]["TopicArn"]
    # Only what exists here: no dashboard, event schema or function URL; what is left out is said at start.
    assert not {"DashboardName", "ChangeEventsSchemaName", "UnsubscribeUrl"} & outputs.keys()
    assert up.client("events").describe_event_bus(Name=outputs["ChangeEventsBusName"])["Name"]
    assert up.client("sqs").get_queue_attributes(QueueUrl=outputs["AppEventsDeadLetterQueueUrl"])
    up.wait_for(r"^outputs:   describe-stacks leaves out DashboardName, ChangeEventsSchemaName, UnsubscribeUrl", 1)


def test_an_input_that_is_not_json_is_refused_as_on_aws(up):
    refused = subprocess.run(
        [
            AWS,
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            stack_output(up, "SyncStateMachineArn"),
            "--input",
            "{bad",
        ],
        env=up.shell_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert (
        "An error occurred (InvalidExecutionInput) when calling the StartExecution operation: Invalid State Machine Execution Input"
        in refused.stderr
    )


def test_the_alert_of_a_run_that_wrote_no_job_row_gives_the_executions_own_reason(up, module_database_url):
    arn = stack_output(up, "SingleTenderStateMachineArn")
    execution = up.client("stepfunctions").start_execution(stateMachineArn=arn, input='{"ocid": "134030"}')
    name = execution["executionArn"].rsplit(":", 1)[-1]
    alert = up.wait_for(rf"alert .*{name}", 60)
    assert "its job_log row, or the execution's error if it has none, says why." in alert
    assert alert.endswith(
        "Why: InvalidInput: invalid single-tender input: ocid: ocid '134030' is not prefix-publisher-id shaped"
    )
    assert query(
        module_database_url, "SELECT count(*) FROM job_log WHERE execution_id = %s", execution["executionArn"]
    ) == [(0,)]


def test_a_sync_started_with_the_aws_cli_runs_and_is_stored(up, module_database_url):
    execution = start(up, "sync")
    description = up.wait_for_end(execution)

    assert (
        aws(
            up,
            "stepfunctions",
            "describe-execution",
            "--execution-arn",
            execution,
            "--query",
            "status",
            "--output",
            "text",
        )
        == "SUCCEEDED"
    ), description
    history = json.loads(
        aws(
            up,
            "stepfunctions",
            "get-execution-history",
            "--execution-arn",
            execution,
            "--reverse-order",
            "--max-items",
            "20",
        )
    )["events"]
    assert len(history) == 20 and history[0]["type"] == "ExecutionSucceeded" and history[0]["id"] > history[-1]["id"]
    listed = json.loads(
        aws(up, "stepfunctions", "list-executions", "--state-machine-arn", stack_output(up, "SyncStateMachineArn"))
    )["executions"]
    assert [e["status"] for e in listed if e["executionArn"] == execution] == ["SUCCEEDED"]
    map_run = json.loads(aws(up, "stepfunctions", "list-map-runs", "--execution-arn", execution))["mapRuns"][0]
    counts = json.loads(aws(up, "stepfunctions", "describe-map-run", "--map-run-arn", map_run["mapRunArn"]))[
        "itemCounts"
    ]
    assert counts["total"] > 0 and counts["succeeded"] == counts["total"]

    (job,) = query(
        module_database_url,
        "SELECT status, fetched, triggered_by, window_from::text, window_to::text FROM job_log WHERE execution_id = %s",
        execution,
    )
    assert job == ("SUCCESS", 56, "cli", "2025-09-01", "2025-09-08")
    assert query(module_database_url, "SELECT count(*) FROM tenders") == [(49,)]
    assert query(module_database_url, "SELECT count(*) FROM tenders WHERE enrichment_status = 'enriched'") == [(49,)]

    # make cli against the stack finds the database through the stack's secret, with nothing but the endpoint set.
    runs = subprocess.run(
        [sys.executable, "-m", "local.cli", "--stack", "TenderSync", "runs", "--limit", "5"],
        cwd=ROOT,
        env=up.shell_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert runs.returncode == 0, runs.stderr
    assert execution.rsplit(":", 1)[-1] in runs.stdout and "SUCCESS" in runs.stdout


def stopped_backfill(up: RunningUp) -> tuple[str, dict[str, Any]]:
    """A backfill (26 windows) stopped as soon as it works its first. moto's interpreter, stopped at the instant it
    evaluates a task's resource, can end the execution FAILED ("'dict' object has no attribute 'region'") where
    AWS ends it ABORTED: that race of moto's is tried again, twice at most."""
    for _ in range(3):
        backfill = start(up, "backfill")
        sfn = up.client("stepfunctions")
        deadline = time.monotonic() + 30
        while not any(
            event.get("stateEnteredEventDetails", {}).get("name") == "FetchReleases"
            for event in sfn.get_execution_history(executionArn=backfill)["events"]
        ):
            assert time.monotonic() < deadline, "the backfill never reached FetchReleases"
            time.sleep(0.05)
        aws(up, "stepfunctions", "stop-execution", "--execution-arn", backfill)
        ended = up.wait_for_end(backfill)
        if not (ended["status"] == "FAILED" and "no attribute 'region'" in str(ended.get("cause"))):
            return backfill, ended
    return backfill, ended


def test_each_workflow_starts_with_its_documented_input_and_a_stopped_one_raises_the_alert(up, module_database_url):
    backfill, ended = stopped_backfill(up)
    assert ended["status"] == "ABORTED", ended
    alert = up.wait_for(rf"alert .*{backfill.rsplit(':', 1)[-1]}", 10)
    assert "ended ABORTED" in alert and "BackfillWorkflowBackfillStateMachine" in alert
    # stopped mid-run, its job is left RUNNING (no FailJob runs for an abort, as on AWS) until cleanup sees it
    assert query(module_database_url, "SELECT status FROM job_log WHERE execution_id = %s", backfill) == [("RUNNING",)]

    for workflow in ("enrich-today", "single-tender", "cleanup"):
        execution = start(up, workflow)
        assert up.wait_for_end(execution)["status"] == "SUCCEEDED", workflow
        (status,) = query(module_database_url, "SELECT status FROM job_log WHERE execution_id = %s", execution)[0]
        assert status == "SUCCESS", workflow

    (job,) = query(module_database_url, "SELECT status, error FROM job_log WHERE execution_id = %s", backfill)
    assert job[0] == "FAILED" and "ABORTED" in job[1]
    assert query(module_database_url, "SELECT count(*) FROM tenders WHERE ocid = 'ocds-9t57fa-134030'") == [(1,)]


def test_an_unnamed_start_with_another_input_is_a_new_execution(up):
    arn = stack_output(up, "CleanupStateMachineArn")
    sfn = up.client("stepfunctions")
    first = sfn.start_execution(stateMachineArn=arn, input='{"triggeredBy": "one"}')["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, input='{"triggeredBy": "two"}')["executionArn"]

    assert first != second
    assert re.fullmatch(r"[0-9a-f-]{36}", first.rsplit(":", 1)[-1])


def test_schedules_fire_with_their_inputs_at_a_short_rate(server_url):
    with fresh_database(server_url) as database_url, running_up(database_url, "--schedule-every", "3") as up:
        up.wait_for(r"^SyncSchedule\w* \(rate\(30 minutes\)\) started", 30)
        up.wait_for(r"^CleanupSchedule\w* \(rate\(1 day\)\) started", 5)
        up.wait_for(r"^SyncWorkflow\w* \S+: SUCCEEDED", 90)
        sfn = up.client("stepfunctions")
        sync_arn = {
            o["OutputKey"]: o["OutputValue"]
            for o in up.client("cloudformation").describe_stacks(StackName="TenderSync")["Stacks"][0]["Outputs"]
        }["SyncStateMachineArn"]
        executions = sfn.list_executions(stateMachineArn=sync_arn)["executions"]
        first = json.loads(sfn.describe_execution(executionArn=executions[-1]["executionArn"])["input"])

        assert first.keys() == {"maxEnrichment", "triggeredBy", "scheduledTime"}
        assert (first["maxEnrichment"], first["triggeredBy"]) == (300, "schedule")
        scheduled = datetime.strptime(first["scheduledTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs((executions[-1]["startDate"] - scheduled).total_seconds()) < 3
        triggers = {row[0] for row in query(database_url, "SELECT triggered_by FROM job_log WHERE workflow = 'sync'")}
        assert triggers == {"schedule"}
        assert query(database_url, "SELECT count(*) FROM job_log WHERE workflow = 'cleanup'")[0][0] >= 1


def test_ctrl_c_stops_the_executions_still_running_and_everything_it_started(server_url):
    with fresh_database(server_url) as database_url, running_up(database_url) as up:
        # The live sample source's first weeks: thousands of tenders a window, still running when stopped.
        backfill = up.client("stepfunctions").start_execution(
            stateMachineArn=stack_output(up, "BackfillStateMachineArn"),
            input=json.dumps({"from": "2025-09-01", "to": "2025-12-01", "windowDays": 7}),
        )["executionArn"]
        deadline = time.monotonic() + 60
        while not query(database_url, "SELECT 1 FROM job_log WHERE execution_id = %s", backfill):
            assert time.monotonic() < deadline, "the backfill never opened its job"
            time.sleep(0.1)
        stopped_at = datetime.now(UTC)
        up.process.send_signal(signal.SIGINT)
        up.process.wait(timeout=60)
        assert up.process.returncode == 0, "\n".join(up.lines)
        # Its end printed; its job closed as stopped, as of then; the database kept. (moto, stopping a task in
        # flight, may end it FAILED with "'dict' object has no attribute 'region'" where AWS ends it ABORTED: that
        # race of moto's is taken for the stop it is, as in test_console.py.)
        ended = up.wait_for(rf"^BackfillWorkflow\w* {backfill.rsplit(':', 1)[-1]}: (ABORTED|FAILED) in ", 5)
        assert "ABORTED" in ended or any("no attribute 'region'" in line for line in up.lines), "\n".join(up.lines)
        up.wait_for(r"^stopped; the database keeps its data", 5)
        ((status, error, finished_at),) = query(
            database_url, "SELECT status, error, finished_at FROM job_log WHERE execution_id = %s", backfill
        )
        assert (status, error) == ("FAILED", "stopped: Ctrl-C")
        assert abs((finished_at - stopped_at).total_seconds()) < 30


def test_a_bad_port_or_a_port_in_use_is_refused_naming_it(up):
    bad = subprocess.run(
        [sys.executable, "-m", "local.up", "--port", "70000"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "'70000' is not a port" in bad.stderr
    port = up.endpoint.rsplit(":", 1)[-1]
    taken = subprocess.run(
        [sys.executable, "-m", "local.up", "--port", port], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert taken.returncode == 1 and f"--port {port}: cannot listen on 127.0.0.1:{port}" in taken.stderr
