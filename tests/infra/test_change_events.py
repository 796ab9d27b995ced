"""Change events (issue 12): the bus, its schema in the registry, the optional changes queue, who may put events on
the bus, and how every job workflow announces its changes without ever failing a run for it. Asserted in the
synthesized template."""

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from jsonschema import Draft4Validator

from infra.config import StackConfig
from infra.stack import build_stack
from tender_sync.changes.events import event_schema
from tender_sync.workflows import BACKFILL, JOB_WORKFLOWS, Workflow
from tests.helpers.stack import RETRY, function_ids, render_definition, single_resource

ROOT = Path(__file__).parents[2]
CDK_CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]
FOUR_DAYS, FOURTEEN_DAYS = 4 * 24 * 3600, 14 * 24 * 3600


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {logical_id: r for logical_id, r in template["Resources"].items() if r["Type"] == kind}


def _arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _state_machine_role(template: dict[str, Any], workflow: Workflow[Any]) -> str:
    state_machine = template["Resources"][workflow.state_machine_id(template)]
    return state_machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]


# The logical ids of the change events' resources (infra/changes.py's construct).
CHANGE_EVENTS = "ChangeEvents"


@pytest.fixture(scope="module")
def template_json(template: Template) -> dict[str, Any]:
    return dict(template.to_json())


@pytest.fixture(scope="module")
def with_queue(overridden_template: Template) -> dict[str, Any]:
    """The stack with every option, changesQueue among them."""
    return dict(overridden_template.to_json())


@pytest.fixture(scope="module")
def queues(with_queue: dict[str, Any]) -> tuple[str, str]:
    """The logical ids of the changes queue and its dead-letter queue."""
    (queue,) = [
        k
        for k, r in _resources(with_queue, "AWS::SQS::Queue").items()
        if k.startswith(CHANGE_EVENTS) and "RedrivePolicy" in r["Properties"]
    ]
    dead_letter_queue = with_queue["Resources"][queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"][
        "Fn::GetAtt"
    ][0]
    return queue, dead_letter_queue


# The bus and the schema


@pytest.mark.slow
def test_one_bus_named_as_cdk_json_names_it(template_json: dict[str, Any]):
    (bus,) = _resources(template_json, "AWS::Events::EventBus").values()
    assert CDK_CONTEXT["eventBusName"] == "tender-sync"
    assert bus["Properties"] == {"Name": "tender-sync"}
    assert template_json["Outputs"]["ChangeEventsBusName"]["Value"] == {
        "Ref": single_resource(template_json, "AWS::Events::EventBus")
    }


@pytest.mark.slow
def test_the_schema_is_registered_as_draft_4_in_a_registry_named_as_the_bus(template_json: dict[str, Any]):
    [(registry_id, registry)] = _resources(template_json, "AWS::EventSchemas::Registry").items()
    [(schema_id, schema)] = _resources(template_json, "AWS::EventSchemas::Schema").items()
    assert registry["Properties"]["RegistryName"] == "tender-sync"
    properties = schema["Properties"]
    assert properties["RegistryName"] == {"Fn::GetAtt": [registry_id, "RegistryName"]}
    # As EventBridge's schema discovery names a schema: source@DetailType.
    assert properties["SchemaName"] == "tender-sync@TendersChanged"
    assert properties["Type"] == "JSONSchemaDraft4"
    assert json.loads(properties["Content"]) == event_schema()
    assert template_json["Outputs"]["ChangeEventsSchemaName"]["Value"] == {"Fn::GetAtt": [schema_id, "SchemaName"]}


@pytest.mark.slow
def test_the_registered_schema_is_valid_draft_4(template_json: dict[str, Any]):
    (schema,) = _resources(template_json, "AWS::EventSchemas::Schema").values()
    Draft4Validator.check_schema(json.loads(schema["Properties"]["Content"]))


@pytest.mark.slow
def test_the_registered_schema_is_the_one_in_the_repository(template_json: dict[str, Any]):
    """docs/schemas/tenders-changed.json, which consumers read (tests/unit/test_change_schemas.py checks it is
    current, and validates events against it)."""
    (schema,) = _resources(template_json, "AWS::EventSchemas::Schema").values()
    in_repository = ROOT / "docs" / "schemas" / "tenders-changed.json"
    assert json.loads(schema["Properties"]["Content"]) == json.loads(in_repository.read_text())


