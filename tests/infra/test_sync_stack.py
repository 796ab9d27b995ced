import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Capture, Match, Template
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.config import StackConfig
from infra.stack import build_stack, synth_template
from tender_sync.workflows import SYNC
from tests.helpers.stack import (
    DATABASE_FUNCTIONS,
    HANDLERS,
    STATE_MACHINE_OUTPUTS,
    TRANSIENT_ERRORS,
    function_ids,
    our_functions,
    render_definition,
    state_machine_id,
)

TASKS = [
    "StartJob",
    "FetchReleases",
    "UpsertTenders",
    "PlanLookups",
    "LookUpBatch",
    "StoreLookups",
    "PrepareChanges",
    "RecordPublished",
    "FinishJob",
    "FailJob",
]
# Not PrepareChanges, PublishChanges or RecordPublished: a failure to announce never fails a run (test_change_events.py).
CAUGHT_BY_FAIL_JOB = [
    "StartJob",
    "FetchReleases",
    "UpsertTenders",
    "PlanLookups",
    "LookUpTenders",
    "StoreLookups",
    "FinishJob",
]


def states_of(definition: dict[str, Any]) -> dict[str, Any]:
    """Top-level states and the Map's item processor states, in one dict."""
    return {**definition["States"], **definition["States"]["LookUpTenders"]["ItemProcessor"]["States"]}


@pytest.fixture(scope="module")
def definition(template: Template) -> dict[str, Any]:
    return render_definition(template)


# Functions


@pytest.mark.slow
def test_our_functions_on_python_3_12_with_their_handlers(template: Template):
    assert len(our_functions(template)) == len(HANDLERS)
    for handler in HANDLERS.values():
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": handler,
                "Runtime": "python3.12",
                "Architectures": ["arm64"],
                "TracingConfig": {"Mode": "Active"},
            },
        )


SYNC_SETTINGS = {
    "SOURCE_NAME": "etenders-za",
    "FIRST_RUN_FROM": "2025-09-01",
    "WINDOW_DAYS": "7",
    "OVERLAP_DAYS": "1",
    "LEASE_SECONDS": "3600",
    "MAX_ENRICHMENT": "300",
}
LOOKUP_SETTINGS = {
    "LOOKUP_BATCH_SIZE": "20",
    "MAP_MAX_CONCURRENCY": "3",
    "PORTAL_REQUESTS_PER_SECOND": "5",
    "NOT_FOUND_RECHECK_HOURS": "24",
}
SOURCE_SETTINGS = {
    "SOURCE_NAME": "etenders-za",
    "OCDS_BASE_URL": "https://ocds-api.etenders.gov.za",
    "PORTAL_BASE_URL": "https://www.etenders.gov.za",
}


