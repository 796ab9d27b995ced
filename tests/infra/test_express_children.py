"""The Distributed Maps (the lookups' in every workflow that looks tenders up, the deliveries' in alerts) run their
children as Express executions on AWS (cheaper: see `make cost`), and as Standard ones locally, because moto's
interpreter has none (docs/local-development.md, "What the local run adapts"; local/engine/stack.py
local_definition). What a child outputs is gathered by its Map, so it must not grow with the run."""

import importlib
import json
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from infra.config import ALERT_DELIVERY_CONCURRENCY
from local.engine.stack import LambdaContext, LocalStack, local_definition, start_functions_cold
from tests.helpers.recorded_run import RecordedRun
from tests.helpers.stack import rendered_definitions

EXPRESS_LIMIT_SECONDS = 5 * 60
CDK_CONTEXT = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
# Each kind of child, by the task it starts with: the task its Catch records the batch's failure with.
FAILURE_RECORDS = {"LookUpBatch": "RecordLookupFailure", "DeliverBatch": "RecordDeliveryFailure"}


def _maps(states: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Map state among these, and inside their item processors."""
    found = []
    for state in states.values():
        if state["Type"] == "Map":
            found.append(state)
            found += _maps((state.get("ItemProcessor") or state.get("Iterator") or {}).get("States", {}))
    return found


def _distributed(states: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        state
        for state in _maps(states)
        if state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    ]


def _distributed_maps(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        state
        for definition in rendered_definitions(template).values()
        for state in _distributed(json.loads(definition)["States"])
    ]


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }


@pytest.mark.slow
def test_the_deployed_maps_run_express_children(synthesis):
    """The sync's Map, the same Map in every workflow that looks tenders up, and the alerts' deliveries Map."""
    maps = _distributed_maps(synthesis.template)
    # sync, enrich-today, backfill, single tender; alerts
    assert Counter(m["ItemProcessor"]["StartAt"] for m in maps) == {"LookUpBatch": 4, "DeliverBatch": 1}
    for distributed_map in maps:
        config = distributed_map["ItemProcessor"]["ProcessorConfig"]
        assert config == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}


def _worst_seconds(state: dict[str, Any], functions: dict[str, dict[str, Any]]) -> float:
    """One task at its worst: every attempt running to its function's timeout, each retry waiting its longest
    delay (FULL jitter waits at most the computed delay)."""
    timeout = functions[state["Resource"].rsplit(":", 1)[-1]]["Timeout"]
    attempts, delays = 1, 0.0
    for retrier in state.get("Retry", []):
        retries = retrier.get("MaxAttempts", 3)
        attempts += retries
        interval, backoff = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
        cap = retrier.get("MaxDelaySeconds", float("inf"))
        delays += sum(min(interval * backoff**n, cap) for n in range(retries))
    return attempts * timeout + delays


def _worst_path(processor: dict[str, Any], functions: dict[str, dict[str, Any]], name: str | None = None) -> float:
    """The longest way through a child: each task at its worst, then the slowest of where it may go next (its
    Next, or a Catch's: LookUpBatch failing after its retries, then RecordLookupFailure)."""
    state = processor["States"][name or processor["StartAt"]]
    own = _worst_seconds(state, functions) if state["Type"] == "Task" else 0.0
    following = [state["Next"]] if "Next" in state else []
    following += [catcher["Next"] for catcher in state.get("Catch", [])]
    return own + max((_worst_path(processor, functions, after) for after in following), default=0.0)


@pytest.mark.slow
def test_an_express_child_ends_within_five_minutes_at_worst(synthesis):
    """Every Distributed Map's child: its batch task (LookUpBatch, DeliverBatch) with its 3 retries of the
    transient errors and their backoff, then its failure record (RecordLookupFailure, RecordDeliveryFailure) with
    the same: still inside Express's 5-minute limit, so a child is never cut short."""
    functions = _functions(synthesis.template)
    for distributed_map in _distributed_maps(synthesis.template):
        processor = distributed_map["ItemProcessor"]
        start = processor["StartAt"]
        assert processor["States"][start]["Catch"][0]["Next"] == FAILURE_RECORDS[start]
        worst = _worst_path(processor, functions)
        assert 0 < worst <= EXPRESS_LIMIT_SECONDS, (
            f"a child may run {worst:g} s (each task: attempts x timeout + retry delays), over Express's "
            f"{EXPRESS_LIMIT_SECONDS} s"
        )


def test_worst_case_arithmetic():
    """The worst case as the test above works it out, on a known child: 30 s timeout, 3 retries (2, 4, 8 s)."""
    retry = [{"ErrorEquals": ["X"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2, "MaxDelaySeconds": 30}]
    processor = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "arn:f:F",
                "Retry": retry,
                "End": True,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}],
            },
            "B": {"Type": "Task", "Resource": "arn:f:F", "Retry": retry, "End": True},
        },
    }
    assert _worst_path(processor, {"F": {"Timeout": 30}}) == 2 * (4 * 30 + 2 + 4 + 8)


