"""The operators' state machines, the cleanup schedule and its function's access, and the alerts: asserted in the
synthesized template, property by property."""

import json
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Capture, Match, Template

from infra.config import StackConfig
from infra.stack import build_stack
from tender_sync.workflows import JOB_WORKFLOWS
from tests.helpers.stack import RETRY, STATE_MACHINE_OUTPUTS, function_ids, render_definition, state_machine_id

CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FailJob"}]
# Each workflow: its output, its job_log name, the name its end states carry, and its top-level tasks that FailJob
# catches (all but PrepareChanges and RecordPublished, whose failure never fails a run: test_change_events.py).
WORKFLOWS = {
    "EnrichTodayStateMachineArn": (
        "enrich-today",
        "EnrichToday",
        ["StartEnrichToday", "PlanLookups", "StoreLookups", "FinishJob"],
    ),
    "BackfillStateMachineArn": (
        "backfill",
        "Backfill",
        ["StartBackfill", "FetchReleases", "UpsertTenders", "PlanLookups", "StoreLookups", "NextWindow", "FinishJob"],
    ),
    "SingleTenderStateMachineArn": (
        "single-tender",
        "SingleTender",
        ["StartSingleTender", "FetchRelease", "UpsertTenders", "PlanLookups", "StoreLookups", "FinishJob"],
    ),
    "CleanupStateMachineArn": ("cleanup", "Cleanup", ["CleanupJobs"]),
}
ENRICHING = ["EnrichTodayStateMachineArn", "BackfillStateMachineArn", "SingleTenderStateMachineArn"]


@pytest.fixture(scope="module")
def definitions(template: Template) -> dict[str, dict[str, Any]]:
    return {output: render_definition(template, output) for output in STATE_MACHINE_OUTPUTS}


@pytest.mark.slow
def test_each_workflow_is_its_own_standard_traced_logged_state_machine_named_by_an_output(template: Template):
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    assert {state_machine_id(template, output) for output in STATE_MACHINE_OUTPUTS} == set(machines)
    for machine in machines.values():
        properties = machine["Properties"]
        assert properties["StateMachineType"] == "STANDARD"
        assert properties["TracingConfiguration"] == {"Enabled": True}
        assert properties["LoggingConfiguration"]["Level"] == "ERROR"
        assert properties["LoggingConfiguration"]["IncludeExecutionData"] is False


@pytest.mark.slow
@pytest.mark.parametrize("output", list(WORKFLOWS))
def test_the_job_tasks_retry_transient_errors_and_are_caught_by_fail_job(definitions: dict[str, Any], output: str):
    workflow, name, tasks = WORKFLOWS[output]
    states = definitions[output]["States"]
    assert "QueryLanguage" not in json.dumps(definitions[output])  # JSONPath only
    for task in tasks:
        assert states[task]["Retry"] == RETRY, task
        assert states[task]["Catch"] == CATCH, task
    if output in ENRICHING:
        assert states["LookUpTenders"]["Catch"] == CATCH
    assert states["FailJob"]["Parameters"] == {"state.$": "$", "executionId.$": "$$.Execution.Id", "workflow": workflow}
    assert states["FailJob"]["Next"] == f"{name}Failed"
    assert states[f"{name}Failed"] == {"Type": "Fail", "Error": f"{name}Failed", "CausePath": "$.failJob.error"}


def _but_next(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "Next"}


def _but_next_and_catch(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in ("Next", "Catch")}


@pytest.mark.slow
@pytest.mark.parametrize("output", ENRICHING)
def test_the_workflows_share_the_syncs_lookups_and_announcement(definitions: dict[str, Any], output: str):
    """PlanLookups -> AnythingToLookUp? -> WaitForPortal -> LookUpTenders -> StoreLookups -> PrepareChanges -> AnythingToAnnounce? ->
    PublishChanges -> RecordPublished, as the sync has them, then the workflow's own next step: FinishJob, or
    NextWindow for a backfill (the announcement's steps: test_change_events.py)."""
    sync, states = definitions["SyncStateMachineArn"]["States"], definitions[output]["States"]
    assert states["PlanLookups"] == {**sync["PlanLookups"], "Next": "AnythingToLookUp?"}
    # Nothing due a lookup: straight to announcing the changes.
    assert states["AnythingToLookUp?"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.lookups.tenders", "NumericEquals": 0, "Next": "PrepareChanges"}],
        "Default": "WaitForPortal",
    }
    assert states["LookUpTenders"] == {**sync["LookUpTenders"], "Next": "StoreLookups", "Catch": CATCH}
    assert states["StoreLookups"] == {**sync["StoreLookups"], "Next": "PrepareChanges"}
    assert states["PublishChanges"] == sync["PublishChanges"]
    for name in ("PrepareChanges", "RecordPublished"):
        assert _but_next_and_catch(states[name]) == _but_next_and_catch(sync[name]), name
    assert _but_next(states["FinishJob"]) == _but_next(sync["FinishJob"])
    if "UpsertTenders" in states:
        assert states["UpsertTenders"] == {**sync["UpsertTenders"], "Next": "PlanLookups"}


