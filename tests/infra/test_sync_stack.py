import json
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Capture, Match, Template

from infra.config import StackConfig
from infra.stack import build_stack, synth_template
from tender_sync.errors import DatabaseUnavailable, SourceUnavailable
from tender_sync.workflows import SYNC, WORKFLOWS

HANDLERS = {
    "StartJob": "tender_sync.handlers.start_job.handler",
    "FetchReleases": "tender_sync.handlers.fetch_releases.handler",
    "UpsertTenders": "tender_sync.handlers.upsert_tenders.handler",
    "PlanLookups": "tender_sync.handlers.plan_lookups.handler",
    "LookUpBatch": "tender_sync.handlers.look_up_batch.handler",
    "StoreLookups": "tender_sync.handlers.store_lookups.handler",
    "PrepareChanges": "tender_sync.handlers.prepare_changes.handler",
    "RecordPublished": "tender_sync.handlers.record_published.handler",
    "FinishJob": "tender_sync.handlers.finish_job.handler",
    "FailJob": "tender_sync.handlers.fail_job.handler",
    "StartEnrichToday": "tender_sync.handlers.start_enrich_today.handler",
    "StartBackfill": "tender_sync.handlers.start_backfill.handler",
    "NextWindow": "tender_sync.handlers.next_window.handler",
    "StartSingleTender": "tender_sync.handlers.start_single_tender.handler",
    "FetchRelease": "tender_sync.handlers.fetch_release.handler",
    "CleanupJobs": "tender_sync.handlers.clean_up_jobs.handler",
}
DATABASE_FUNCTIONS = {
    "StartJob", "UpsertTenders", "PlanLookups", "StoreLookups", "PrepareChanges", "RecordPublished", "FinishJob", "FailJob",
    "StartEnrichToday", "StartBackfill", "StartSingleTender", "CleanupJobs",
}
STATE_MACHINE_OUTPUTS = [workflow.stack_output for workflow in WORKFLOWS.values()]
TASKS = [
    "StartJob", "FetchReleases", "UpsertTenders", "PlanLookups", "LookUpBatch", "StoreLookups", "PrepareChanges",
    "RecordPublished", "FinishJob", "FailJob",
]
# Not PrepareChanges, PublishChanges or RecordPublished: a failure to announce never fails a run (test_change_events.py).
CAUGHT_BY_FAIL_JOB = ["StartJob", "FetchReleases", "UpsertTenders", "PlanLookups", "LookUpTenders", "StoreLookups", "FinishJob"]
# The Lambda errorTypes of our transient exceptions, read from the classes: renaming one keeps its retries.
TRANSIENT_ERRORS = [
    SourceUnavailable.__name__,
    DatabaseUnavailable.__name__,
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def render_definition(template: Template, output: str = SYNC.stack_output) -> dict:
    """The definition of the state machine a stack output names, each CloudFormation token replaced by a
    placeholder like ${GetAtt:Id.Arn}."""
    state_machine = template.find_resources("AWS::StepFunctions::StateMachine")[state_machine_id(template, output)]
    separator, parts = state_machine["Properties"]["DefinitionString"]["Fn::Join"]
    return json.loads(separator.join(part if isinstance(part, str) else _placeholder(part) for part in parts))


def _placeholder(token: dict) -> str:
    if "Ref" in token:
        return "${Ref:" + token["Ref"] + "}"
    if "Fn::GetAtt" in token:
        return "${GetAtt:" + ".".join(token["Fn::GetAtt"]) + "}"
    raise ValueError(f"unexpected token in the definition: {token}")


def state_machine_id(template: Template, output: str = SYNC.stack_output) -> str:
    """The logical id of the state machine the stack output names."""
    (workflow,) = [workflow for workflow in WORKFLOWS.values() if workflow.stack_output == output]
    return workflow.state_machine_id(template.to_json())


def states_of(definition: dict) -> dict:
    """Top-level states and the Map's item processor states, in one dict."""
    return {**definition["States"], **definition["States"]["LookUpTenders"]["ItemProcessor"]["States"]}


def function_ids(template: Template) -> dict:
    """Construct id (StartJob, ...) -> logical id, found by handler."""
    by_handler = {
        resource["Properties"]["Handler"]: logical_id
        for logical_id, resource in template.find_resources("AWS::Lambda::Function").items()
    }
    return {name: by_handler[handler] for name, handler in HANDLERS.items()}


@pytest.fixture(scope="module")
def definition(template: Template) -> dict:
    return render_definition(template)


# Functions


def test_sixteen_functions_on_python_3_12_with_their_handlers(template: Template):
    template.resource_count_is("AWS::Lambda::Function", 16)
    for handler in HANDLERS.values():
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {"Handler": handler, "Runtime": "python3.12", "Architectures": ["arm64"], "TracingConfig": {"Mode": "Active"}},
        )


