"""Alert processing in the synthesized stack, property by property: what starts an alerts run (every Tenders Changed
event on the stack's bus, and a schedule), its state machine and deliveries Map, what each of its functions may
do, the unsubscribe endpoint, SES's configuration set and its feedback, the alarms, and the settings' checks."""

import json
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.config import ALERT_DELIVERY_CONCURRENCY, StackConfig
from infra.stack import build_stack
from tender_sync.alerts.feedback import BOUNCED, COMPLAINED
from tender_sync.alerts.metrics import UNDELIVERED
from tender_sync.changes.events import DETAIL_TYPE, EVENT_SOURCE
from tender_sync.models.steps import AlertsPlan
from tests.helpers.stack import RETRY, function_ids, render_definition, state_machine_id

OUTPUT = "AlertsStateMachineArn"
CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FailAlerts"}]
# Every context key of the alerts set otherwise than cdk.json sets it, and a stage.
CUSTOM: dict[str, Any] = {
    "stage": "staging",
    "alertFromAddress": "tenders@example.com",
    "alertEmailsPerSecond": 10,
    "alertDigestHour": 6,
    "alertsScheduleExpression": "rate(2 hours)",
    "tenderUrlTemplate": "https://tenders.example.com/t/{ocid}?from=alerts",
}


@pytest.fixture(scope="module")
def resources(template: Template) -> dict[str, Any]:
    return dict(template.to_json())["Resources"]


@pytest.fixture(scope="module")
def definition(template: Template) -> dict[str, Any]:
    return render_definition(template, OUTPUT)


@pytest.fixture(scope="module")
def custom_template() -> Template:
    return Template.from_stack(build_stack(CUSTOM))


def _alerts_machine(template: Template) -> str:
    return state_machine_id(template, OUTPUT)


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {logical_id: resource for logical_id, resource in resources.items() if resource["Type"] == kind}


def _one(resources: dict[str, Any], kind: str, prefix: str = "") -> str:
    """The logical id of the one resource of `kind` whose id starts with `prefix`."""
    (logical_id,) = [logical_id for logical_id in _of_type(resources, kind) if logical_id.startswith(prefix)]
    return logical_id


def _alerts_rule(template: Template, resources: dict[str, Any]) -> str:
    """The rule that starts the alerts state machine."""
    machine = {"Ref": _alerts_machine(template)}
    (rule,) = [
        logical_id
        for logical_id, resource in _of_type(resources, "AWS::Events::Rule").items()
        if any(target["Arn"] == machine for target in resource["Properties"]["Targets"])
    ]
    return rule


def _statements_of(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _role_of(resources: dict[str, Any], function_id: str) -> str:
    return resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# What starts an alerts run


@pytest.mark.slow
def test_every_tenders_changed_event_on_the_stacks_bus_starts_an_alerts_run(template: Template, resources):
    """Retried for up to a day (EventBridge's most), then kept in a dead-letter queue; the whole event is the input."""
    rule = resources[_alerts_rule(template, resources)]["Properties"]
    assert rule["EventBusName"] == {"Ref": _one(resources, "AWS::Events::EventBus")}
    assert rule["EventPattern"] == {"source": [EVENT_SOURCE], "detail-type": [DETAIL_TYPE]}
    (target,) = rule["Targets"]
    queue = _one(resources, "AWS::SQS::Queue", "AlertsDeadLetterQueue")
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 24 * 3600}
    assert not {"Input", "InputPath", "InputTransformer"} & set(target)
    # Its role may start this state machine, and nothing else.
    assert _statements_of(resources, target["RoleArn"]["Fn::GetAtt"][0]) == [
        {"Action": "states:StartExecution", "Effect": "Allow", "Resource": {"Ref": _alerts_machine(template)}}
    ]