@pytest.mark.slow
def test_functions_share_one_code_asset_and_each_gets_only_the_environment_it_reads(template: Template):
    functions = our_functions(template)
    assert len({json.dumps(function["Properties"]["Code"], sort_keys=True) for function in functions.values()}) == 1
    [bucket] = template.find_resources("AWS::S3::Bucket")
    [unsubscribe_url] = template.find_resources("AWS::Lambda::Url")
    template_json = template.to_json()
    secret, owner_secret, alerts_key = (
        template_json["Outputs"][output]["Value"]["Ref"]
        for output in ("DatabaseSecretArn", "DatabaseOwnerSecretArn", "AlertsKeySecretArn")
    )
    powertools = {"POWERTOOLS_SERVICE_NAME": "tender-sync", "POWERTOOLS_METRICS_NAMESPACE": "TenderSync"}
    database = {"DATABASE_SECRET_ARN": {"Ref": secret}}
    artifacts = {"BUCKET_NAME": {"Ref": bucket}}
    key = {"ALERTS_KEY_SECRET_ARN": {"Ref": alerts_key}}
    expected: dict[str, dict[str, Any]] = {
        "StartJob": {**database, **SYNC_SETTINGS},
        "FetchReleases": {**SOURCE_SETTINGS, **artifacts},
        "UpsertTenders": {**database, **SYNC_SETTINGS},
        "PlanLookups": {**database, **LOOKUP_SETTINGS, **artifacts, "SOURCE_NAME": "etenders-za"},
        "LookUpBatch": SOURCE_SETTINGS,
        "StoreLookups": {**database, **LOOKUP_SETTINGS, "SOURCE_NAME": "etenders-za"},
        # The bus by name, as each PutEvents entry names it: the state machines may put events on this bus only.
        "PrepareChanges": {**database, **artifacts, "SOURCE_NAME": "etenders-za", "EVENT_BUS_NAME": "tender-sync"},
        "RecordPublished": database,
        "FinishJob": {**database, "SOURCE_NAME": "etenders-za"},
        "FailJob": {**database, "SOURCE_NAME": "etenders-za"},
        "StartEnrichToday": {**database, **SYNC_SETTINGS},
        "StartBackfill": {**database, **SYNC_SETTINGS},
        "NextWindow": {},
        "StartSingleTender": {**database, **SYNC_SETTINGS},
        "FetchRelease": {**SOURCE_SETTINGS, **artifacts},
        "CleanupJobs": {**database, **SYNC_SETTINGS},
        # The owner's secret, and not the functions': MigrateSchema alone reads it.
        "MigrateSchema": {"DATABASE_OWNER_SECRET_ARN": {"Ref": owner_secret}},
        # The workflows the app's events start (test_app_events.py).
        "StartRequested": {
            **database,
            **SYNC_SETTINGS,
            **{
                f"{name}_STATE_MACHINE_ARN": {
                    "Ref": template_json["Outputs"][f"{title}StateMachineArn"]["Value"]["Ref"]
                }
                for name, title in (
                    ("SYNC", "Sync"),
                    ("ENRICH_TODAY", "EnrichToday"),
                    ("BACKFILL", "Backfill"),
                    ("SINGLE_TENDER", "SingleTender"),
                )
            },
        },
        # Alerts (test_alerts_stack.py). The unsubscribe endpoint checks its links with the alerts key.
        "Unsubscribe": {**database, **key},
        "MatchAlerts": {
            **database,
            **artifacts,
            "TENDER_URL_TEMPLATE": "https://app.example.org/tenders/{ocid}",
            "ALERT_DIGEST_HOUR": "7",
        },
        # No database: the batch, its addresses and where its result goes are its Map item.
        "DeliverBatch": {
            **key,
            "ALERT_FROM_ADDRESS": "alerts@example.org",
            "ALERT_CONFIGURATION_SET": "tender-sync-alerts",
            "UNSUBSCRIBE_URL": {"Fn::GetAtt": [unsubscribe_url, "FunctionUrl"]},
        },
        "RecordDeliveries": database,
        "FailAlerts": database,
        "EmailFeedback": database,
    }
    for name, logical_id in function_ids(template).items():
        assert functions[logical_id]["Properties"]["Environment"]["Variables"] == {**powertools, **expected[name]}, name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "memory", "timeout"),
    [
        ("StartJob", 256, 60),
        ("FetchReleases", 1024, 600),
        ("UpsertTenders", 1024, 600),
        ("PlanLookups", 256, 60),
        ("LookUpBatch", 128, 30),
        ("StoreLookups", 512, 300),
        ("PrepareChanges", 256, 120),
        ("RecordPublished", 128, 30),
        ("FinishJob", 256, 60),
        ("FailJob", 256, 60),
        ("StartEnrichToday", 256, 60),
        ("StartBackfill", 256, 60),
        ("NextWindow", 128, 30),
        ("StartSingleTender", 256, 60),
        # Several ocids, fetched a few at a time, for the app's tender/enrich.requested events.
        ("FetchRelease", 256, 600),
        ("CleanupJobs", 256, 300),
        ("MigrateSchema", 256, 300),
        # Waits for the single-tender run it starts (test_app_events.py).
        ("StartRequested", 256, 900),
        ("Unsubscribe", 256, 15),
        ("MatchAlerts", 512, 120),
        # As LookUpBatch: its Express child ends within 5 minutes at worst (test_express_children.py).
        ("DeliverBatch", 256, 30),
        ("RecordDeliveries", 256, 120),
        ("FailAlerts", 128, 30),
        ("EmailFeedback", 128, 30),
    ],
)
def test_function_memory_and_timeout(template: Template, name: str, memory: int, timeout: int):
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": HANDLERS[name], "MemorySize": memory, "Timeout": timeout}
    )