@pytest.mark.slow
def test_enrich_today_opens_its_job_then_looks_up_todays_tenders(template: Template, definitions: dict[str, Any]):
    definition = definitions["EnrichTodayStateMachineArn"]
    states = definition["States"]
    assert definition["StartAt"] == "StartEnrichToday"
    assert set(states) == {
        "StartEnrichToday",
        "PlanLookups",
        "AnythingToLookUp?",
        "WaitForPortal",
        "LookUpTenders",
        "StoreLookups",
        "PrepareChanges",
        "AnythingToAnnounce?",
        "PublishChanges",
        "RecordPublished",
        "FinishJob",
        "EnrichTodaySucceeded",
        "FailJob",
        "EnrichTodayFailed",
    }
    assert states["StartEnrichToday"]["Resource"] == "${GetAtt:" + function_ids(template)["StartEnrichToday"] + ".Arn}"
    assert states["StartEnrichToday"]["Parameters"] == {"input.$": "$", "executionId.$": "$$.Execution.Id"}
    # Only the job (its lookupsWithin: today): it stages nothing, PlanLookups chooses from what is stored.
    assert states["StartEnrichToday"]["ResultPath"] == "$.job"
    assert states["StartEnrichToday"]["Next"] == "PlanLookups"
    assert states["StoreLookups"]["Next"] == "PrepareChanges"
    assert states["RecordPublished"]["Next"] == "FinishJob"
    assert states["FinishJob"]["Next"] == "EnrichTodaySucceeded"
    assert definition["TimeoutSeconds"] == 3600


@pytest.mark.slow
def test_backfill_loops_over_its_windows_one_at_a_time(template: Template, definitions: dict[str, Any]):
    definition = definitions["BackfillStateMachineArn"]
    states = definition["States"]
    assert definition["StartAt"] == "StartBackfill"
    assert states["StartBackfill"]["ResultPath"] == "$.job"
    assert states["StartBackfill"]["Next"] == "WindowsLeft?"
    assert states["WindowsLeft?"]["Choices"] == [{"Variable": "$.job.window", "IsNull": True, "Next": "FinishJob"}]
    assert states["WindowsLeft?"]["Default"] == "FetchReleases"
    # Each window stored first, then the backlog's lookups, then its changes announced, then the next window.
    assert set(states) == {
        "StartBackfill",
        "WindowsLeft?",
        "FetchReleases",
        "UpsertTenders",
        "PlanLookups",
        "AnythingToLookUp?",
        "WaitForPortal",
        "LookUpTenders",
        "StoreLookups",
        "PrepareChanges",
        "AnythingToAnnounce?",
        "PublishChanges",
        "RecordPublished",
        "NextWindow",
        "FinishJob",
        "BackfillSucceeded",
        "FailJob",
        "BackfillFailed",
    }
    assert states["FetchReleases"]["Next"] == "UpsertTenders"
    assert states["UpsertTenders"]["Next"] == "PlanLookups"
    assert states["AnythingToLookUp?"]["Choices"][0]["Next"] == "PrepareChanges"
    assert states["StoreLookups"]["Next"] == "PrepareChanges"
    assert states["AnythingToAnnounce?"]["Choices"][0]["Next"] == "NextWindow"
    assert states["RecordPublished"]["Next"] == "NextWindow"
    assert states["NextWindow"]["Parameters"] == {"job.$": "$.job"}
    assert states["NextWindow"]["ResultPath"] == "$.job"
    assert states["NextWindow"]["Next"] == "WindowsLeft?"
    assert states["FinishJob"]["Next"] == "BackfillSucceeded"
    assert definition["TimeoutSeconds"] == 24 * 3600
    # The same FetchReleases function as the sync's.
    sync = definitions["SyncStateMachineArn"]["States"]["FetchReleases"]
    assert states["FetchReleases"]["Resource"] == sync["Resource"]