@pytest.mark.slow
def test_the_dead_letter_queue_is_encrypted_ssl_only_kept_14_days_and_alarmed(template: Template, resources):
    queue = _one(resources, "AWS::SQS::Queue", "AlertsDeadLetterQueue")
    assert resources[queue]["Properties"] == {"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}
    (policy,) = [
        resource["Properties"]["PolicyDocument"]["Statement"]
        for resource in _of_type(resources, "AWS::SQS::QueuePolicy").values()
        if resource["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    denied, allowed = policy
    assert (denied["Effect"], denied["Action"], denied["Condition"]) == (
        "Deny",
        "sqs:*",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    # Only the rule puts what it could not deliver there.
    assert (allowed["Effect"], allowed["Action"], allowed["Principal"]) == (
        "Allow",
        "sqs:SendMessage",
        {"Service": "events.amazonaws.com"},
    )
    assert allowed["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [_alerts_rule(template, resources), "Arn"]}}
    }
    (alarm,) = [
        resource["Properties"]
        for resource in _of_type(resources, "AWS::CloudWatch::Alarm").values()
        if resource["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    ]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
        1,
    )
    assert alarm["AlarmActions"] == [{"Ref": _one(resources, "AWS::SNS::Topic")}]


@pytest.mark.slow
def test_the_alerts_schedule_starts_a_run_every_hour(template: Template, resources):
    """For the daily digests (made once their hour has passed) and the retries due."""
    (schedule,) = [
        resource["Properties"]
        for logical_id, resource in _of_type(resources, "AWS::Scheduler::Schedule").items()
        if logical_id.startswith("AlertsSchedule")
    ]
    assert schedule["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == {"Ref": _alerts_machine(template)}
    assert json.loads(schedule["Target"]["Input"]) == {
        "triggeredBy": "schedule",
        "scheduledTime": "<aws.scheduler.scheduled-time>",
    }


@pytest.mark.slow
def test_the_schedule_comes_from_context(custom_template: Template):
    schedules = custom_template.find_resources("AWS::Scheduler::Schedule")
    (expression,) = [
        schedule["Properties"]["ScheduleExpression"]
        for schedule in schedules.values()
        if schedule["Properties"]["Target"]["Arn"] == {"Ref": _alerts_machine(custom_template)}
    ]
    assert expression == CUSTOM["alertsScheduleExpression"]


# The state machine


@pytest.mark.slow
def test_the_definition_has_the_named_states(definition: dict[str, Any]):
    assert definition["StartAt"] == "MatchAlerts"
    assert set(definition["States"]) == {
        "MatchAlerts",
        "AnythingToDeliver?",
        "DeliverAlerts",
        "RecordDeliveries",
        "AlertsSucceeded",
        "FailAlerts",
        "AlertsFailed",
    }
    assert set(definition["States"]["DeliverAlerts"]["ItemProcessor"]["States"]) == {
        "DeliverBatch",
        "RecordDeliveryFailure",
    }
    assert definition["TimeoutSeconds"] == 3600


@pytest.mark.slow
def test_the_happy_path_and_its_choice(definition: dict[str, Any]):
    states = definition["States"]
    assert states["MatchAlerts"]["Next"] == "AnythingToDeliver?"
    # Nothing to deliver: the run is still recorded.
    assert states["AnythingToDeliver?"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.alerts.batches", "NumericEquals": 0, "Next": "RecordDeliveries"}],
        "Default": "DeliverAlerts",
    }
    assert states["DeliverAlerts"]["Next"] == "RecordDeliveries"
    assert states["RecordDeliveries"]["Next"] == "AlertsSucceeded"
    assert states["AlertsSucceeded"] == {"Type": "Succeed"}


@pytest.mark.slow
def test_each_task_calls_its_function_with_the_plan_and_not_more(template: Template, definition: dict[str, Any]):
    states = definition["States"]
    children = states["DeliverAlerts"]["ItemProcessor"]["States"]
    ids = function_ids(template)
    for state, function in (
        (states["MatchAlerts"], "MatchAlerts"),
        (states["RecordDeliveries"], "RecordDeliveries"),
        (states["FailAlerts"], "FailAlerts"),
        (children["DeliverBatch"], "DeliverBatch"),
        # The same function, given the Catch's error: it records each of the batch's deliveries as failed.
        (children["RecordDeliveryFailure"], "DeliverBatch"),
    ):
        assert state["Type"] == "Task"
        assert state["Resource"] == "${GetAtt:" + ids[function] + ".Arn}"
    assert states["MatchAlerts"]["Parameters"] == {"input.$": "$", "executionId.$": "$$.Execution.Id"}
    assert states["MatchAlerts"]["ResultPath"] == "$.alerts"
    assert states["RecordDeliveries"]["Parameters"] == {"alerts.$": "$.alerts"}
    assert states["RecordDeliveries"]["ResultPath"] == "$.recorded"


@pytest.mark.slow
def test_every_task_has_the_one_retry_and_every_failure_is_caught_by_fail_alerts(definition: dict[str, Any]):
    states = definition["States"]
    children = states["DeliverAlerts"]["ItemProcessor"]["States"]
    for name, state in {**states, **children}.items():
        if state["Type"] == "Task":
            assert state["Retry"] == RETRY, name
    for name in ("MatchAlerts", "DeliverAlerts", "RecordDeliveries"):
        assert states[name]["Catch"] == CATCH, name
    assert "Catch" not in states["FailAlerts"]
    assert states["FailAlerts"]["Parameters"] == {
        "state.$": "$",
        "executionId.$": "$$.Execution.Id",
        "workflow": "alerts",
    }
    assert states["FailAlerts"]["Next"] == "AlertsFailed"
    assert states["AlertsFailed"] == {"Type": "Fail", "Error": "AlertsFailed", "CausePath": "$.failJob.error"}
    # A batch that fails after its retries is recorded as failed by the same function; the record has no Catch.
    assert children["DeliverBatch"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordDeliveryFailure"}
    ]
    assert "Catch" not in children["RecordDeliveryFailure"]


@pytest.mark.slow
def test_the_deliveries_map_reads_its_batches_from_s3_and_runs_express_children(
    template: Template, definition: dict[str, Any]
):
    deliver = definition["States"]["DeliverAlerts"]
    (bucket,) = template.find_resources("AWS::S3::Bucket")
    assert deliver["ItemReader"] == {
        "Resource": "arn:${Ref:AWS::Partition}:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "${Ref:" + bucket + "}", "Key.$": "$.alerts.itemsKey"},
    }
    assert deliver["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    # A batch that fails outright does not fail the run: RecordDeliveries finds no result and records its
    # deliveries as failed, for a later run to retry.
    assert deliver["ToleratedFailurePercentage"] == 100
    assert deliver["MaxConcurrency"] == ALERT_DELIVERY_CONCURRENCY
    # Nothing the children return is kept: their results are in S3.
    assert deliver["ResultPath"] is None
    for name in ("DeliverBatch", "RecordDeliveryFailure"):
        child = deliver["ItemProcessor"]["States"][name]
        assert child["ResultPath"] == "$" and child["End"] is True, name


@pytest.mark.slow
def test_no_address_enters_the_runs_state(definition: dict[str, Any]):
    """Each Map item is a batch's number: the child reads its batch (with the addresses) from S3 itself, the item
    selector adds only where the batches are, where its result goes and the pace, and the run's own state holds
    MatchAlerts' plan, which is keys and counts."""
    # 5 children sharing alertEmailsPerSecond 1: an email every 5 s each (test_express_children.py).
    assert definition["States"]["DeliverAlerts"]["ItemSelector"] == {
        "item.$": "$$.Map.Item.Value",
        "bucket.$": "$.alerts.bucket",
        "batchesPrefix.$": "$.alerts.batchesPrefix",
        "resultsPrefix.$": "$.alerts.resultsPrefix",
        "secondsBetweenEmails": ALERT_DELIVERY_CONCURRENCY / 1,
    }
    assert set(AlertsPlan.model_fields) == {
        "bucket",
        "itemsKey",
        "batchesPrefix",
        "resultsPrefix",
        "batches",
        "deliveries",
        "executionId",
        "event",
        "duplicate",
        "notices",
        "subscriptions",
        "skipped",
    }


@pytest.mark.slow
def test_the_pace_comes_from_alert_emails_per_second(custom_template: Template):
    deliver = render_definition(custom_template, OUTPUT)["States"]["DeliverAlerts"]
    assert (
        deliver["ItemSelector"]["secondsBetweenEmails"] == ALERT_DELIVERY_CONCURRENCY / CUSTOM["alertEmailsPerSecond"]
    )


@pytest.mark.slow
def test_the_alerts_state_machine_may_not_put_events(template: Template, resources):
    """It announces nothing: only the workflows that publish change events may put them on the bus."""
    role = resources[_alerts_machine(template)]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    actions = {action for statement in _statements_of(resources, role) for action in _as_list(statement["Action"])}
    assert "events:PutEvents" not in actions
    assert {"lambda:InvokeFunction", "s3:GetObject", "states:StartExecution"} <= actions


# The functions


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["template", "overridden_template"])
def test_deliver_batch_never_touches_the_database(fixture: str, request: pytest.FixtureRequest):
    """Not even with every option set (an imported secret, a VPC, an RDS Proxy): it sends, and writes its result."""
    template: Template = request.getfixturevalue(fixture)
    resources = dict(template.to_json())["Resources"]
    function_id = function_ids(template)["DeliverBatch"]
    properties = resources[function_id]["Properties"]
    variables = properties["Environment"]["Variables"]
    assert not {"DATABASE_SECRET_ARN", "DATABASE_PROXY_ENDPOINT", "DATABASE_URL"} & set(variables)
    assert "VpcConfig" not in properties
    assert not [dependency for dependency in resources[function_id].get("DependsOn", []) if "Network" in dependency]
    database_secret = dict(template.to_json())["Outputs"]["DatabaseSecretArn"]["Value"]
    statements = _statements_of(resources, _role_of(resources, function_id))
    assert not [s for s in statements if database_secret in _as_list(s["Resource"])]
    assert not [s for s in statements if any(a.startswith(("ec2:", "rds", "kms:")) for a in _as_list(s["Action"]))]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fixture", "sender", "configuration_set"),
    [
        ("template", "alerts@example.org", "tender-sync-alerts"),
        ("custom_template", CUSTOM["alertFromAddress"], "tender-sync-alerts-staging"),
    ],
)
def test_only_deliver_batch_sends_email_and_only_from_the_alert_address(
    fixture: str, sender: str, configuration_set: str, request: pytest.FixtureRequest
):
    template: Template = request.getfixturevalue(fixture)
    resources = dict(template.to_json())["Resources"]
    sending = {
        role: statement
        for policy in _of_type(resources, "AWS::IAM::Policy").values()
        for role in (r["Ref"] for r in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(action.startswith("ses:") for action in _as_list(statement["Action"]))
    }
    deliver_batch = function_ids(template)["DeliverBatch"]
    assert list(sending) == [_role_of(resources, deliver_batch)]
    (statement,) = sending.values()
    assert statement["Action"] == "ses:SendEmail"
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": sender}}
    # The sender's identity and the recipients' (SES checks both), with the alerts' configuration set only.
    arn = ["arn:", {"Ref": "AWS::Partition"}, ":ses:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}]
    assert statement["Resource"] == [
        {"Fn::Join": ["", [*arn, ":identity/*"]]},
        {"Fn::Join": ["", [*arn, f":configuration-set/{configuration_set}"]]},
    ]
    variables = resources[deliver_batch]["Properties"]["Environment"]["Variables"]
    assert (variables["ALERT_FROM_ADDRESS"], variables["ALERT_CONFIGURATION_SET"]) == (sender, configuration_set)


@pytest.mark.slow
def test_match_alerts_gets_the_link_and_the_digest_hour_from_context(custom_template: Template):
    resources = dict(custom_template.to_json())["Resources"]
    variables = resources[function_ids(custom_template)["MatchAlerts"]]["Properties"]["Environment"]["Variables"]
    assert variables["TENDER_URL_TEMPLATE"] == CUSTOM["tenderUrlTemplate"]
    assert variables["ALERT_DIGEST_HOUR"] == str(CUSTOM["alertDigestHour"])


@pytest.mark.slow
def test_only_deliver_batch_and_unsubscribe_read_the_alerts_key(template: Template, resources):
    """Nothing else is given it, or may read it: not a function, not a state machine, not the app."""
    key = dict(template.to_json())["Outputs"]["AlertsKeySecretArn"]["Value"]
    assert key == {"Ref": _one(resources, "AWS::SecretsManager::Secret", "AlertsKey")}
    readers = {
        role
        for policy in _of_type(resources, "AWS::IAM::Policy").values()
        for role in (r["Ref"] for r in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if key in _as_list(statement["Resource"])
    }
    ids = function_ids(template)
    assert readers == {_role_of(resources, ids["DeliverBatch"]), _role_of(resources, ids["Unsubscribe"])}
    for role in readers:
        assert [s["Action"] for s in _statements_of(resources, role) if key in _as_list(s["Resource"])] == [
            "secretsmanager:GetSecretValue"
        ]
    given = {
        name
        for name, function_id in ids.items()
        if resources[function_id]["Properties"]["Environment"]["Variables"].get("ALERTS_KEY_SECRET_ARN") == key
    }
    assert given == {"DeliverBatch", "Unsubscribe"}
    # Made once and kept: every stored signing secret needs it.
    assert resources[key["Ref"]]["DeletionPolicy"] == "Retain"


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["template", "overridden_template"])
def test_no_function_may_call_a_loopback_webhook(fixture: str, request: pytest.FixtureRequest):
    """WEBHOOK_ALLOW_LOOPBACK is for this machine's runs only (tender_sync.alerts.targets)."""
    template: Template = request.getfixturevalue(fixture)
    for function in template.find_resources("AWS::Lambda::Function").values():
        assert "WEBHOOK_ALLOW_LOOPBACK" not in function["Properties"].get("Environment", {}).get("Variables", {})


# The unsubscribe endpoint


@pytest.mark.slow
def test_unsubscribe_is_a_public_function_url_named_by_an_output(template: Template, resources):
    """The emails' one-click unsubscribe links (RFC 8058) need no credentials: each link is signed instead."""
    unsubscribe = function_ids(template)["Unsubscribe"]
    (url_id, url), *others = _of_type(resources, "AWS::Lambda::Url").items()
    assert not others
    assert url["Properties"] == {"AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": [unsubscribe, "Arn"]}}
    permissions = [
        resource["Properties"]
        for resource in _of_type(resources, "AWS::Lambda::Permission").values()
        if resource["Properties"]["FunctionName"] == {"Fn::GetAtt": [unsubscribe, "Arn"]}
    ]
    # Function URLs made since October 2025 need both: the URL's, and invoking through the URL only.
    function = {"Fn::GetAtt": [unsubscribe, "Arn"]}
    assert sorted(permissions, key=lambda p: p["Action"]) == [
        {"Action": "lambda:InvokeFunction", "FunctionName": function, "InvokedViaFunctionUrl": True, "Principal": "*"},
        {
            "Action": "lambda:InvokeFunctionUrl",
            "FunctionName": function,
            "FunctionUrlAuthType": "NONE",
            "Principal": "*",
        },
    ]
    outputs = dict(template.to_json())["Outputs"]
    assert outputs["UnsubscribeUrl"]["Value"] == {"Fn::GetAtt": [url_id, "FunctionUrl"]}
    # The emails carry the same URL.
    variables = resources[function_ids(template)["DeliverBatch"]]["Properties"]["Environment"]["Variables"]
    assert variables["UNSUBSCRIBE_URL"] == outputs["UnsubscribeUrl"]["Value"]


# SES's feedback


@pytest.mark.slow
def test_bounces_and_complaints_go_to_the_default_bus(template: Template, resources):
    (configuration_set_id, configuration_set), *others = _of_type(resources, "AWS::SES::ConfigurationSet").items()
    assert not others
    assert configuration_set["Properties"] == {"Name": "tender-sync-alerts"}
    (destination,) = _of_type(resources, "AWS::SES::ConfigurationSetEventDestination").values()
    assert destination["Properties"] == {
        "ConfigurationSetName": {"Ref": configuration_set_id},
        "EventDestination": {
            "Enabled": True,
            # SES sends its events to the default bus only.
            "EventBridgeDestination": {
                "EventBusArn": {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":events:",
                            {"Ref": "AWS::Region"},
                            ":",
                            {"Ref": "AWS::AccountId"},
                            ":event-bus/default",
                        ],
                    ]
                }
            },
            "MatchingEventTypes": ["bounce", "complaint"],
        },
    }
    template.has_output("EmailConfigurationSetName", {"Value": "tender-sync-alerts"})


@pytest.mark.slow
def test_email_feedback_takes_the_alert_emails_bounces_and_complaints_only(template: Template, resources):
    email_feedback = function_ids(template)["EmailFeedback"]
    (rule_id, rule), *others = [
        (logical_id, resource["Properties"])
        for logical_id, resource in _of_type(resources, "AWS::Events::Rule").items()
        if any(target["Arn"] == {"Fn::GetAtt": [email_feedback, "Arn"]} for target in resource["Properties"]["Targets"])
    ]
    assert not others
    assert "EventBusName" not in rule  # the default bus
    assert rule["EventPattern"] == {
        "source": ["aws.ses"],
        "detail-type": [BOUNCED, COMPLAINED],
        "detail": {"mail": {"tags": {"ses:configuration-set": ["tender-sync-alerts"]}}},
    }
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [email_feedback, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


# Alarms


@pytest.mark.slow
def test_deliveries_left_undelivered_notify_the_alerts_topic_and_show_on_the_dashboard(resources):
    """RecordDeliveries' count of deliveries waiting for a retry, whoever's: above 0 for two hours."""
    (alarm_id, alarm), *others = [
        (logical_id, resource["Properties"])
        for logical_id, resource in _of_type(resources, "AWS::CloudWatch::Alarm").items()
        if resource["Properties"].get("MetricName") == UNDELIVERED
    ]
    assert not others
    assert alarm["Namespace"] == "TenderSync"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "tender-sync"}]
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Maximum", 3600, 2)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"
    # Monitoring adds more_alarms' actions: the topic the other alarms notify.
    assert alarm["AlarmActions"] == [{"Ref": _one(resources, "AWS::SNS::Topic")}]
    (dashboard,) = _of_type(resources, "AWS::CloudWatch::Dashboard").values()
    assert {"Fn::GetAtt": [alarm_id, "Arn"]} in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]


@pytest.mark.slow
def test_a_failed_alerts_run_notifies_like_any_other(template: Template, resources):
    machine = {"Ref": _alerts_machine(template)}
    (rule,) = [
        resource["Properties"]["EventPattern"]
        for resource in _of_type(resources, "AWS::Events::Rule").values()
        if resource["Properties"]["EventPattern"].get("source") == ["aws.states"]
    ]
    assert machine in rule["detail"]["stateMachineArn"]


# Settings


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"alertDigestHour": 24}, "context 'alertDigestHour' must be an hour from 0 to 23, got 24"),
        ({"alertDigestHour": -1}, "context 'alertDigestHour' must be at least 0, got -1"),
        ({"alertEmailsPerSecond": 0}, "context 'alertEmailsPerSecond' must be at least 1, got 0"),
        (
            {"tenderUrlTemplate": "https://app.example.org/tenders"},
            "context 'tenderUrlTemplate' must be an https:// URL with {ocid} in it, e.g. "
            "https://app.example.org/tenders/{ocid}, got 'https://app.example.org/tenders'",
        ),
        (
            {"tenderUrlTemplate": "http://app.example.org/tenders/{ocid}"},
            "context 'tenderUrlTemplate' must be an https:// URL with {ocid} in it, e.g. "
            "https://app.example.org/tenders/{ocid}, got 'http://app.example.org/tenders/{ocid}'",
        ),
        (
            {"tenderUrlTemplate": "https://app.example.org/{portal}/{ocid}"},
            "context 'tenderUrlTemplate' may hold no braces but {ocid}, got 'https://app.example.org/{portal}/{ocid}'",
        ),
        (
            {"alertFromAddress": "alerts at example.org"},
            "context 'alertFromAddress' must be an email address, got 'alerts at example.org'",
        ),
        ({"alertsScheduleExpression": ""}, "context 'alertsScheduleExpression' must not be empty"),
    ],
)
def test_bad_alert_settings_are_refused_in_one_line_naming_the_key(context: dict[str, Any], message: str):
    with pytest.raises(ValueError) as refused:
        StackConfig.from_context(App(context=context).node)
    assert str(refused.value) == message