@pytest.mark.slow
def test_each_function_logs_to_its_own_log_group_with_retention(template: Template):
    log_groups = template.find_resources("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 30}})
    used = {function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for function in our_functions(template).values()}
    assert len(used) == len(HANDLERS)
    assert used <= set(log_groups)


def _functions_whose_role_can(template: Template, action: str, resource: Any = None) -> set[str]:
    """The functions granted `action` (on `resource` only, when given)."""
    roles = {
        statement_holder["Roles"][0]["Ref"]
        for statement_holder in (
            policy["Properties"] for policy in template.find_resources("AWS::IAM::Policy").values()
        )
        if any(
            action in _as_list(statement["Action"]) and resource in (None, statement["Resource"])
            for statement in statement_holder["PolicyDocument"]["Statement"]
        )
    }
    return {name for name, logical_id in function_ids(template).items() if _role_of(template, logical_id) in roles}


def _role_of(template: Template, function_logical_id: str) -> str:
    function = template.find_resources("AWS::Lambda::Function")[function_logical_id]
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def _as_list(value) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.slow
def test_only_the_database_functions_can_read_the_secret(template: Template):
    outputs = template.to_json()["Outputs"]
    read = "secretsmanager:GetSecretValue"
    assert _functions_whose_role_can(template, read, outputs["DatabaseSecretArn"]["Value"]) == DATABASE_FUNCTIONS
    # MigrateSchema reads the owner's secret, and no other (test_real_accounts.py).
    assert _functions_whose_role_can(template, read, outputs["DatabaseOwnerSecretArn"]["Value"]) == {"MigrateSchema"}
    # The alerts key's readers (test_alerts_stack.py) are the only other secret readers.
    assert _functions_whose_role_can(template, read) == {*DATABASE_FUNCTIONS, "MigrateSchema", "DeliverBatch"}


@pytest.mark.slow
def test_only_the_functions_that_use_the_bucket_can_reach_it(template: Template):
    # Each grant's prefixes are asserted in test_security.py.
    assert _functions_whose_role_can(template, "s3:PutObject") == {
        "FetchReleases",
        "FetchRelease",
        "PlanLookups",
        "LookUpBatch",
        "PrepareChanges",
        "MatchAlerts",
        "DeliverBatch",
    }
    assert _functions_whose_role_can(template, "s3:GetObject") == {
        "UpsertTenders",
        "StoreLookups",
        "RecordDeliveries",
        "DeliverBatch",
    }
    # UpsertTenders lists nothing, but may: S3 then says an expired artifact is missing, not access denied.
    assert _functions_whose_role_can(template, "s3:ListBucket") == {"UpsertTenders", "StoreLookups", "RecordDeliveries"}


# State machine definition


@pytest.mark.slow
def test_definition_has_the_named_states(definition: dict[str, Any]):
    assert definition["StartAt"] == "StartJob"
    assert set(definition["States"]) == {
        "StartJob",
        "LeaseHeld?",
        "SkippedAnotherRunActive",
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
        "FinishJob",
        "SyncSucceeded",
        "FailJob",
        "SyncFailed",
    }
    assert set(definition["States"]["LookUpTenders"]["ItemProcessor"]["States"]) == {
        "LookUpBatch",
        "RecordLookupFailure",
    }


@pytest.mark.slow
def test_definition_uses_jsonpath_only(definition: dict[str, Any]):
    assert "QueryLanguage" not in json.dumps(definition)


@pytest.mark.slow
def test_the_happy_path_and_its_choices(definition: dict[str, Any]):
    states = definition["States"]
    assert states["StartJob"]["Next"] == "LeaseHeld?"
    assert states["LeaseHeld?"]["Choices"] == [
        {"Variable": "$.job.skipped", "BooleanEquals": True, "Next": "SkippedAnotherRunActive"}
    ]
    assert states["LeaseHeld?"]["Default"] == "FetchReleases"
    assert states["SkippedAnotherRunActive"]["Type"] == "Succeed"
    # The window is stored (and the cursor moved) first, whatever its lookups then do; an empty window too.
    assert states["FetchReleases"]["Next"] == "UpsertTenders"
    assert states["UpsertTenders"]["Next"] == "PlanLookups"
    assert states["PlanLookups"]["Next"] == "AnythingToLookUp?"
    # Nothing due a lookup: straight to announcing the window's changes.
    assert states["AnythingToLookUp?"]["Choices"] == [
        {"Variable": "$.lookups.tenders", "NumericEquals": 0, "Next": "PrepareChanges"}
    ]
    assert states["AnythingToLookUp?"]["Default"] == "WaitForPortal"
    # The run's range of the portal's schedule, which runs at once share.
    assert states["WaitForPortal"] == {"Type": "Wait", "TimestampPath": "$.lookups.notBefore", "Next": "LookUpTenders"}
    assert states["LookUpTenders"]["Next"] == "StoreLookups"
    assert states["StoreLookups"]["Next"] == "PrepareChanges"
    assert states["PrepareChanges"]["Next"] == "AnythingToAnnounce?"
    # Nothing to announce: nothing published.
    assert states["AnythingToAnnounce?"]["Choices"] == [
        {"Variable": "$.changes.count", "NumericEquals": 0, "Next": "FinishJob"}
    ]
    assert states["AnythingToAnnounce?"]["Default"] == "PublishChanges"
    assert states["PublishChanges"]["Next"] == "RecordPublished"
    assert states["RecordPublished"]["Next"] == "FinishJob"
    assert states["FinishJob"]["Next"] == "SyncSucceeded"
    assert states["SyncSucceeded"]["Type"] == "Succeed"


@pytest.mark.slow
def test_each_task_calls_its_function_with_a_small_payload(template: Template, definition: dict[str, Any]):
    states = states_of(definition)
    ids = function_ids(template)
    for name in TASKS:
        assert states[name]["Type"] == "Task"
        assert states[name]["Resource"] == "${GetAtt:" + ids[name] + ".Arn}"
    assert states["StartJob"]["Parameters"] == {"input.$": "$", "executionId.$": "$$.Execution.Id"}
    assert states["StartJob"]["ResultPath"] == "$.job"
    assert states["FetchReleases"]["Parameters"] == {"job.$": "$.job"}
    assert states["FetchReleases"]["ResultPath"] == "$.fetch"
    assert states["UpsertTenders"]["Parameters"] == {"job.$": "$.job", "fetch.$": "$.fetch"}
    assert states["UpsertTenders"]["ResultPath"] == "$.upsert"
    assert states["PlanLookups"]["Parameters"] == {"job.$": "$.job"}
    assert states["PlanLookups"]["ResultPath"] == "$.lookups"
    assert states["StoreLookups"]["Parameters"] == {"job.$": "$.job", "lookups.$": "$.lookups"}
    assert states["StoreLookups"]["ResultPath"] == "$.looked"
    assert states["PrepareChanges"]["Parameters"] == {"job.$": "$.job"}
    assert states["PrepareChanges"]["ResultPath"] == "$.changes"
    assert states["RecordPublished"]["ResultPath"] == "$.announced"
    assert states["FinishJob"]["ResultPath"] == "$.finish"
    assert states["FailJob"]["ResultPath"] == "$.failJob"
    assert states["FailJob"]["Parameters"] == {"state.$": "$", "executionId.$": "$$.Execution.Id", "workflow": "sync"}
    assert states["SyncFailed"] == {"Type": "Fail", "Error": "SyncFailed", "CausePath": "$.failJob.error"}
    # No Parameters: these get the whole state (RecordPublished: the job, the events and PublishChanges' error).
    for name in ("LookUpBatch", "RecordPublished", "FinishJob"):
        assert "Parameters" not in states[name]


@pytest.mark.slow
def test_each_child_outputs_only_its_lambdas_result(definition: dict[str, Any]):
    """What the Distributed Map gathers is each child's output: LookUpBatch's (and RecordLookupFailure's) is
    the function's result ({}), never its input (the batch), so it does not grow with the batch or the run."""
    processor = definition["States"]["LookUpTenders"]["ItemProcessor"]["States"]
    for name in ("LookUpBatch", "RecordLookupFailure"):
        assert processor[name]["ResultPath"] == "$", name
        for reshaping in ("ResultSelector", "OutputPath", "Output"):
            assert reshaping not in processor[name], name
        # The function's ARN itself (payload_response_only): its result, not lambda:invoke's {Payload, ...} wrapper.
        assert processor[name]["Resource"].endswith(".Arn}"), name
        assert processor[name]["End"] is True, name


@pytest.mark.slow
def test_each_task_has_exactly_one_transient_retry(definition: dict[str, Any]):
    states = states_of(definition)
    for name in [*TASKS, "RecordLookupFailure"]:
        assert states[name]["Retry"] == [
            {
                "ErrorEquals": TRANSIENT_ERRORS,
                "IntervalSeconds": 2,
                "MaxAttempts": 3,
                "BackoffRate": 2,
                "MaxDelaySeconds": 30,
                "JitterStrategy": "FULL",
            }
        ], name


@pytest.mark.slow
def test_failures_but_the_announcements_are_caught_by_fail_job(definition: dict[str, Any]):
    states = definition["States"]
    for name in CAUGHT_BY_FAIL_JOB:
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FailJob"}], (
            name
        )
    assert "Catch" not in states["FailJob"]
    assert states["FailJob"]["Next"] == "SyncFailed"