SYNC_SETTINGS = {
    "SOURCE_NAME": "etenders-za", "FIRST_RUN_FROM": "2025-09-01", "WINDOW_DAYS": "7", "OVERLAP_DAYS": "1",
    "LEASE_SECONDS": "3600", "MAX_ENRICHMENT": "300",
}
LOOKUP_SETTINGS = {"LOOKUP_BATCH_SIZE": "20", "MAP_MAX_CONCURRENCY": "3", "NOT_FOUND_RECHECK_HOURS": "24"}
SOURCE_SETTINGS = {
    "SOURCE_NAME": "etenders-za", "OCDS_BASE_URL": "https://ocds-api.etenders.gov.za",
    "PORTAL_BASE_URL": "https://www.etenders.gov.za",
}


def test_functions_share_one_code_asset_and_each_gets_only_the_environment_it_reads(template: Template):
    functions = template.find_resources("AWS::Lambda::Function")
    assert len({json.dumps(function["Properties"]["Code"], sort_keys=True) for function in functions.values()}) == 1
    [bucket] = template.find_resources("AWS::S3::Bucket")
    [secret] = template.find_resources("AWS::SecretsManager::Secret")
    powertools = {"POWERTOOLS_SERVICE_NAME": "tender-sync", "POWERTOOLS_METRICS_NAMESPACE": "TenderSync"}
    database = {"DATABASE_SECRET_ARN": {"Ref": secret}}
    artifacts = {"BUCKET_NAME": {"Ref": bucket}}
    expected = {
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
    }
    for name, logical_id in function_ids(template).items():
        assert functions[logical_id]["Properties"]["Environment"]["Variables"] == {**powertools, **expected[name]}, name


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
        ("FetchRelease", 256, 120),
        ("CleanupJobs", 256, 300),
    ],
)
def test_function_memory_and_timeout(template: Template, name: str, memory: int, timeout: int):
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": HANDLERS[name], "MemorySize": memory, "Timeout": timeout}
    )


def test_each_function_logs_to_its_own_log_group_with_retention(template: Template):
    log_groups = template.find_resources("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 30}})
    used = {
        function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for function in template.find_resources("AWS::Lambda::Function").values()
    }
    assert len(used) == 16
    assert used <= set(log_groups)


def _functions_whose_role_can(template: Template, action: str) -> set[str]:
    roles = {
        statement_holder["Roles"][0]["Ref"]
        for statement_holder in (policy["Properties"] for policy in template.find_resources("AWS::IAM::Policy").values())
        if any(action in _as_list(statement["Action"]) for statement in statement_holder["PolicyDocument"]["Statement"])
    }
    return {name for name, logical_id in function_ids(template).items() if _role_of(template, logical_id) in roles}


def _role_of(template: Template, function_logical_id: str) -> str:
    function = template.find_resources("AWS::Lambda::Function")[function_logical_id]
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_only_the_database_functions_can_read_the_secret(template: Template):
    assert _functions_whose_role_can(template, "secretsmanager:GetSecretValue") == DATABASE_FUNCTIONS


def test_only_the_functions_that_use_the_bucket_can_reach_it(template: Template):
    # Each grant's prefixes are asserted in test_security.py.
    assert _functions_whose_role_can(template, "s3:PutObject") == {
        "FetchReleases", "FetchRelease", "PlanLookups", "LookUpBatch", "PrepareChanges"}
    assert _functions_whose_role_can(template, "s3:GetObject") == {"UpsertTenders", "StoreLookups"}
    assert _functions_whose_role_can(template, "s3:ListBucket") == {"StoreLookups"}


# State machine definition


def test_definition_has_the_named_states(definition: dict):
    assert definition["StartAt"] == "StartJob"
    assert set(definition["States"]) == {
        "StartJob",
        "LeaseHeld?",
        "SkippedAnotherRunActive",
        "FetchReleases",
        "UpsertTenders",
        "PlanLookups",
        "AnythingToLookUp?",
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
        "LookUpBatch", "RecordLookupFailure"}


def test_definition_uses_jsonpath_only(definition: dict):
    assert "QueryLanguage" not in json.dumps(definition)


def test_the_happy_path_and_its_choices(definition: dict):
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
        {"Variable": "$.lookups.tenders", "NumericEquals": 0, "Next": "PrepareChanges"}]
    assert states["AnythingToLookUp?"]["Default"] == "LookUpTenders"
    assert states["LookUpTenders"]["Next"] == "StoreLookups"
    assert states["StoreLookups"]["Next"] == "PrepareChanges"
    assert states["PrepareChanges"]["Next"] == "AnythingToAnnounce?"
    # Nothing to announce: nothing published.
    assert states["AnythingToAnnounce?"]["Choices"] == [
        {"Variable": "$.changes.count", "NumericEquals": 0, "Next": "FinishJob"}]
    assert states["AnythingToAnnounce?"]["Default"] == "PublishChanges"
    assert states["PublishChanges"]["Next"] == "RecordPublished"
    assert states["RecordPublished"]["Next"] == "FinishJob"
    assert states["FinishJob"]["Next"] == "SyncSucceeded"
    assert states["SyncSucceeded"]["Type"] == "Succeed"


