"""The tender sync stack, and `synth_template` for the local runner and the tests."""
import json

from aws_cdk import App, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.changes import ChangeEvents
from infra.checks import acknowledge_findings, add_checks
from infra.config import CDK_JSON, StackConfig
from infra.functions import WorkflowFunctions
from infra.monitoring import Monitoring
from infra.operations import BackfillWorkflow, CleanupWorkflow, EnrichTodayWorkflow, SingleTenderWorkflow
from infra.sync_workflow import SyncWorkflow
from tender_sync.workflows import JOB_WORKFLOWS

STACK_ID = "TenderSync"


class TenderSyncStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs) -> None:
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
        database_secret = self._database_secret(config)
        functions = WorkflowFunctions(self, "Functions", config=config, bucket=bucket, database_secret=database_secret)
        change_events = ChangeEvents(self, "ChangeEvents", config=config)
        shared = {"config": config, "functions": functions, "bucket": bucket, "bus": change_events.bus}
        workflow = SyncWorkflow(self, "SyncWorkflow", **shared)
        enrich_today = EnrichTodayWorkflow(self, "EnrichTodayWorkflow", **shared)
        backfill = BackfillWorkflow(self, "BackfillWorkflow", **shared)
        single_tender = SingleTenderWorkflow(self, "SingleTenderWorkflow", **shared)
        cleanup = CleanupWorkflow(self, "CleanupWorkflow", **shared)
        workflows = [workflow, enrich_today, backfill, single_tender, cleanup]
        # Cleanup checks the executions of the workflows that open jobs.
        functions.allow_checking_executions([w.state_machine for w in workflows if w.workflow in JOB_WORKFLOWS])

        self._schedule(
            "SyncSchedule", "Starts a tender sync run", config.schedule_expression, workflow.state_machine,
            {"maxEnrichment": config.max_enrichment},
        )
        self._schedule(
            "CleanupSchedule", "Starts a tender sync cleanup run", config.cleanup_schedule_expression,
            cleanup.state_machine,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            state_machines={w.workflow.name: w.state_machine for w in workflows},
        )

        for w in workflows:
            CfnOutput(self, w.workflow.stack_output, value=w.state_machine.state_machine_arn)
        CfnOutput(self, "AlertsTopicArn", value=monitoring.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=monitoring.dashboard.dashboard_name)
        CfnOutput(self, "ArtifactsBucketName", value=bucket.bucket_name)
        CfnOutput(self, "DatabaseSecretArn", value=database_secret.secret_arn)
        CfnOutput(self, "ChangeEventsBusName", value=change_events.bus.event_bus_name)
        CfnOutput(self, "ChangeEventsSchemaName", value=change_events.schema.attr_schema_name)
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
            bucket=bucket, database_secret=database_secret, functions=functions, workflows=workflows,
            change_events=change_events,
        )

    def _database_secret(self, config: StackConfig) -> secretsmanager.ISecret:
        if config.database_secret_arn:
            return secretsmanager.Secret.from_secret_complete_arn(self, "DatabaseSecret", config.database_secret_arn)
        return secretsmanager.Secret(
            self,
            "DatabaseSecret",
            description=(
                "Tender sync database: replace the generated value with the PostgreSQL URL as the secret string, "
                "e.g. postgresql://user:password@host:5432/dbname"
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _schedule(
        self,
        construct_id: str,
        description: str,
        expression: str,
        state_machine: sfn.IStateMachine,
        extra_input: dict | None = None,
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


def build_stack(context: dict | None = None, bundle: bool = False, checks: bool = False) -> TenderSyncStack:
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
    return TenderSyncStack(app, STACK_ID, config=StackConfig.from_context(app.node))


def synth_template(context: dict | None = None, bundle: bool = False) -> dict:
    """The synthesized CloudFormation template of the TenderSync stack, as a dict."""
    stack = build_stack(context, bundle)
    return stack.node.root.synth().get_stack_artifact(stack.artifact_id).template