@pytest.mark.slow
def test_one_batch_failing_its_lookups_does_not_fail_the_map(definition: dict[str, Any]):
    processor = definition["States"]["LookUpTenders"]["ItemProcessor"]["States"]
    assert processor["LookUpBatch"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordLookupFailure"}
    ]
    # Nor does a child that fails outright (its failure record failed too): StoreLookups stores its tenders failed.
    assert definition["States"]["LookUpTenders"]["ToleratedFailurePercentage"] == 100


@pytest.mark.slow
def test_a_failed_batch_is_recorded_with_its_error_by_the_same_function(template: Template, definition: dict[str, Any]):
    processor = definition["States"]["LookUpTenders"]["ItemProcessor"]["States"]
    record = processor["RecordLookupFailure"]
    # The whole item state ({item, bucket, resultsPrefix, secondsBetweenLookups, error}) goes to LookUpBatch's function.
    assert record["Type"] == "Task" and "Parameters" not in record
    assert (
        record["Resource"]
        == processor["LookUpBatch"]["Resource"]
        == "${GetAtt:" + function_ids(template)["LookUpBatch"] + ".Arn}"
    )
    assert record["ResultPath"] == "$" and record["End"] is True
    assert "Catch" not in record


@pytest.mark.slow
def test_enrichment_is_a_distributed_map_reading_batches_from_s3(template: Template, definition: dict[str, Any]):
    enrich = definition["States"]["LookUpTenders"]
    (bucket_id,) = template.find_resources("AWS::S3::Bucket")
    assert enrich["Type"] == "Map"
    # Express children: the local runner makes them STANDARD (test_express_children.py).
    assert enrich["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert enrich["ItemReader"] == {
        "Resource": "arn:${Ref:AWS::Partition}:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "${Ref:" + bucket_id + "}", "Key.$": "$.lookups.itemsKey"},
    }
    # One item is one batch, as PlanLookups wrote it; each child paces its lookups at its share of the rate, and
    # starts none its run's range of the portal's schedule would not hold.
    assert enrich["ItemSelector"] == {
        "item.$": "$$.Map.Item.Value",
        "bucket.$": "$.lookups.bucket",
        "resultsPrefix.$": "$.lookups.resultsPrefix",
        "secondsBetweenLookups": 0.6,
        "notAfter.$": "$.lookups.notAfter",
    }
    assert enrich["ResultPath"] is None
    assert enrich["MaxConcurrency"] == 3
    assert enrich["ToleratedFailurePercentage"] == 100
    # The local interpreter cannot run these (docs/local-development.md, "What the local run adapts"), and none is
    # needed: the batches are PlanLookups'.
    for unsupported in ("ToleratedFailureCount", "ResultWriter", "ItemBatcher"):
        assert unsupported not in enrich