def _outputs_cannot_grow(distributed_map: dict[str, Any], functions: dict[str, dict[str, Any]]) -> bool:
    """A ResultWriter sends the children's outputs to S3; without one, each child must end only in a Lambda task
    whose output is the function's own result: ResultPath $, no ResultSelector or OutputPath, and the function's
    ARN as Resource (so not lambda:invoke's {Payload, ...} wrapper), never the child's input."""
    if "ResultWriter" in distributed_map:
        return True
    states = distributed_map["ItemProcessor"]["States"]
    ends = [state for state in states.values() if state.get("End") or state["Type"] == "Succeed"]
    return bool(ends) and all(
        state["Type"] == "Task"
        and state["Resource"].rsplit(":", 1)[-1] in functions
        and state.get("ResultPath") == "$"
        and not {"ResultSelector", "OutputPath", "Output"} & set(state)
        for state in ends
    )


@pytest.mark.slow
def test_no_distributed_map_gathers_outputs_that_can_grow(synthesis):
    """A Distributed Map gathers every child's output (a run fails past 256 KiB), unless a ResultWriter sends
    them to S3: each Map here has one, or children whose output is their Lambda's result (LookUpBatch's: {})."""
    functions = _functions(synthesis.template)
    maps = _distributed_maps(synthesis.template)
    assert maps
    for distributed_map in maps:
        assert _outputs_cannot_grow(distributed_map, functions), json.dumps(distributed_map)[:300]


