"""The tender sync stack, and `synth_template` for the local runner and the tests."""

import json
from collections.abc import Callable
from typing import Any

from aws_cdk import App, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.alerts import Alerts, AlertsWorkflow
from infra.app_events import AppEvents
from infra.changes import ChangeEvents
from infra.checks import acknowledge_findings, add_checks
from infra.config import CDK_JSON, StackConfig
from infra.endpoints import VpcEndpoints
from infra.functions import WorkflowFunctions
from infra.migrations import SchemaMigrations
from infra.monitoring import Monitoring
from infra.operations import BackfillWorkflow, CleanupWorkflow, EnrichTodayWorkflow, SingleTenderWorkflow
from infra.sync_workflow import SyncWorkflow
from infra.workflow import WorkflowStateMachine
from tender_sync.workflows import JOB_WORKFLOWS


class TenderSyncStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)

        bucket = s3.Bucket(
            self,
            "ArtifactsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.artifact_expiry_days))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        database_secret = self._secret(
            "DatabaseSecret",
            config.database_secret_arn,
            "Tender sync database, for the functions: replace the generated value with the PostgreSQL URL of a user that "
            "may only read and write the tables, e.g. postgresql://tender_sync_app:password@host:5432/dbname",
        )
        owner_secret = self._secret(
            "DatabaseOwnerSecret",
            config.database_owner_secret_arn,
            "Tender sync database, for the migrations at deploy: replace the generated value with the PostgreSQL URL "
            "of the schema's owner, e.g. postgresql://owner:password@host:5432/dbname",
        )
        # Opens the webhooks' signing secrets where they are stored, and signs the emails' unsubscribe links.
        alerts_key = secretsmanager.Secret(
            self,
            "AlertsKey",
            description="Tender sync alerts: the key the webhooks' signing secrets are encrypted with",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=RemovalPolicy.RETAIN,
        )
        if config.vpc_endpoints:
            VpcEndpoints(self, "VpcEndpoints", config=config)
        functions = WorkflowFunctions(
            self,
            "Functions",
            config=config,
            bucket=bucket,
            database_secret=database_secret,
            owner_secret=owner_secret,
            alerts_key=alerts_key,
        )
        change_events = ChangeEvents(self, "ChangeEvents", config=config)

        def build(kind: Callable[..., WorkflowStateMachine], construct_id: str) -> WorkflowStateMachine:
            return kind(self, construct_id, config=config, functions=functions, bucket=bucket, bus=change_events.bus)

        workflow = build(SyncWorkflow, "SyncWorkflow")
        enrich_today = build(EnrichTodayWorkflow, "EnrichTodayWorkflow")
        backfill = build(BackfillWorkflow, "BackfillWorkflow")
        single_tender = build(SingleTenderWorkflow, "SingleTenderWorkflow")
        cleanup = build(CleanupWorkflow, "CleanupWorkflow")
        alerts_workflow = build(AlertsWorkflow, "AlertsWorkflow")
        workflows = [workflow, enrich_today, backfill, single_tender, cleanup, alerts_workflow]
        # The app's events start the workflows they name.
        app_events = AppEvents(
            self,
            "AppEvents",
            config=config,
            bus=change_events.bus,
            consumer=functions.start_requested,
            state_machines={w.workflow.name: w.state_machine for w in workflows},
        )
        alerts = Alerts(
            self,
            "Alerts",
            config=config,
            bus=change_events.bus,
            functions=functions,
            state_machine=alerts_workflow.state_machine,
        )
        # The migrations run at deploy, before any state machine (or the app events' consumer) is updated to code
        # that needs them.
        SchemaMigrations(self, "SchemaMigrations", function=functions.migrate_schema).before(
            *(w.state_machine for w in workflows),
            functions.start_requested,
            functions.unsubscribe,
            functions.email_feedback,
        )
        # Cleanup checks the executions of the workflows that open jobs.
        functions.allow_checking_executions([w.state_machine for w in workflows if w.workflow in JOB_WORKFLOWS])

        self._schedule(
            "SyncSchedule",
            "Starts a tender sync run",
            config.schedule_expression,
            workflow.state_machine,
            {"maxEnrichment": config.max_enrichment},
        )
        self._schedule(
            "CleanupSchedule",
            "Starts a tender sync cleanup run",
            config.cleanup_schedule_expression,
            cleanup.state_machine,
        )
        self._schedule(
            "AlertsSchedule",
            "Starts a tender sync alerts run: the daily digests and the retries due",
            config.alerts_schedule_expression,
            alerts_workflow.state_machine,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            state_machines={w.workflow.name: w.state_machine for w in workflows},
            more_alarms=[*app_events.alarms, *alerts.alarms],
        )

        for w in workflows:
            CfnOutput(self, w.workflow.stack_output, value=w.state_machine.state_machine_arn)
        CfnOutput(self, "AlertsTopicArn", value=monitoring.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=monitoring.dashboard.dashboard_name)
        CfnOutput(self, "ArtifactsBucketName", value=bucket.bucket_name)
        CfnOutput(self, "DatabaseSecretArn", value=database_secret.secret_arn)
        CfnOutput(self, "DatabaseOwnerSecretArn", value=owner_secret.secret_arn)
        CfnOutput(self, "ChangeEventsBusName", value=change_events.bus.event_bus_name)
        CfnOutput(self, "ChangeEventsSchemaName", value=change_events.schema.attr_schema_name)
        CfnOutput(self, "AppEventsDeadLetterQueueUrl", value=app_events.dead_letter_queue.queue_url)
        CfnOutput(self, "AppEventsUndeliveredQueueUrl", value=app_events.undelivered_queue.queue_url)
        CfnOutput(self, "AlertsKeySecretArn", value=alerts_key.secret_arn)
        CfnOutput(self, "AlertsDeadLetterQueueUrl", value=alerts.dead_letter_queue.queue_url)
        CfnOutput(self, "UnsubscribeUrl", value=functions.unsubscribe_url.url)
        CfnOutput(self, "EmailConfigurationSetName", value=config.alert_configuration_set)
        if change_events.queue:
            CfnOutput(self, "ChangesQueueUrl", value=change_events.queue.queue_url)
            CfnOutput(self, "ChangesDeadLetterQueueUrl", value=change_events.dead_letter_queue.queue_url)
        if config.in_vpc:
            CfnOutput(
                self,
                "DatabaseFunctionsNetwork",
                description="Where the functions that use the database run",
                value=f"{config.vpc_id}: subnets {', '.join(config.subnet_ids)}; security group {config.security_group_id}",
            )

        acknowledge_findings(
            bucket=bucket,
            database_secrets=[database_secret, owner_secret],
            functions=functions,
            workflows=workflows,
            change_events=change_events,
            app_events=app_events,
            alerts=alerts,
            alerts_key=alerts_key,
        )

    def _secret(self, construct_id: str, arn: str, description: str) -> secretsmanager.ISecret:
        """The secret named in cdk.json, else one the stack generates for the user to fill with a URL."""
        if arn:
            return secretsmanager.Secret.from_secret_complete_arn(self, construct_id, arn)
        return secretsmanager.Secret(self, construct_id, description=description, removal_policy=RemovalPolicy.RETAIN)

    def _schedule(
        self,
        construct_id: str,
        description: str,
        expression: str,
        state_machine: sfn.IStateMachine,
        extra_input: dict[str, Any] | None = None,
    ) -> None:
        """An EventBridge Scheduler schedule that starts the state machine, saying it was the schedule and when."""
        scheduler.Schedule(
            self,
            construct_id,
            description=description,
            schedule=scheduler.ScheduleExpression.expression(expression),
            target=scheduler_targets.StepFunctionsStartExecution(
                state_machine,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        **(extra_input or {}),
                        "triggeredBy": "schedule",
                        "scheduledTime": scheduler.ContextAttribute.scheduled_time,
                    }
                ),
            ),
        )


