"""The enrichment Map runs its children as Express executions on AWS (cheaper: see `make cost`), and as
Standard ones locally, because moto's interpreter has none (docs/DESIGN.md; local/engine/stack.py
local_definition)."""
import json

from local.engine.stack import LocalStack, local_definition
from tender_sync.workflows import SYNC
from tests.infra.conftest import rendered_definitions

EXPRESS_LIMIT_SECONDS = 5 * 60


def _sync(template: dict) -> tuple[str, dict]:
    logical_id = SYNC.state_machine_id(template)
    return logical_id, json.loads(rendered_definitions(template)[logical_id])


def test_the_deployed_maps_run_express_children(synthesis):
    """The sync's Map, and the same Map in every workflow that enriches."""
    maps = [
        json.loads(definition)["States"]["EnrichTenders"]
        for definition in rendered_definitions(synthesis.template).values()
        if "EnrichTenders" in json.loads(definition)["States"]
    ]
    assert len(maps) == 4  # sync, enrich-today, backfill, single tender
    for enrich_tenders in maps:
        config = enrich_tenders["ItemProcessor"]["ProcessorConfig"]
        assert config == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}


def test_an_express_child_ends_within_five_minutes_at_worst(synthesis):
    """Every task of a child in turn, each attempt running to its function's timeout, each retry waiting
    its longest delay: still inside Express's 5-minute limit, so a child is never cut short."""
    _, definition = _sync(synthesis.template)
    functions = {
        logical_id: resource["Properties"]
        for logical_id, resource in synthesis.template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    worst = 0.0
    for state in definition["States"]["EnrichTenders"]["ItemProcessor"]["States"].values():
        if state["Type"] != "Task":
            continue
        timeout = functions[state["Resource"].rsplit(":", 1)[-1]]["Timeout"]
        attempts, delays = 1, 0.0
        for retrier in state.get("Retry", []):
            retries = retrier.get("MaxAttempts", 3)
            attempts += retries
            interval, backoff = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
            cap = retrier.get("MaxDelaySeconds", float("inf"))
            delays += sum(min(interval * backoff**n, cap) for n in range(retries))
        worst += attempts * timeout + delays
    assert 0 < worst <= EXPRESS_LIMIT_SECONDS


def test_the_local_runner_runs_the_same_definition_with_standard_children(template_dict):
    logical_id, deployed = _sync(template_dict)
    with LocalStack(template_dict, {}) as local:
        created = local.sfn.describe_state_machine(stateMachineArn=local.state_machines[logical_id])
    local = json.loads(created["definition"])
    assert local["States"]["EnrichTenders"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    # Nothing else differs.
    local["States"]["EnrichTenders"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "EXPRESS"
    assert local == deployed


def test_local_definition_leaves_standard_children_and_inline_maps_alone():
    definition = {
        "StartAt": "Inline",
        "States": {
            "Inline": {"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "Next": "Standard"},
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