@pytest.mark.slow
def test_a_child_passing_its_input_on_is_found(synthesis):
    """The check above catches a child whose output is its batch (ResultPath null: the input passes through),
    a Pass state at the end, and lambda:invoke's wrapper; a ResultWriter makes any of them safe."""
    functions = _functions(synthesis.template)
    (distributed_map, *_) = _distributed_maps(synthesis.template)
    for name, change in (
        ("LookUpBatch", {"ResultPath": None}),
        ("RecordLookupFailure", {"ResultPath": "$.recorded"}),
        ("LookUpBatch", {"OutputPath": "$.item"}),
        ("LookUpBatch", {"Resource": "arn:aws:states:::lambda:invoke"}),
        ("RecordLookupFailure", {"Type": "Pass", "Resource": None}),
    ):
        changed = json.loads(json.dumps(distributed_map))
        changed["ItemProcessor"]["States"][name].update(change)
        assert not _outputs_cannot_grow(changed, functions), (name, change)
        assert _outputs_cannot_grow(
            {**changed, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject"}}, functions
        )


@pytest.mark.slow
def test_a_child_failing_outright_does_not_fail_the_run(synthesis):
    """Every batch's tenders are stored by StoreLookups, as failed when their batch left no result; every batch's
    deliveries by RecordDeliveries, as failed (to be retried) when theirs left none."""
    for distributed_map in _distributed_maps(synthesis.template):
        assert distributed_map["ToleratedFailurePercentage"] == 100


@pytest.mark.slow
def test_each_child_gets_its_share_of_the_rate_its_map_keeps_to(synthesis):
    """The lookups' children share portalRequestsPerSecond, the deliveries' children alertEmailsPerSecond (SES's
    sending rate): at most MaxConcurrency children, each starting a request (an email) at most every `seconds`."""
    context = {**CDK_CONTEXT, **synthesis.context}
    # The task a child starts with: the pace its ItemSelector gives it, how many run at once, the rate they share.
    paces = {
        "LookUpBatch": ("secondsBetweenLookups", context["mapMaxConcurrency"], context["portalRequestsPerSecond"]),
        "DeliverBatch": ("secondsBetweenEmails", ALERT_DELIVERY_CONCURRENCY, context["alertEmailsPerSecond"]),
    }
    for distributed_map in _distributed_maps(synthesis.template):
        pace, concurrency, rate = paces[distributed_map["ItemProcessor"]["StartAt"]]
        seconds = distributed_map["ItemSelector"][pace]
        assert distributed_map["MaxConcurrency"] == concurrency
        assert seconds == concurrency / rate
        assert distributed_map["MaxConcurrency"] / seconds == rate


@pytest.mark.slow
def test_every_child_in_a_real_run_returned_nothing(recorded_run: RecordedRun):
    """Each LookUpBatch of the sync and of the other workflows (batches of 1 to 5 tenders), and each DeliverBatch of
    the alerts run the sync's change event started, returned {}."""
    for handler, batches in (
        ("look_up_batch", recorded_run.output["lookups"]["batches"]),
        ("deliver_batch", recorded_run.alerts_runs[0].output["alerts"]["batches"]),
    ):
        (function,) = [
            logical_id
            for logical_id, properties in _functions(recorded_run.template).items()
            if properties["Handler"] == f"tender_sync.handlers.{handler}.handler"
        ]
        outputs = [invocation.output for invocation in recorded_run.invocations if invocation.function == function]
        assert len(outputs) >= batches >= 1, handler
        assert outputs == [{}] * len(outputs), handler
    assert recorded_run.output["lookups"]["batches"] > 1


@pytest.fixture
def look_up_batch_handler(monkeypatch):
    """LookUpBatch's handler, imported with its settings; it writes to S3 through `put_json`, here a mock."""
    for name, value in {
        "SOURCE_NAME": "etenders-za",
        "OCDS_BASE_URL": "http://127.0.0.1:9",
        "PORTAL_BASE_URL": "http://127.0.0.1:9",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    start_functions_cold()
    try:
        module = importlib.import_module("tender_sync.handlers.look_up_batch")
        with mock.patch.object(module, "put_json") as put_json:
            yield module.handler, put_json
    finally:
        start_functions_cold()


@pytest.mark.parametrize("error", [None, {"Error": "Lambda.ServiceException", "Cause": "the service failed"}])
def test_look_up_batch_returns_nothing_however_large_its_batch(look_up_batch_handler, error):
    """Looking a batch up, or (given the Catch's error) recording it as failed: one result object written, and {}
    returned, for 50 tenders as for one. (No tender number: each is not_found without a request.)"""
    handler, put_json = look_up_batch_handler
    tenders = [{"ocid": f"ocds-9t57fa-{n}", "tenderNumber": None} for n in range(50)]
    event = {
        "item": {"batch": 3, "tenders": tenders},
        "bucket": "b",
        "resultsPrefix": "runs/s/e/looked-up/",
        "secondsBetweenLookups": 0.0,
        **({"error": error} if error else {}),
    }
    context = LambdaContext(function_name="LookUpBatch", timeout_seconds=30)
    assert handler(event, context) == {}
    (((bucket, key, result), _),) = put_json.call_args_list
    assert (bucket, key) == ("b", "runs/s/e/looked-up/000003.json")
    assert len(result["results"]) == 50
    assert {looked["status"] for looked in result["results"]} == {"failed" if error else "not_found"}


@pytest.mark.slow
def test_the_local_runner_runs_the_same_definitions_with_standard_children(template_dict):
    """Every state machine with a Distributed Map (the sync's lookups, the alerts' deliveries, ...)."""
    deployed = {
        logical_id: json.loads(document) for logical_id, document in rendered_definitions(template_dict).items()
    }
    with LocalStack(template_dict, {}) as local:
        created = {
            logical_id: json.loads(local.sfn.describe_state_machine(stateMachineArn=arn)["definition"])
            for logical_id, arn in local.state_machines.items()
        }
    starts = set()
    for logical_id, local_document in created.items():
        for distributed_map in _distributed(local_document["States"]):
            config = distributed_map["ItemProcessor"]["ProcessorConfig"]
            assert config["ExecutionType"] == "STANDARD"
            # moto's parser wants a float: the same number.
            tolerated = distributed_map["ToleratedFailurePercentage"]
            assert tolerated == 100.0 and isinstance(tolerated, float)
            starts.add(distributed_map["ItemProcessor"]["StartAt"])
            config["ExecutionType"] = "EXPRESS"
            distributed_map["ToleratedFailurePercentage"] = 100
        # Nothing else differs.
        assert json.dumps(local_document, sort_keys=True) == json.dumps(deployed[logical_id], sort_keys=True)
    assert starts == set(FAILURE_RECORDS)


def test_local_definition_leaves_standard_children_and_inline_maps_alone():
    definition = {
        "StartAt": "Inline",
        "States": {
            "Inline": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "Next": "Standard",
            },
            "Standard": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Q",
                    "States": {"Q": {"Type": "Pass", "End": True}},
                },
                "End": True,
            },
        },
    }
    assert json.loads(local_definition(json.dumps(definition))) == definition