def test_each_task_calls_its_function_with_a_small_payload(template: Template, definition: dict):
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


def test_each_child_outputs_only_its_lambdas_result(definition: dict):
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


def test_each_task_has_exactly_one_transient_retry(definition: dict):
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


def test_failures_but_the_announcements_are_caught_by_fail_job(definition: dict):
    states = definition["States"]
    for name in CAUGHT_BY_FAIL_JOB:
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "FailJob"}], name
    assert "Catch" not in states["FailJob"]
    assert states["FailJob"]["Next"] == "SyncFailed"


def test_one_batch_failing_its_lookups_does_not_fail_the_map(definition: dict):
    processor = definition["States"]["LookUpTenders"]["ItemProcessor"]["States"]
    assert processor["LookUpBatch"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordLookupFailure"}]
    # Nor does a child that fails outright (its failure record failed too): StoreLookups stores its tenders failed.
    assert definition["States"]["LookUpTenders"]["ToleratedFailurePercentage"] == 100


def test_a_failed_batch_is_recorded_with_its_error_by_the_same_function(template: Template, definition: dict):
    processor = definition["States"]["LookUpTenders"]["ItemProcessor"]["States"]
    record = processor["RecordLookupFailure"]
    # The whole item state ({item, bucket, resultsPrefix, secondsBetweenLookups, error}) goes to LookUpBatch's function.
    assert record["Type"] == "Task" and "Parameters" not in record
    assert record["Resource"] == processor["LookUpBatch"]["Resource"] == "${GetAtt:" + function_ids(template)["LookUpBatch"] + ".Arn}"
    assert record["ResultPath"] == "$" and record["End"] is True
    assert "Catch" not in record


def test_enrichment_is_a_distributed_map_reading_batches_from_s3(template: Template, definition: dict):
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
    # One item is one batch, as PlanLookups wrote it; each child paces its lookups at its share of the rate.
    assert enrich["ItemSelector"] == {
        "item.$": "$$.Map.Item.Value",
        "bucket.$": "$.lookups.bucket",
        "resultsPrefix.$": "$.lookups.resultsPrefix",
        "secondsBetweenLookups": 0.6,
    }
    assert enrich["ResultPath"] is None
    assert enrich["MaxConcurrency"] == 3
    assert enrich["ToleratedFailurePercentage"] == 100
    # The local interpreter cannot run these (see docs/DESIGN.md), and none is needed: the batches are PlanLookups'.
    for unsupported in ("ToleratedFailureCount", "ResultWriter", "ItemBatcher"):
        assert unsupported not in enrich


def test_the_maps_children_together_stay_within_the_portals_rate(definition: dict):
    """Each of at most mapMaxConcurrency children starts a lookup at most every secondsBetweenLookups seconds."""
    context = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
    enrich = definition["States"]["LookUpTenders"]
    seconds = enrich["ItemSelector"]["secondsBetweenLookups"]
    assert seconds == context["mapMaxConcurrency"] / context["portalRequestsPerSecond"] == 0.6
    assert enrich["MaxConcurrency"] / seconds <= context["portalRequestsPerSecond"]


@pytest.mark.parametrize(
    ("context", "concurrency", "seconds"),
    [({"mapMaxConcurrency": 4, "portalRequestsPerSecond": 8}, 4, 0.5), ({"portalRequestsPerSecond": 2}, 3, 1.5)],
)
def test_the_pace_comes_from_context(context: dict, concurrency: int, seconds: float):
    enrich = render_definition(Template.from_stack(build_stack(context)))["States"]["LookUpTenders"]
    assert enrich["MaxConcurrency"] == concurrency
    assert enrich["ItemSelector"]["secondsBetweenLookups"] == seconds


def test_map_concurrency_comes_from_context(overridden_template: Template, overrides: dict):
    enrich = render_definition(overridden_template)["States"]["LookUpTenders"]
    assert enrich["MaxConcurrency"] == overrides["mapMaxConcurrency"]
    # Five times the children, each a fifth as often: still 5 lookups a second in all.
    assert enrich["ItemSelector"]["secondsBetweenLookups"] == overrides["mapMaxConcurrency"] / 5


# State machine resource


def test_state_machine_is_standard_traced_logged_and_bounded(template: Template, definition: dict):
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


def test_state_machine_role_runs_map_children_and_reads_items(template: Template):
    state_machine_role = Capture()
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {"RoleArn": {"Fn::GetAtt": [state_machine_role, "Arn"]}})
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
                "LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 7, "Status": "Enabled"})]},
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_bucket_enforces_ssl(template: Template):
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Principal": {"AWS": "*"}}
                        )
                    ]
                )
            }
        },
    )


