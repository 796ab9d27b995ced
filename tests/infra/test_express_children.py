"""The enrichment Map runs its children as Express executions on AWS (cheaper: see `make cost`), and as
Standard ones locally, because moto's interpreter has none (docs/local-development.md, "What the local run
adapts"; local/engine/stack.py local_definition). What a child outputs is gathered by its Map, so it must not grow with the run."""

import importlib
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from local.engine.stack import LambdaContext, LocalStack, local_definition, start_functions_cold
from tender_sync.workflows import SYNC
from tests.helpers.recorded_run import RecordedRun
from tests.helpers.stack import rendered_definitions

EXPRESS_LIMIT_SECONDS = 5 * 60
CDK_CONTEXT = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]


def _sync(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    logical_id = SYNC.state_machine_id(template)
    return logical_id, json.loads(rendered_definitions(template)[logical_id])


def _maps(states: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Map state among these, and inside their item processors."""
    found = []
    for state in states.values():
        if state["Type"] == "Map":
            found.append(state)
            found += _maps((state.get("ItemProcessor") or state.get("Iterator") or {}).get("States", {}))
    return found


def _distributed_maps(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        state
        for definition in rendered_definitions(template).values()
        for state in _maps(json.loads(definition)["States"])
        if state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    ]


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }


@pytest.mark.slow
def test_the_deployed_maps_run_express_children(synthesis):
    """The sync's Map, and the same Map in every workflow that looks tenders up."""
    maps = _distributed_maps(synthesis.template)
    assert len(maps) == 4  # sync, enrich-today, backfill, single tender
    for look_up_tenders in maps:
        config = look_up_tenders["ItemProcessor"]["ProcessorConfig"]
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
    """LookUpBatch (2-minute timeout) with its 3 retries of the transient errors and their backoff, then
    RecordLookupFailure with the same: still inside Express's 5-minute limit, so a child is never cut short."""
    functions = _functions(synthesis.template)
    for look_up_tenders in _distributed_maps(synthesis.template):
        processor = look_up_tenders["ItemProcessor"]
        assert processor["StartAt"] == "LookUpBatch"
        assert processor["States"]["LookUpBatch"]["Catch"][0]["Next"] == "RecordLookupFailure"
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
    """Every batch's tenders are stored by StoreLookups, as failed when their batch left no result."""
    for look_up_tenders in _distributed_maps(synthesis.template):
        assert look_up_tenders["ToleratedFailurePercentage"] == 100


@pytest.mark.slow
def test_each_child_gets_its_share_of_the_portals_rate(synthesis):
    context = {**CDK_CONTEXT, **synthesis.context}
    for look_up_tenders in _distributed_maps(synthesis.template):
        seconds = look_up_tenders["ItemSelector"]["secondsBetweenLookups"]
        assert look_up_tenders["MaxConcurrency"] == context["mapMaxConcurrency"]
        assert seconds == context["mapMaxConcurrency"] / context["portalRequestsPerSecond"]
        # At most MaxConcurrency children, each starting a lookup at most every `seconds`.
        assert look_up_tenders["MaxConcurrency"] / seconds == context["portalRequestsPerSecond"]


@pytest.mark.slow
def test_every_child_in_a_real_run_returned_nothing(recorded_run: RecordedRun):
    """Each LookUpBatch of the sync and of the other workflows (batches of 1 to 5 tenders) returned {}."""
    (look_up_batch,) = [
        logical_id
        for logical_id, properties in _functions(recorded_run.template).items()
        if properties["Handler"] == "tender_sync.handlers.look_up_batch.handler"
    ]
    outputs = [invocation.output for invocation in recorded_run.invocations if invocation.function == look_up_batch]
    assert len(outputs) >= recorded_run.output["lookups"]["batches"] > 1
    assert outputs == [{}] * len(outputs)


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
def test_the_local_runner_runs_the_same_definition_with_standard_children(template_dict):
    logical_id, deployed = _sync(template_dict)
    with LocalStack(template_dict, {}) as local:
        created = local.sfn.describe_state_machine(stateMachineArn=local.state_machines[logical_id])
    local = json.loads(created["definition"])
    enrich = local["States"]["LookUpTenders"]
    assert enrich["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    # moto's parser wants a float: the same number.
    assert enrich["ToleratedFailurePercentage"] == 100.0 and isinstance(enrich["ToleratedFailurePercentage"], float)
    # Nothing else differs.
    enrich["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "EXPRESS"
    enrich["ToleratedFailurePercentage"] = 100
    assert json.dumps(local, sort_keys=True) == json.dumps(deployed, sort_keys=True)


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
