"""Reading the synthesized stack as the infra tests do: the functions by handler, the state machines' definitions
with their tokens as placeholders, the retry every task has, and one `cdk synth` with the cdk-nag checks."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from aws_cdk.assertions import Template

from infra.stack import build_stack
from local.engine.template import definition
from tender_sync.errors import DatabaseUnavailable, SourceUnavailable
from tender_sync.workflows import SYNC, WORKFLOWS

# Each function by its construct id, and its handler.
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
    "MigrateSchema": "tender_sync.handlers.migrate_schema.handler",
    "StartRequested": "tender_sync.handlers.start_requested.handler",
    "Unsubscribe": "tender_sync.handlers.unsubscribe.handler",
    "MatchAlerts": "tender_sync.handlers.match_alerts.handler",
    "DeliverBatch": "tender_sync.handlers.deliver_batch.handler",
    "RecordDeliveries": "tender_sync.handlers.record_deliveries.handler",
    "FailAlerts": "tender_sync.handlers.fail_alerts.handler",
    "EmailFeedback": "tender_sync.handlers.email_feedback.handler",
}
# The functions that open a database connection (and so read the secret).
DATABASE_FUNCTIONS = {
    "StartJob",
    "UpsertTenders",
    "PlanLookups",
    "StoreLookups",
    "PrepareChanges",
    "RecordPublished",
    "FinishJob",
    "FailJob",
    "StartEnrichToday",
    "StartBackfill",
    "StartSingleTender",
    "CleanupJobs",
    "StartRequested",
    "Unsubscribe",
    "MatchAlerts",
    "RecordDeliveries",
    "FailAlerts",
    "EmailFeedback",
}
STATE_MACHINE_OUTPUTS = [workflow.stack_output for workflow in WORKFLOWS.values()]
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
# The one Retry every task has.
RETRY = [
    {
        "ErrorEquals": TRANSIENT_ERRORS,
        "IntervalSeconds": 2,
        "MaxAttempts": 3,
        "BackoffRate": 2,
        "MaxDelaySeconds": 30,
        "JitterStrategy": "FULL",
    }
]

# Every optional setting at once: an imported secret, x86, a VPC, an RDS Proxy and the changes queue.
OVERRIDES: dict[str, Any] = {
    "mapMaxConcurrency": 25,
    "databaseSecretArn": "arn:aws:secretsmanager:af-south-1:123456789012:secret:tender-sync/database-AbCdEf",
    "lambdaArchitecture": "x86_64",
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
    "securityGroupId": "sg-0a1b2c3d4e5f60718",
    "databaseProxyEndpoint": "tender-sync.proxy-c0ffee.af-south-1.rds.amazonaws.com",
    "changesQueue": True,
}
# The deployable variants the checks run on: cdk.json as it is, and with every option set.
CONTEXTS: dict[str, dict[str, Any]] = {"defaults": {}, "every-option": OVERRIDES}


def state_machine_id(template: Template, output: str = SYNC.stack_output) -> str:
    """The logical id of the state machine the stack output names."""
    (workflow,) = [workflow for workflow in WORKFLOWS.values() if workflow.stack_output == output]
    return workflow.state_machine_id(dict(template.to_json()))


def render_definition(template: Template, output: str = SYNC.stack_output) -> dict[str, Any]:
    """The definition of the state machine a stack output names, each CloudFormation token replaced by a
    placeholder like ${GetAtt:Id.Arn}."""
    state_machine = template.find_resources("AWS::StepFunctions::StateMachine")[state_machine_id(template, output)]
    separator, parts = state_machine["Properties"]["DefinitionString"]["Fn::Join"]
    definition: dict[str, Any] = json.loads(
        separator.join(part if isinstance(part, str) else _placeholder(part) for part in parts)
    )
    return definition


def _placeholder(token: dict[str, Any]) -> str:
    if "Ref" in token:
        return "${Ref:" + token["Ref"] + "}"
    if "Fn::GetAtt" in token:
        return "${GetAtt:" + ".".join(token["Fn::GetAtt"]) + "}"
    raise ValueError(f"unexpected token in the definition: {token}")


def rendered_definitions(template: dict[str, Any]) -> dict[str, str]:
    """Each state machine's DefinitionString as plain JSON, its Fn::Join/Ref/GetAtt replaced by placeholder
    names and ARNs (the local runner's), by logical id."""
    return {
        logical_id: definition(template, logical_id)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }


def our_functions(template: Template) -> dict[str, dict[str, Any]]:
    """The stack's own functions, by logical id: not the CDK's provider of the migration trigger (Node.js)."""
    return {
        logical_id: dict(function)
        for logical_id, function in template.find_resources("AWS::Lambda::Function").items()
        if function["Properties"]["Handler"].startswith("tender_sync.")
    }


def function_ids(template: Template) -> dict[str, str]:
    """Construct id (StartJob, ...) -> logical id, found by handler."""
    by_handler = {
        resource["Properties"]["Handler"]: logical_id for logical_id, resource in our_functions(template).items()
    }
    return {name: by_handler[handler] for name, handler in HANDLERS.items()}


def single_resource(template: dict[str, Any], kind: str) -> str:
    """The logical id of the template's one resource of type `kind`."""
    (logical_id,) = [k for k, r in template["Resources"].items() if r["Type"] == kind]
    return logical_id


@dataclass
class Synthesis:
    """One `cdk synth` with the cdk-nag checks: the template and CDK's validation report."""

    context: dict[str, Any]
    template: dict[str, Any]
    report: dict[str, Any]
    acknowledgments: dict[tuple[str, str], str]  # (construct path, rule id) -> reason


def synthesize(context: dict[str, Any]) -> Synthesis:
    """The stack with `context` on top of cdk.json's, synthesized with its checks. Synthesis fails here on an
    unacknowledged finding, as `cdk synth` does."""
    stack = build_stack(context, checks=True)
    app = stack.node.root
    assert isinstance(app, App)
    assembly = app.synth()
    acknowledgments = {
        (construct.node.path, rule): reason
        for construct in stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule, reason in entry.data.items()
    }
    return Synthesis(
        context=context,
        template=assembly.get_stack_artifact(stack.artifact_id).template,
        report=json.loads((Path(assembly.directory) / "validation-report.json").read_text()),
        acknowledgments=acknowledgments,
    )
