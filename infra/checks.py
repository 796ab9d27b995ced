"""cdk-nag's AwsSolutions rules, run at every `cdk synth` (CDK's Validations), and each finding we accept, with its reason.

An acknowledgment names one finding on one construct, so a new wildcard or a new resource is reported, never
silently covered."""

from aws_cdk import Acknowledgment, App, CfnElement, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.alerts import Alerts
from infra.app_events import AppEvents
from infra.changes import ChangeEvents
from infra.functions import (
    CHANGES_OBJECTS,
    DELIVERY_BATCHES,
    DELIVERY_RESULTS,
    ENRICHMENT_RESULTS,
    RUN_ARTIFACTS,
    WorkflowFunctions,
)
from infra.workflow import WorkflowStateMachine
from tender_sync.workflows import JOB_WORKFLOWS

PACK = "AwsSolutions"


def add_checks(app: App) -> None:
    """Synthesis fails on any AwsSolutions finding not acknowledged below."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{PACK}::{PACK}-{finding}", reason=reason))


def acknowledge_findings(
    *,
    bucket: s3.Bucket,
    database_secrets: list[secretsmanager.ISecret],
    functions: WorkflowFunctions,
    workflows: list[WorkflowStateMachine],
    change_events: ChangeEvents,
    app_events: AppEvents,
    alerts: Alerts,
    alerts_key: secretsmanager.Secret,
) -> None:
    acknowledge(
        bucket,
        "S1",
        "The bucket holds only short-lived run artifacts (expiring after artifactExpiryDays), reached only by this "
        "stack's roles; access logs would need a second bucket kept longer than the data they describe. "
        "CloudTrail S3 data events can audit it when required.",
    )
    for database_secret in database_secrets:
        if not isinstance(database_secret, secretsmanager.Secret):
            continue
        acknowledge(
            database_secret,
            "SMG4",
            "The secret is a PostgreSQL URL set by the database owner, who rotates the password; the functions "
            "re-read the secret within 5 minutes of a change. A rotation Lambda would need the database's admin rights.",
        )
    bucket_arn = f"<{_logical_id(bucket)}.Arn>"
    for function in functions.all:
        acknowledge(
            function,
            "L1",
            "Python 3.12 is a supported Lambda runtime; the asset is built and tested for it "
            "(infra/bundling.py PYTHON_VERSION). Moving on is a deliberate change with its own test run.",
        )
        acknowledge(
            _role(function),
            "IAM5[Resource::*]",
            "Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing): X-Ray has no resource-level permissions.",
        )
    for function in (
        *functions.staging_functions,
        functions.upsert_tenders,
        functions.plan_lookups,
        functions.store_lookups,
        functions.match_alerts,
        functions.record_deliveries,
    ):
        acknowledge(
            _role(function),
            f"IAM5[Resource::{bucket_arn}/{RUN_ARTIFACTS}]",
            "Run artifacts are keyed by execution (runs/<state machine>/<execution>/), known only at run time.",
        )
    acknowledge(
        _role(functions.prepare_changes),
        f"IAM5[Resource::{bucket_arn}/{CHANGES_OBJECTS}]",
        "Each event's changes object is keyed by the execution that stored its window, known only at run time; "
        "nothing outside changes/.",
    )
    acknowledge(
        _role(functions.look_up_batch),
        f"IAM5[Resource::{bucket_arn}/{ENRICHMENT_RESULTS}]",
        "Each batch's result is keyed by execution and batch, known only at run time; nothing outside looked-up/.",
    )
    acknowledge(
        _role(functions.deliver_batch),
        f"IAM5[Resource::{bucket_arn}/{DELIVERY_BATCHES}]",
        "Each batch is keyed by execution and batch, known only at run time; nothing outside deliveries/.",
    )
    acknowledge(
        _role(functions.deliver_batch),
        f"IAM5[Resource::{bucket_arn}/{DELIVERY_RESULTS}]",
        "Each batch's result is keyed by execution and batch, known only at run time; nothing outside delivered/.",
    )
    acknowledge(
        _role(functions.deliver_batch),
        "IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]",
        "SES checks the identity of the sender and of each recipient: the recipients are the subscribers, known "
        "only at run time. The policy's condition holds the sender to alertFromAddress.",
    )
    for policy in functions.network_policies:
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "Lambda's network interface actions in the VPC: the EC2 Describe actions take no resource ARNs "
            "(the same actions as AWS's AWSLambdaVPCAccessExecutionRole, without its logs on every log group).",
        )

    for workflow in workflows:
        _acknowledge_state_machine(workflow, bucket)
    for workflow in workflows:
        if workflow.workflow in JOB_WORKFLOWS:
            acknowledge(
                _role(functions.clean_up_jobs),
                f"IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                f"<{_logical_id(workflow.state_machine)}.Name>:*]",
                "Cleanup describes the executions of this state machine, named only at run time; no other action.",
            )
        if workflow.workflow.detail_type is not None:
            acknowledge(
                _role(functions.start_requested),
                f"IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                f"<{_logical_id(workflow.state_machine)}.Name>:*]",
                "StartRequested describes the executions of this state machine it started (whether its single-tender "
                "run has ended), named from the app's events at run time; no other action on them.",
            )
    acknowledge(
        app_events.undelivered_queue,
        "SQS3",
        "It is itself a dead-letter queue: the AppEvents rule target's, where EventBridge puts what it could not "
        "deliver (the target's DeadLetterConfig, which cdk-nag does not count as a DLQ's use). Nothing consumes it.",
    )
    acknowledge(
        alerts.dead_letter_queue,
        "SQS3",
        "It is itself a dead-letter queue: the alerts rule target's, where EventBridge puts the events it could not "
        "start an alerts run for (the target's DeadLetterConfig). Nothing consumes it; an alarm watches it.",
    )
    acknowledge(
        alerts_key,
        "SMG4",
        "A random key made once: rotating it would leave every stored signing secret unreadable. A subscriber's "
        "own secret is rotated with `alerts rotate-secret`.",
    )


def _acknowledge_state_machine(workflow: WorkflowStateMachine, bucket: s3.Bucket) -> None:
    state_machine = workflow.state_machine
    role = state_machine.role
    for function in workflow.invoked_functions:
        acknowledge(
            role,
            f"IAM5[Resource::<{_logical_id(function)}.Arn>:*]",
            "CDK's Lambda task grant also covers the function's versions and aliases (the ARN with a qualifier).",
        )
    if workflow.fans_out:
        acknowledge(
            role,
            f"IAM5[Resource::arn:<AWS::Partition>:s3:::<{_logical_id(bucket)}>/*]",
            "The Distributed Map's ItemReader reads the run's items object; its key is known only at run time.",
        )
        executions = (
            "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            '{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"' + _logical_id(state_machine) + '"}]}]}'
        )
        for pattern in (":*", "/*:*"):
            acknowledge(
                state_machine,
                f"IAM5[Resource::{executions}{pattern}]",
                "The Distributed Map describes, stops and redrives its own child executions, named only at run time.",
            )
    acknowledge(
        role,
        "IAM5[Resource::*]",
        "Only the X-Ray actions of tracing and the CloudWatch Logs delivery actions of execution logging: "
        "neither takes resource ARNs.",
    )
    acknowledge(
        state_machine,
        "SF1",
        "Logs at ERROR level: every failed state and execution is recorded. ALL would log each of the Map's "
        "child executions on every run, execution data excluded either way (contact fields are personal data).",
    )


def _logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of an L2 construct's resource, as cdk-nag names it in a finding."""
    stack = Stack.of(construct)
    resource = construct.node.default_child
    assert isinstance(resource, CfnElement)
    return str(stack.resolve(stack.get_logical_id(resource)))


def _role(function: lambda_.Function) -> iam.IRole:
    """The role WorkflowFunctions gave the function."""
    assert function.role is not None
    return function.role