def test_a_new_secret_is_created_when_none_is_given(template: Template):
    template.resource_count_is("AWS::SecretsManager::Secret", 1)
    template.has_resource(
        "AWS::SecretsManager::Secret",
        {"Properties": {"Description": Match.string_like_regexp("PostgreSQL URL")}, "DeletionPolicy": "Retain"},
    )


def test_a_given_secret_is_used_instead_of_creating_one(overridden_template: Template, overrides: dict):
    arn = overrides["databaseSecretArn"]
    overridden_template.resource_count_is("AWS::SecretsManager::Secret", 0)
    functions = overridden_template.find_resources("AWS::Lambda::Function")
    for name, logical_id in function_ids(overridden_template).items():
        variables = functions[logical_id]["Properties"]["Environment"]["Variables"]
        assert variables.get("DATABASE_SECRET_ARN") == (arn if name in DATABASE_FUNCTIONS else None), name
    overridden_template.has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like({"Action": "secretsmanager:GetSecretValue", "Resource": arn})])}},
    )
    overridden_template.has_output("DatabaseSecretArn", {"Value": arn})


def test_architecture_comes_from_context(overridden_template: Template):
    overridden_template.all_resources_properties("AWS::Lambda::Function", {"Architectures": ["x86_64"]})


def test_outputs(template: Template):
    for name in (
        *STATE_MACHINE_OUTPUTS, "ArtifactsBucketName", "DatabaseSecretArn", "AlertsTopicArn", "DashboardName",
        "ChangeEventsBusName",
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
def test_config_rejects_bad_context_naming_the_key(context: dict, message: str):
    with pytest.raises((TypeError, ValueError), match=message):
        StackConfig.from_context(App(context=context).node)


# Bundling (runs pip against the package index; a few seconds)


@pytest.mark.bundling
@pytest.mark.parametrize(("architecture", "platform"), [("arm64", "aarch64"), ("x86_64", "x86_64")])
def test_synth_bundles_one_lambda_asset_with_its_dependencies(architecture: str, platform: str):
    stack = build_stack({"lambdaArchitecture": architecture}, bundle=True)
    assembly = stack.node.root.synth()
    code = {
        json.dumps(function["Properties"]["Code"], sort_keys=True)
        for function in Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    }
    assert len(code) == 1
    (asset_dir,) = Path(assembly.directory).glob("asset.*")
    assert (asset_dir / "tender_sync" / "handlers").is_dir()
    assert not list(asset_dir.rglob("__pycache__"))
    assert list((asset_dir / "psycopg_binary").glob(f"*cpython-312-{platform}-linux-gnu.so"))
    assert list((asset_dir / "pydantic_core").glob(f"*cpython-312-{platform}-linux-gnu.so"))


def test_synth_template_returns_the_cloudformation_template():
    template = synth_template({"scheduleExpression": "rate(1 hour)"})
    sync = {"Ref": SYNC.state_machine_id(template)}
    (schedule,) = [
        r for r in template["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule" and r["Properties"]["Target"]["Arn"] == sync
    ]
    assert schedule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    assert set(template["Outputs"]) == {
        *STATE_MACHINE_OUTPUTS, "ArtifactsBucketName", "DatabaseSecretArn", "AlertsTopicArn", "DashboardName",
        "ChangeEventsBusName", "ChangeEventsSchemaName",
    }
