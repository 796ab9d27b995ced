"""The app's events in the template: the rule on the stack's bus (the sources in eventSources, the four
detail-types) sends only to the AppEvents queue; its dead-letter queues and their alarms; StartRequested's event
source, concurrency and grants (it may start the four state machines and nothing else); and how `make up` reads
them."""

import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.app_events import BATCH_SIZE, MAX_RECEIVES
from infra.functions import CONSUMERS
from infra.stack import build_stack
from local.up.queues import queue_rules, template_mappings
from tender_sync.models.inputs import MAX_OCIDS
from tender_sync.workflows import REQUESTED, WORKFLOWS
from tests.helpers.stack import CONTEXTS, synthesize

HANDLER = "tender_sync.handlers.start_requested.handler"
DETAIL_TYPES = [
    "tender/sync.requested",
    "tender/enrich-today.requested",
    "tender/backfill.requested",
    "tender/enrich.requested",
]

pytestmark = pytest.mark.slow


def only(resources: Mapping[str, Mapping[str, Any]], where: str = "") -> tuple[str, dict[str, Any]]:
    """The one resource whose logical id contains `where`."""
    (found,) = [(logical_id, dict(r)) for logical_id, r in resources.items() if where in logical_id]
    return found


@pytest.fixture(scope="module")
def resources(template: Template) -> dict[str, Any]:
    return dict(template.to_json()["Resources"])


@pytest.fixture(scope="module")
def consumer(template: Template) -> tuple[str, dict[str, Any]]:
    return only(template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}))


def queue_id(resources: dict[str, Any], name: str) -> str:
    return only({k: r for k, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}, f"AppEvents{name}")[0]


def test_one_rule_on_the_stacks_bus_takes_the_four_detail_types_from_the_apps_sources(template: Template, resources):
    rule_id, rule = only(template.find_resources("AWS::Events::Rule"), "AppEvents")
    bus_id = only(template.find_resources("AWS::Events::EventBus"))[0]
    queue, undelivered = queue_id(resources, "Queue"), queue_id(resources, "UndeliveredQueue")

    assert rule["Properties"]["EventBusName"] == {"Ref": bus_id}
    assert rule["Properties"]["EventPattern"] == {"source": ["tender-app"], "detail-type": DETAIL_TYPES}
    assert list(REQUESTED) == DETAIL_TYPES
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [undelivered, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert "RoleArn" not in target  # the queue's policy lets the rule send, and nothing else
    for name in ("Queue", "UndeliveredQueue"):
        [policy] = [
            r
            for r in template.find_resources("AWS::SQS::QueuePolicy").values()
            if r["Properties"]["Queues"] == [{"Ref": queue_id(resources, name)}]
        ]
        allowed = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
        assert [(s["Principal"], s["Condition"]) for s in allowed] == [
            ({"Service": "events.amazonaws.com"}, {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}})
        ]


def test_the_rule_takes_the_sources_eventsources_names():
    template = Template.from_stack(build_stack({"eventSources": ["tender-app", "admin-dashboard"]}))
    _, rule = only(template.find_resources("AWS::Events::Rule"), "AppEvents")
    assert rule["Properties"]["EventPattern"]["source"] == ["tender-app", "admin-dashboard"]


def test_the_queue_has_a_dead_letter_queue_and_outlasts_six_of_its_consumers_timeouts(resources, consumer):
    queue = resources[queue_id(resources, "Queue")]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [queue_id(resources, "DeadLetterQueue"), "Arn"]},
        "maxReceiveCount": MAX_RECEIVES,
    }
    timeout = consumer[1]["Properties"]["Timeout"]
    assert timeout == 900
    assert queue["VisibilityTimeout"] >= 6 * timeout + 15
    for name in ("Queue", "DeadLetterQueue", "UndeliveredQueue"):
        assert resources[queue_id(resources, name)]["Properties"]["SqsManagedSseEnabled"] is True


def test_an_alarm_on_each_dead_letter_queue_notifies_the_alerts_topic_and_shows_on_the_dashboard(
    template: Template, resources
):
    topic = only(template.find_resources("AWS::SNS::Topic"))[0]
    dashboard = json.dumps(only(template.find_resources("AWS::CloudWatch::Dashboard"))[1])
    for name in ("DeadLetterQueue", "UndeliveredQueue"):
        alarm_id, alarm = only(
            template.find_resources(
                "AWS::CloudWatch::Alarm",
                {"Properties": {"Dimensions": [{"Value": {"Fn::GetAtt": [queue_id(resources, name), "QueueName"]}}]}},
            )
        )
        properties = alarm["Properties"]
        assert (properties["MetricName"], properties["Statistic"], properties["Threshold"]) == (
            "ApproximateNumberOfMessagesVisible",
            "Maximum",
            1,
        )
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert properties["AlarmActions"] == [{"Ref": topic}]
        assert alarm_id in dashboard