@pytest.mark.slow
def test_the_maps_children_together_stay_within_the_portals_rate(definition: dict[str, Any]):
    """Each of at most mapMaxConcurrency children starts a lookup at most every secondsBetweenLookups seconds."""
    context = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
    enrich = definition["States"]["LookUpTenders"]
    seconds = enrich["ItemSelector"]["secondsBetweenLookups"]
    assert seconds == context["mapMaxConcurrency"] / context["portalRequestsPerSecond"] == 0.6
    assert enrich["MaxConcurrency"] / seconds <= context["portalRequestsPerSecond"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("context", "concurrency", "seconds"),
    [({"mapMaxConcurrency": 4, "portalRequestsPerSecond": 8}, 4, 0.5), ({"portalRequestsPerSecond": 2}, 3, 1.5)],
)
def test_the_pace_comes_from_context(context: dict[str, Any], concurrency: int, seconds: float):
    enrich = render_definition(Template.from_stack(build_stack(context)))["States"]["LookUpTenders"]
    assert enrich["MaxConcurrency"] == concurrency
    assert enrich["ItemSelector"]["secondsBetweenLookups"] == seconds


@pytest.mark.slow
def test_map_concurrency_comes_from_context(overridden_template: Template, overrides: dict[str, Any]):
    enrich = render_definition(overridden_template)["States"]["LookUpTenders"]
    assert enrich["MaxConcurrency"] == overrides["mapMaxConcurrency"]
    # Five times the children, each a fifth as often: still 5 lookups a second in all.
    assert enrich["ItemSelector"]["secondsBetweenLookups"] == overrides["mapMaxConcurrency"] / 5