def build_stack(context: dict[str, Any] | None = None, bundle: bool = False, checks: bool = False) -> TenderSyncStack:
    """The stack as `cdk synth` builds it: cdk.json's context, then `context` on top.

    Without `bundle`, the Lambda asset is not bundled (no pip run); the template is the same apart from the asset hash.
    With `checks`, synthesis runs cdk-nag as `cdk synth` does, and fails on an unacknowledged finding.
    """
    app_context = {**json.loads(CDK_JSON.read_text())["context"], **(context or {})}
    if not bundle:
        app_context["aws:cdk:bundling-stacks"] = []
    app = App(context=app_context)
    if checks:
        add_checks(app)
    config = StackConfig.from_context(app.node)
    return TenderSyncStack(app, config.stack_name, config=config)


def synth_template(context: dict[str, Any] | None = None, bundle: bool = False) -> dict[str, Any]:
    """The synthesized CloudFormation template of the TenderSync stack, as a dict."""
    return template_of(build_stack(context, bundle))


def template_of(stack: Stack) -> dict[str, Any]:
    """The stack's synthesized CloudFormation template, as a dict."""
    app = stack.node.root
    assert isinstance(app, App)
    template: dict[str, Any] = app.synth().get_stack_artifact(stack.artifact_id).template
    return template