def test_the_consumer_takes_capped_batches_one_or_two_at_a_time(template: Template, resources, consumer):
    consumer_id, function = consumer
    [mapping] = template.find_resources(
        "AWS::Lambda::EventSourceMapping", {"Properties": {"FunctionName": {"Ref": consumer_id}}}
    ).values()
    properties = mapping["Properties"]

    assert properties["EventSourceArn"] == {"Fn::GetAtt": [queue_id(resources, "Queue"), "Arn"]}
    assert properties["BatchSize"] == BATCH_SIZE == MAX_OCIDS
    assert 10 <= properties["MaximumBatchingWindowInSeconds"] <= 20
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # AWS's lowest maximum concurrency for an SQS event source, and a reserved concurrency no smaller, so that the
    # event source is never throttled (a throttled batch would go back to the queue, towards its dead-letter queue).
    assert properties["ScalingConfig"] == {"MaximumConcurrency": CONSUMERS} and CONSUMERS == 2
    assert function["Properties"]["ReservedConcurrentExecutions"] == CONSUMERS


def test_the_consumer_may_start_the_four_state_machines_and_nothing_else(template: Template, resources, consumer):
    _consumer_id, function = consumer
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    machines = {w.name: w.state_machine_id({"Outputs": template.to_json()["Outputs"]}) for w in WORKFLOWS.values()}
    requested = [machines[w.name] for w in REQUESTED.values()]
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]

    def granted(action: str) -> list[Any]:
        return [
            s["Resource"]
            for s in statements
            if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        ]

    assert sorted(r["Ref"] for r in granted("states:StartExecution")) == sorted(requested)
    [described] = granted("states:DescribeExecution")
    assert sorted(part["Fn::Join"][1][-2]["Fn::GetAtt"][0] for part in described) == sorted(requested)
    assert machines["cleanup"] not in json.dumps(statements)
    assert granted("sqs:ReceiveMessage") == [{"Fn::GetAtt": [queue_id(resources, "Queue"), "Arn"]}]
    assert {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])} == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "secretsmanager:GetSecretValue",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "states:StartExecution",
        "states:DescribeExecution",
    }
    variables = function["Properties"]["Environment"]["Variables"]
    assert {w.arn_variable: {"Ref": machines[w.name]} for w in REQUESTED.values()}.items() <= variables.items()
    assert "DATABASE_SECRET_ARN" in variables


def test_in_a_vpc_the_consumer_runs_in_its_subnets_and_is_deployed_after_the_migrations(overridden_template: Template):
    _consumer_id, function = only(
        overridden_template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}})
    )
    assert function["Properties"]["VpcConfig"]["SubnetIds"] == ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]
    assert any(dependency.startswith("SchemaMigrationsTrigger") for dependency in function["DependsOn"])


def test_cdk_nag_findings_on_the_consumer_are_acknowledged_each_with_its_reason():
    synthesis = synthesize(CONTEXTS["defaults"])
    acknowledged = {
        (path, rule) for (path, rule) in synthesis.acknowledgments if "StartRequested" in path or "AppEvents" in path
    }
    assert {rule for _, rule in acknowledged} >= {"AwsSolutions::AwsSolutions-SQS3"}
    described = [rule for path, rule in acknowledged if "execution:" in rule and "StartRequested" in path]
    assert len(described) == len(REQUESTED)
    assert all(synthesis.acknowledgments[key] for key in acknowledged)


def test_make_up_follows_the_rule_to_the_queue_and_the_queue_to_its_consumer(template_dict: dict[str, Any]):
    [(_name, bus, pattern, [target])] = [rule for rule in queue_rules(template_dict) if "AppEvents" in rule[0]]
    [mapping] = template_mappings(template_dict)

    assert (bus, pattern) == ("tender-sync", {"detail-type": DETAIL_TYPES, "source": ["tender-app"]})
    assert target["Arn"].endswith(f":{mapping.queue}")
    assert template_dict["Resources"][mapping.function]["Properties"]["Handler"] == HANDLER
    assert (mapping.batch_size, mapping.window_seconds, mapping.report_failures) == (BATCH_SIZE, 15.0, True)