# State machine resource


@pytest.mark.slow
def test_state_machine_is_standard_traced_logged_and_bounded(template: Template, definition: dict[str, Any]):
    log_group = Capture()
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Level": "ERROR",
                "IncludeExecutionData": False,
                "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [log_group, "Arn"]}}}],
            },
        },
    )
    assert log_group.as_string() in template.find_resources("AWS::Logs::LogGroup")
    assert definition["TimeoutSeconds"] == 3600


@pytest.mark.slow
def test_state_machine_role_runs_map_children_and_reads_items(template: Template):
    state_machine_role = Capture()
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine", {"RoleArn": {"Fn::GetAtt": [state_machine_role, "Arn"]}}
    )
    statements = [
        statement
        for policy in template.find_resources(
            "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": state_machine_role.as_string()}]}}
        ).values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {action for statement in statements for action in _as_list(statement["Action"])}
    assert {"states:StartExecution", "states:DescribeExecution", "s3:GetObject", "lambda:InvokeFunction"} <= actions


# Schedule


@pytest.mark.slow
def test_schedule_starts_the_state_machine_every_30_minutes(template: Template):
    payload = Capture()
    template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "rate(30 minutes)",
            "State": "ENABLED",
            "Target": {"Arn": {"Ref": state_machine_id(template)}, "Input": payload},
        },
    )
    assert json.loads(payload.as_string()) == {
        "maxEnrichment": 300,
        "triggeredBy": "schedule",
        "scheduledTime": "<aws.scheduler.scheduled-time>",
    }


# Bucket and secret


@pytest.mark.slow
def test_bucket_is_private_encrypted_expiring_and_retained(template: Template):
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                # As long as an execution can be redriven.
                "LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 14, "Status": "Enabled"})]},
            },
            "DeletionPolicy": "Retain",
        },
    )