@pytest.mark.slow
def test_single_tender_fetches_and_stores_its_release_then_looks_it_up(template: Template, definitions: dict[str, Any]):
    definition = definitions["SingleTenderStateMachineArn"]
    states = definition["States"]
    assert definition["StartAt"] == "StartSingleTender"
    assert states["StartSingleTender"]["Next"] == "FetchRelease"
    assert states["FetchRelease"]["Resource"] == "${GetAtt:" + function_ids(template)["FetchRelease"] + ".Arn}"
    assert states["FetchRelease"]["Parameters"] == {"job.$": "$.job"}
    assert states["FetchRelease"]["ResultPath"] == "$.fetch"
    assert states["FetchRelease"]["Next"] == "UpsertTenders"
    assert set(states) == {
        "StartSingleTender",
        "FetchRelease",
        "UpsertTenders",
        "PlanLookups",
        "AnythingToLookUp?",
        "WaitForPortal",
        "LookUpTenders",
        "StoreLookups",
        "PrepareChanges",
        "AnythingToAnnounce?",
        "PublishChanges",
        "RecordPublished",
        "FinishJob",
        "SingleTenderSucceeded",
        "FailJob",
        "SingleTenderFailed",
    }
    assert states["UpsertTenders"]["Next"] == "PlanLookups"
    assert states["StoreLookups"]["Next"] == "PrepareChanges"
    assert states["RecordPublished"]["Next"] == "FinishJob"
    assert states["FinishJob"]["Next"] == "SingleTenderSucceeded"
    assert definition["TimeoutSeconds"] == 15 * 60


@pytest.mark.slow
def test_cleanup_is_one_task(definitions: dict[str, Any]):
    definition = definitions["CleanupStateMachineArn"]
    assert definition["StartAt"] == "CleanupJobs"
    assert set(definition["States"]) == {"CleanupJobs", "CleanupSucceeded", "FailJob", "CleanupFailed"}
    assert definition["States"]["CleanupJobs"]["Next"] == "CleanupSucceeded"


@pytest.mark.slow
def test_cleanup_runs_daily_on_its_own_schedule(template: Template):
    payload = Capture()
    template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "rate(1 day)",
            "State": "ENABLED",
            "Target": {"Arn": {"Ref": state_machine_id(template, "CleanupStateMachineArn")}, "Input": payload},
        },
    )
    assert json.loads(payload.as_string()) == {
        "triggeredBy": "schedule",
        "scheduledTime": "<aws.scheduler.scheduled-time>",
    }
    # The sync's, the cleanup's and the alerts' (test_alerts_stack.py).
    template.resource_count_is("AWS::Scheduler::Schedule", 3)


@pytest.mark.slow
def test_only_cleanup_may_describe_executions_and_only_the_job_workflows(template: Template):
    policies = template.find_resources("AWS::IAM::Policy")
    describing = [
        (policy["Properties"]["Roles"], statement["Resource"])
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "states:DescribeExecution"
    ]
    cleanup_role = template.to_json()["Resources"][function_ids(template)["CleanupJobs"]]["Properties"]["Role"][
        "Fn::GetAtt"
    ][0]
    [(_roles, resources)] = [(r, res) for r, res in describing if {"Ref": cleanup_role} in r]
    described = {
        part["Fn::GetAtt"][0]
        for resource in resources
        for part in resource["Fn::Join"][1]
        if isinstance(part, dict) and "Fn::GetAtt" in part
    }
    # Not the cleanup's own, nor the alerts' (they open no job).
    assert described == {state_machine_id(template, workflow.stack_output) for workflow in JOB_WORKFLOWS}
    assert all(resource["Fn::Join"][1][-1] == ":*" for resource in resources)


# Alerts


@pytest.mark.slow
def test_alerts_go_to_an_encrypted_ssl_only_topic(template: Template):
    key = Capture()
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}})
    kms_key = template.to_json()["Resources"][key.as_string()]["Properties"]
    assert kms_key["EnableKeyRotation"] is True
    services = {s["Principal"].get("Service") for s in kms_key["KeyPolicy"]["Statement"]}
    assert {"events.amazonaws.com", "cloudwatch.amazonaws.com"} <= services
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    template.resource_count_is("AWS::SNS::Subscription", 0)  # cdk.json's alertEmail is empty