@pytest.mark.slow
def test_the_bus_name_comes_from_context():
    template = dict(Template.from_stack(build_stack({"eventBusName": "tender-sync-staging"})).to_json())
    (bus,) = _resources(template, "AWS::Events::EventBus").values()
    (registry,) = _resources(template, "AWS::EventSchemas::Registry").values()
    assert bus["Properties"]["Name"] == registry["Properties"]["RegistryName"] == "tender-sync-staging"
    # PrepareChanges names the bus in each PutEvents entry.
    prepare_changes = template["Resources"][function_ids(Template.from_json(template))["PrepareChanges"]]
    assert prepare_changes["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == "tender-sync-staging"


# The changes queue


@pytest.mark.slow
def test_no_queue_unless_asked_for(template_json: dict[str, Any]):
    assert CDK_CONTEXT["changesQueue"] is False
    # (The app's events have a queue of their own on the same bus: test_app_events.py.)
    for kind in ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "AWS::Events::Rule"):
        assert not [k for k in _resources(template_json, kind) if k.startswith(CHANGE_EVENTS)], kind
    assert not {"ChangesQueueUrl", "ChangesDeadLetterQueueUrl"} & set(template_json["Outputs"])


@pytest.mark.slow
def test_the_queue_is_encrypted_and_redrives_to_its_longer_kept_dead_letter_queue_after_five_receives(
    with_queue: dict[str, Any], queues: tuple[str, str]
):
    queue, dead_letter_queue = queues
    assert {k for k in _resources(with_queue, "AWS::SQS::Queue") if k.startswith(CHANGE_EVENTS)} == {
        queue,
        dead_letter_queue,
    }
    assert with_queue["Resources"][queue]["Properties"] == {
        "SqsManagedSseEnabled": True,
        "MessageRetentionPeriod": FOUR_DAYS,
        "RedrivePolicy": {"deadLetterTargetArn": _arn(dead_letter_queue), "maxReceiveCount": 5},
    }
    assert with_queue["Resources"][dead_letter_queue]["Properties"] == {
        "SqsManagedSseEnabled": True,
        "MessageRetentionPeriod": FOURTEEN_DAYS,
    }
    assert with_queue["Outputs"]["ChangesQueueUrl"]["Value"] == {"Ref": queue}
    assert with_queue["Outputs"]["ChangesDeadLetterQueueUrl"]["Value"] == {"Ref": dead_letter_queue}


def _rule(template: dict[str, Any]) -> str:
    bus = {"Ref": single_resource(template, "AWS::Events::EventBus")}
    (rule,) = [
        k
        for k, r in _resources(template, "AWS::Events::Rule").items()
        if r["Properties"].get("EventBusName") == bus and k.startswith(CHANGE_EVENTS)
    ]
    return rule


@pytest.mark.slow
def test_a_rule_on_the_bus_sends_every_tenders_changed_event_to_the_queue(
    with_queue: dict[str, Any], queues: tuple[str, str]
):
    queue, dead_letter_queue = queues
    rule = with_queue["Resources"][_rule(with_queue)]["Properties"]
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {"source": ["tender-sync"], "detail-type": ["Tenders Changed"]}
    (target,) = rule["Targets"]
    # What EventBridge cannot deliver (within a day) goes to the same dead-letter queue.
    assert {k: v for k, v in target.items() if k != "Id"} == {
        "Arn": _arn(queue),
        "DeadLetterConfig": {"Arn": _arn(dead_letter_queue)},
        "RetryPolicy": {"MaximumEventAgeInSeconds": 24 * 3600},
    }