@pytest.mark.slow
def test_bucket_enforces_ssl(template: Template):
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Principal": {"AWS": "*"},
                            }
                        )
                    ]
                )
            }
        },
    )


@pytest.mark.slow
def test_new_secrets_are_created_when_none_are_given(template: Template):
    """The functions' secret, the owner's for the migrations at deploy, and the alerts key (always the stack's)."""
    template.resource_count_is("AWS::SecretsManager::Secret", 3)
    for whose in ("for the functions", "for the migrations at deploy", "the key the webhooks' signing secrets"):
        template.has_resource(
            "AWS::SecretsManager::Secret",
            {"Properties": {"Description": Match.string_like_regexp(whose)}, "DeletionPolicy": "Retain"},
        )


@pytest.mark.slow
def test_a_given_secret_is_used_instead_of_creating_one(overridden_template: Template, overrides: dict[str, Any]):
    arn = overrides["databaseSecretArn"]
    # The owner's secret and the alerts key are still the stack's: OVERRIDES names only the functions'.
    overridden_template.resource_count_is("AWS::SecretsManager::Secret", 2)
    functions = overridden_template.find_resources("AWS::Lambda::Function")
    for name, logical_id in function_ids(overridden_template).items():
        variables = functions[logical_id]["Properties"]["Environment"]["Variables"]
        assert variables.get("DATABASE_SECRET_ARN") == (arn if name in DATABASE_FUNCTIONS else None), name
    overridden_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "secretsmanager:GetSecretValue", "Resource": arn})]
                )
            }
        },
    )
    overridden_template.has_output("DatabaseSecretArn", {"Value": arn})


@pytest.mark.slow
def test_architecture_comes_from_context(overridden_template: Template):
    for function in our_functions(overridden_template).values():
        assert function["Properties"]["Architectures"] == ["x86_64"]


@pytest.mark.slow
def test_outputs(template: Template):
    for name in (
        *STATE_MACHINE_OUTPUTS,
        "ArtifactsBucketName",
        "DatabaseSecretArn",
        "DatabaseOwnerSecretArn",
        "AlertsTopicArn",
        "DashboardName",
        "ChangeEventsBusName",
        "AlertsKeySecretArn",
        "AlertsDeadLetterQueueUrl",
    ):
        template.has_output(name, {"Value": {"Ref": Match.any_value()}})
    template.has_output("ChangeEventsSchemaName", {"Value": {"Fn::GetAtt": [Match.any_value(), "SchemaName"]}})


# Config


def test_config_defaults_match_cdk_json():
    context = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
    assert StackConfig.from_context(App(context=context).node) == StackConfig.from_context(App().node)


def test_config_accepts_numbers_given_on_the_command_line():
    assert StackConfig.from_context(App(context={"windowDays": "3"}).node).window_days == 3


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"mapMaxConcurrency": "lots"}, "'mapMaxConcurrency' must be a whole number"),
        ({"maxEnrichment": True}, "'maxEnrichment' must be a whole number"),
        ({"sourceName": 7}, "'sourceName' must be a str"),
        ({"mapMaxConcurrency": 0}, "'mapMaxConcurrency' must be at least 1"),
        ({"lookupBatchSize": 0}, "'lookupBatchSize' must be at least 1"),
        ({"portalRequestsPerSecond": 0}, "'portalRequestsPerSecond' must be at least 1"),
        ({"notFoundRecheckHours": "daily"}, "'notFoundRecheckHours' must be a whole number"),
        ({"lambdaArchitecture": "sparc"}, "'lambdaArchitecture' must be one of"),
        ({"firstRunFrom": "September"}, "'firstRunFrom' must be a date"),
        ({"windowDays": 1, "overlapDays": 1}, "'overlapDays' must be smaller"),
    ],
)
def test_config_rejects_bad_context_naming_the_key(context: dict[str, Any], message: str):
    with pytest.raises((TypeError, ValueError), match=message):
        StackConfig.from_context(App(context=context).node)


