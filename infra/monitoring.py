"""Alerts and the dashboard: an SNS topic (encrypted, SSL only, email from context), an EventBridge rule for
executions that end FAILED, TIMED_OUT or ABORTED, CloudWatch alarms on failed executions, on the enrichment
failure rate and on late change events, and a dashboard of runs, durations and tender counts (FinishJob's EMF
metrics)."""

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StackConfig
from infra.functions import METRICS_NAMESPACE
from tender_sync.runs.metrics import DATABASE_NOT_CONFIGURED

ALERT_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"]
# Metric names FinishJob emits (tender_sync.jobs.COUNTS and duration), with the service dimension Powertools adds.
SERVICE_DIMENSION = {"service": "tender-sync"}
TENDER_COUNTS = ["fetched", "enriched", "enrichment_failed", "upserted", "quarantined", "changes_published"]
# Alarm when more than this share of the tenders enriched or failed in an hour failed their lookup.
ENRICHMENT_FAILURE_PERCENT = 20


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        state_machines: dict[str, sfn.StateMachine],
        more_alarms: Sequence[cloudwatch.Alarm] = (),
    ) -> None:
        """state_machines: by the name the dashboard shows (sync, enrich-today, ...); more_alarms: other constructs'
        alarms (the app events' dead-letter queues), which notify the topic and show on the dashboard too."""
        super().__init__(scope, construct_id)
        self.topic = self._topic(config)
        topic_action = cloudwatch_actions.SnsAction(self.topic)

        self.execution_rule = events.Rule(
            self,
            "ExecutionEndedBadly",
            description="An execution of a tender sync state machine ended FAILED, TIMED_OUT or ABORTED",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ALERT_STATUSES,
                    "stateMachineArn": [machine.state_machine_arn for machine in state_machines.values()],
                },
            ),
        )
        self.execution_rule.add_target(
            events_targets.SnsTopic(
                self.topic,
                message=events.RuleTargetInput.from_text(
                    f"Tender sync: execution {events.EventField.from_path('$.detail.name')} of "
                    f"{events.EventField.from_path('$.detail.stateMachineArn')} ended "
                    f"{events.EventField.from_path('$.detail.status')}; its job_log row, or the execution's error if it has none, says why."
                ),
            )
        )

        failed = {
            f"m{i}": machine.metric_failed(period=Duration.minutes(5))
            for i, machine in enumerate(state_machines.values())
        }
        self.executions_failed_alarm = cloudwatch.Alarm(
            self,
            "ExecutionsFailedAlarm",
            alarm_description="An execution of a tender sync state machine failed (ExecutionsFailed)",
            metric=cloudwatch.MathExpression(
                expression=" + ".join(f"FILL({name}, 0)" for name in failed),
                using_metrics=failed,
                label="failed executions",
                period=Duration.minutes(5),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.enrichment_failure_alarm = cloudwatch.Alarm(
            self,
            "EnrichmentFailureRateAlarm",
            alarm_description=(
                f"More than {ENRICHMENT_FAILURE_PERCENT}% of the tenders enriched in an hour failed their portal lookup"
            ),
            metric=cloudwatch.MathExpression(
                expression="IF(enriched + failed > 0, 100 * failed / (enriched + failed), 0)",
                using_metrics={
                    "enriched": _run_metric("enriched", Duration.hours(1)),
                    "failed": _run_metric("enrichment_failed", Duration.hours(1)),
                },
                label="enrichment failure rate (%)",
                period=Duration.hours(1),
            ),
            threshold=ENRICHMENT_FAILURE_PERCENT,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.late_change_events_alarm = cloudwatch.Alarm(
            self,
            "LateChangeEventsAlarm",
            alarm_description=(
                "A Tenders Changed event could not be sent after its retries (events_late): a later run sends it; "
                "job_log.events_late says which runs left events unsent"
            ),
            metric=_run_metric("events_late", Duration.hours(1), statistic="Maximum", label="late change events"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        # A scheduled run finds the database secret holding no URL yet: the alarm notifies once, as it turns ALARM,
        # not on every run; it turns OK within the hour after the secret is set.
        self.database_not_configured_alarm = cloudwatch.Alarm(
            self,
            "DatabaseNotConfiguredAlarm",
            alarm_description=(
                "Scheduled runs end at their first step: the secret DatabaseSecret holds no PostgreSQL URL yet "
                "(docs/operations.md says how to set it)"
            ),
            metric=_run_metric(DATABASE_NOT_CONFIGURED, Duration.hours(1), statistic="Maximum", label="not configured"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms = [
            self.executions_failed_alarm,
            self.enrichment_failure_alarm,
            self.late_change_events_alarm,
            self.database_not_configured_alarm,
            *more_alarms,
        ]
        for alarm in self.alarms:
            alarm.add_alarm_action(topic_action)

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(7))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Runs started",
                left=[
                    machine.metric_started(label=name, period=Duration.hours(1))
                    for name, machine in state_machines.items()
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Runs failed",
                left=[
                    machine.metric_failed(label=name, period=Duration.hours(1))
                    for name, machine in state_machines.items()
                ],
                width=8,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=8),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Run duration (s, average)",
                # ExecutionTime is in milliseconds.
                left=[
                    cloudwatch.MathExpression(
                        expression=f"time{index} / 1000",
                        using_metrics={
                            f"time{index}": machine.metric_time(statistic="Average", period=Duration.hours(1))
                        },
                        label=name,
                        period=Duration.hours(1),
                    )
                    for index, (name, machine) in enumerate(state_machines.items())
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Job duration (s, FinishJob)",
                left=[_run_metric("duration", Duration.hours(1), statistic="Maximum", label="longest")],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Tenders",
                left=[_run_metric(name, Duration.hours(1)) for name in TENDER_COUNTS],
                width=24,
            ),
        )

    def _topic(self, config: StackConfig) -> sns.Topic:
        # A key of our own: the AWS-managed SNS key's policy cannot let EventBridge and CloudWatch publish.
        key = kms.Key(
            self,
            "AlertsKey",
            description="Encrypts the tender sync alerts topic",
            enable_key_rotation=True,
        )
        for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    principals=[iam.ServicePrincipal(service)],
                    resources=["*"],
                )
            )
        topic = sns.Topic(self, "AlertsTopic", display_name="Tender sync alerts", master_key=key, enforce_ssl=True)
        if config.alert_email:
            topic.add_subscription(subscriptions.EmailSubscription(config.alert_email))
        return topic


def _run_metric(name: str, period: Duration, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
    """One of FinishJob's metrics, over all workflows."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map=SERVICE_DIMENSION,
        statistic=statistic,
        period=period,
        label=label or name,
    )