def _queue_policy(template: dict[str, Any], queue: str) -> list[dict[str, Any]]:
    (policy,) = [
        r["Properties"]
        for r in _resources(template, "AWS::SQS::QueuePolicy").values()
        if r["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    return [{k: v for k, v in statement.items() if k != "Sid"} for statement in policy["PolicyDocument"]["Statement"]]


def _ssl_only(queue: str) -> dict[str, Any]:
    return {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "sqs:*",
        "Resource": _arn(queue),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


@pytest.mark.slow
def test_only_the_rule_may_send_to_the_queues_and_only_over_tls(with_queue: dict[str, Any], queues: tuple[str, str]):
    queue, dead_letter_queue = queues
    from_the_rule = {"ArnEquals": {"aws:SourceArn": _arn(_rule(with_queue))}}
    assert _queue_policy(with_queue, queue) == [
        _ssl_only(queue),
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
            "Resource": _arn(queue),
            "Condition": from_the_rule,
        },
    ]
    # The rule's target dead-letter queue; the redrive from the queue needs no policy.
    assert _queue_policy(with_queue, dead_letter_queue) == [
        _ssl_only(dead_letter_queue),
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": _arn(dead_letter_queue),
            "Condition": from_the_rule,
        },
    ]


# Who may put events


def _eventbridge_statements(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Role logical id -> the statements of its policies that name any events: action."""
    statements: dict[str, list[dict[str, Any]]] = {}
    for policy in _resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action.startswith("events:") for action in actions):
                for role in policy["Properties"]["Roles"]:
                    statements.setdefault(role["Ref"], []).append(statement)
    return statements


@pytest.mark.slow
@pytest.mark.parametrize("name", ["defaults", "every-option"])
def test_only_the_job_workflows_may_put_events_and_only_on_the_bus(
    name: str, template_json: dict[str, Any], with_queue: dict[str, Any]
):
    """No function's role, nor the cleanup's, may touch EventBridge; each job workflow's state machine may put
    events on this bus, no other, and nothing more."""
    template = {"defaults": template_json, "every-option": with_queue}[name]
    bus = single_resource(template, "AWS::Events::EventBus")
    put_events_on_the_bus = [{"Action": "events:PutEvents", "Effect": "Allow", "Resource": _arn(bus)}]
    assert _eventbridge_statements(template) == {
        _state_machine_role(template, workflow): put_events_on_the_bus for workflow in JOB_WORKFLOWS
    }


# How each job workflow announces its changes


@pytest.mark.slow
@pytest.mark.parametrize("workflow", JOB_WORKFLOWS, ids=lambda workflow: workflow.name)
def test_the_changes_are_announced_after_the_lookups_and_a_failure_never_fails_the_run(
    template: Template, workflow: Workflow[Any]
):
    """PrepareChanges -> AnythingToAnnounce? -> PublishChanges -> RecordPublished -> the workflow's next step
    (FinishJob; NextWindow for a backfill). The window is stored by then: PrepareChanges and RecordPublished are
    caught to that next step, not FailJob, and PublishChanges, once its retries are spent, to RecordPublished."""
    states = render_definition(template, workflow.stack_output)["States"]
    ids = function_ids(template)
    after = "NextWindow" if workflow is BACKFILL else "FinishJob"
    announce_error = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.announceError", "Next": after}]
    assert states["StoreLookups"]["Next"] == "PrepareChanges"
    assert states["AnythingToLookUp?"]["Choices"][0]["Next"] == "PrepareChanges"
    assert states["PrepareChanges"] == {
        "Type": "Task",
        "Resource": "${GetAtt:" + ids["PrepareChanges"] + ".Arn}",
        "Parameters": {"job.$": "$.job"},
        "ResultPath": "$.changes",
        "Retry": RETRY,
        "Catch": announce_error,
        "Next": "AnythingToAnnounce?",
    }
    assert states["AnythingToAnnounce?"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.changes.count", "NumericEquals": 0, "Next": after}],
        "Default": "PublishChanges",
    }
    # EventBridge's own integration, no Lambda: the entries are PrepareChanges', each naming the bus.
    assert states["PublishChanges"] == {
        "Type": "Task",
        "Resource": "arn:${Ref:AWS::Partition}:states:::events:putEvents",
        "Parameters": {"Entries.$": "$.changes.entries"},
        "ResultPath": "$.published",
        "Retry": [
            {
                "ErrorEquals": ["States.ALL"],
                "IntervalSeconds": 1,
                "MaxAttempts": 3,
                "BackoffRate": 2,
                "JitterStrategy": "FULL",
            }
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.published", "Next": "RecordPublished"}],
        "Next": "RecordPublished",
    }
    # The whole state: the job, the events, and PublishChanges' error if it gave up.
    assert states["RecordPublished"] == {
        "Type": "Task",
        "Resource": "${GetAtt:" + ids["RecordPublished"] + ".Arn}",
        "ResultPath": "$.announced",
        "Retry": RETRY,
        "Catch": announce_error,
        "Next": after,
    }


# Config


@pytest.mark.parametrize(
    ("given", "expected"), [("true", True), ("false", False), (" TRUE ", True), (True, True), (False, False)]
)
def test_changes_queue_is_true_or_false_also_as_given_on_the_command_line(given, expected: bool):
    assert StackConfig.from_context(App(context={"changesQueue": given}).node).changes_queue is expected


@pytest.mark.parametrize("given", ["yes", "on", "", 1])
def test_changes_queue_refuses_anything_else(given):
    with pytest.raises(TypeError, match="'changesQueue' must be true or false"):
        StackConfig.from_context(App(context={"changesQueue": given}).node)


@pytest.mark.parametrize("name", ["default", "has space", "", "tenders/changes", "x" * 257])
def test_a_bad_bus_name_is_refused_naming_the_key(name: str):
    with pytest.raises(ValueError, match="'eventBusName' must be a bus name"):
        StackConfig.from_context(App(context={"eventBusName": name}).node)


def test_a_bus_name_of_letters_digits_dots_dashes_and_underscores_is_taken():
    assert StackConfig.from_context(App(context={"eventBusName": "tender_sync.staging-2"}).node).event_bus_name == (
        "tender_sync.staging-2"
    )