# Bundling (runs pip against the package index; a few seconds)


@pytest.mark.slow
@pytest.mark.bundling
@pytest.mark.parametrize(("architecture", "platform"), [("arm64", "aarch64"), ("x86_64", "x86_64")])
def test_synth_bundles_one_lambda_asset_with_its_dependencies(architecture: str, platform: str):
    stack = build_stack({"lambdaArchitecture": architecture}, bundle=True)
    app = stack.node.root
    assert isinstance(app, App)
    assembly = app.synth()
    code = {
        json.dumps(function["Properties"]["Code"], sort_keys=True)
        for function in our_functions(Template.from_stack(stack)).values()
    }
    assert len(code) == 1
    (asset_dir,) = [path for path in Path(assembly.directory).glob("asset.*") if (path / "tender_sync").is_dir()]
    assert (asset_dir / "tender_sync" / "handlers").is_dir()
    assert not list(asset_dir.rglob("__pycache__"))
    assert list((asset_dir / "psycopg_binary").glob(f"*cpython-312-{platform}-linux-gnu.so"))
    assert list((asset_dir / "pydantic_core").glob(f"*cpython-312-{platform}-linux-gnu.so"))
    # Every package in the asset, transitive ones too, is the one the lock pins with its hashes.
    shipped: dict[str, str] = {
        canonicalize_name(dist.name.split("-")[0]): dist.name.removesuffix(".dist-info").split("-")[1]
        for dist in asset_dir.glob("*.dist-info")
    }
    assert shipped == locked_packages()
    # boto3, botocore and s3transfer are shipped together, botocore within what this boto3 asks for: the runtime's
    # own copies never mix with ours.
    boto3_metadata = (asset_dir / f"boto3-{shipped['boto3']}.dist-info" / "METADATA").read_text()
    (botocore,) = [
        requirement
        for line in boto3_metadata.splitlines()
        if line.startswith("Requires-Dist: ")
        for requirement in [Requirement(line.removeprefix("Requires-Dist: "))]
        if requirement.name == "botocore" and not requirement.marker
    ]
    assert botocore.specifier.contains(shipped["botocore"])
    assert {"boto3", "botocore", "s3transfer"} <= set(shipped)


@pytest.mark.slow
def test_synth_template_returns_the_cloudformation_template():
    template = synth_template({"scheduleExpression": "rate(1 hour)"})
    sync = {"Ref": SYNC.state_machine_id(template)}
    (schedule,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule" and r["Properties"]["Target"]["Arn"] == sync
    ]
    assert schedule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    assert set(template["Outputs"]) == {
        *STATE_MACHINE_OUTPUTS,
        "ArtifactsBucketName",
        "DatabaseSecretArn",
        "DatabaseOwnerSecretArn",
        "AlertsTopicArn",
        "DashboardName",
        "ChangeEventsBusName",
        "ChangeEventsSchemaName",
        "AppEventsDeadLetterQueueUrl",
        "AppEventsUndeliveredQueueUrl",
        "AlertsKeySecretArn",
        "AlertsDeadLetterQueueUrl",
        "UnsubscribeUrl",
        "EmailConfigurationSetName",
    }


def locked_packages() -> dict[str, str]:
    """Each package lambdas/requirements.txt pins for Python 3.12 on Linux, with its version; each has hashes."""
    lock = (Path(__file__).parents[2] / "lambdas" / "requirements.txt").read_text()
    pinned: dict[str, str] = {}
    for requirement in lock.replace("\\\n", " ").splitlines():
        if not requirement.strip() or requirement.lstrip().startswith("#"):
            continue
        assert "--hash=sha256:" in requirement, requirement
        parsed = Requirement(requirement.split(" --hash")[0].strip())
        if parsed.marker and not parsed.marker.evaluate(
            {"python_version": "3.12", "sys_platform": "linux", "implementation_name": "cpython"}
        ):
            continue
        (specifier,) = parsed.specifier
        pinned[canonicalize_name(parsed.name)] = specifier.version
    return pinned