@pytest.mark.slow
def test_an_alert_email_from_context_subscribes_to_the_topic():
    template = Template.from_stack(build_stack({"alertEmail": "ops@example.org"}))
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.org"})


def test_a_bad_alert_email_is_refused():
    with pytest.raises(ValueError, match="'alertEmail' must be an email address"):
        StackConfig.from_context(App(context={"alertEmail": "ops at example"}).node)


@pytest.mark.slow
def test_executions_that_end_badly_notify_the_topic(template: Template):
    topic = next(iter(template.find_resources("AWS::SNS::Topic")))
    rule = Capture()
    template.has_resource_properties(
        "AWS::Events::Rule", {"EventPattern": rule, "Targets": [Match.object_like({"Arn": {"Ref": topic}})]}
    )
    pattern = rule.as_object()
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    assert pattern["detail"]["stateMachineArn"] == [
        {"Ref": state_machine_id(template, output)} for output in STATE_MACHINE_OUTPUTS
    ]


@pytest.mark.slow
def test_alarms_on_failed_executions_the_enrichment_failure_rate_and_late_change_events_notify_the_topic(
    template: Template,
):
    topic = next(iter(template.find_resources("AWS::SNS::Topic")))
    # The others (the database not configured, the app's events' dead-letter queues, the alerts' undelivered
    # deliveries and dead-letter queue) are asserted with their features: test_real_accounts.py, test_app_events.py,
    # test_alerts_stack.py.
    alarms = {
        logical_id: alarm
        for logical_id, alarm in template.find_resources("AWS::CloudWatch::Alarm").items()
        if not logical_id.startswith(("AppEvents", "Alerts", "MonitoringDatabaseNotConfigured"))
    }
    assert len(alarms) == 3
    by_metric = {}
    for alarm in alarms.values():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": topic}]
        stats = [m["MetricStat"]["Metric"] for m in properties["Metrics"] if "MetricStat" in m]
        by_metric[frozenset(s["MetricName"] for s in stats)] = (properties, stats)

    failed, stats = by_metric[frozenset({"ExecutionsFailed"})]
    assert {s["Dimensions"][0]["Value"]["Ref"] for s in stats} == {
        state_machine_id(template, output) for output in STATE_MACHINE_OUTPUTS
    }
    assert (failed["Threshold"], failed["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")

    rate, stats = by_metric[frozenset({"enriched", "enrichment_failed"})]
    assert all(
        s["Namespace"] == "TenderSync" and s["Dimensions"] == [{"Name": "service", "Value": "tender-sync"}]
        for s in stats
    )
    [expression] = [m["Expression"] for m in rate["Metrics"] if "Expression" in m]
    assert expression == "IF(enriched + failed > 0, 100 * failed / (enriched + failed), 0)"
    assert (rate["Threshold"], rate["ComparisonOperator"]) == (20, "GreaterThanThreshold")

    # Any run that ends with a change event unsent (FinishJob's events_late): a later run sends it.
    late, stats = by_metric[frozenset({"events_late"})]
    [metric] = late["Metrics"]
    assert metric["MetricStat"] == {
        "Metric": {
            "MetricName": "events_late",
            "Namespace": "TenderSync",
            "Dimensions": [{"Name": "service", "Value": "tender-sync"}],
        },
        "Period": 3600,
        "Stat": "Maximum",
    }
    assert (late["Threshold"], late["ComparisonOperator"], late["EvaluationPeriods"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
        1,
    )
    assert late["TreatMissingData"] == "notBreaching"


@pytest.mark.slow
def test_the_dashboard_shows_runs_durations_and_tender_counts(template: Template):
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = "".join(
        part if isinstance(part, str) else "<ref>" for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    )
    for title in ("Runs started", "Runs failed", "Run duration", "Job duration", "Tenders", "Alarms"):
        assert f'"title":"{title}' in body
    for metric in (
        "ExecutionsStarted",
        "ExecutionsFailed",
        "ExecutionTime",
        "fetched",
        "enriched",
        "enrichment_failed",
        "upserted",
        "quarantined",
        "changes_published",
        "duration",
    ):
        assert f'"{metric}"' in body
    template.has_output("DashboardName", {"Value": {"Ref": Match.any_value()}})
