"""Alert processing: the alerts state machine, started by every Tenders Changed event on the stack's bus and by
a schedule (the daily digests, and the retries due); SES's configuration set, whose bounces and complaints pause
subscriptions; and an alarm while deliveries stay undelivered (tender_sync.alerts)."""

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ses as ses
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import ALERT_DELIVERY_CONCURRENCY, StackConfig
from infra.functions import METRICS_NAMESPACE, WorkflowFunctions
from infra.queues import dead_letter_queue, holds_messages_alarm
from infra.workflow import WorkflowStateMachine
from tender_sync.alerts.deliveries import RUN_TIMEOUT
from tender_sync.alerts.feedback import REASONS
from tender_sync.alerts.metrics import UNDELIVERED
from tender_sync.changes.events import DETAIL_TYPE, EVENT_SOURCE
from tender_sync.workflows import ALERTS

# EventBridge retries a start it could not make for up to a day, then puts the event in the dead-letter queue.
DELIVERY_RETRIES = 185
DELIVERY_MAX_AGE = Duration.hours(24)


class AlertsWorkflow(WorkflowStateMachine):
    """MatchAlerts (the event's matches, the digests due, and the deliveries due claimed, in batches) ->
    AnythingToDeliver? -> DeliverAlerts (DeliverBatch per batch) -> RecordDeliveries. Any step that fails is
    caught by FailAlerts, which records why and releases the run's claims."""

    announces = False

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: WorkflowFunctions,
        bucket: s3.IBucket,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(
            scope, construct_id, workflow=ALERTS, config=config, functions=functions, bucket=bucket, bus=bus
        )
        match_alerts = self._start(functions.match_alerts, result_path="$.alerts")
        deliver_alerts = self._deliver_alerts()
        record_deliveries = self._invoke(
            "RecordDeliveries",
            functions.record_deliveries,
            sfn.TaskInput.from_object({"alerts": sfn.JsonPath.object_at("$.alerts")}),
            result_path="$.recorded",
        )
        record_deliveries.next(sfn.Succeed(self, "AlertsSucceeded"))
        match_alerts.next(
            sfn.Choice(self, "AnythingToDeliver?")
            .when(sfn.Condition.number_equals("$.alerts.batches", 0), record_deliveries)
            .otherwise(deliver_alerts)
        )
        deliver_alerts.next(record_deliveries)
        self._catch_all(match_alerts, deliver_alerts, record_deliveries)
        self.state_machine = self._state_machine(match_alerts, Duration.seconds(RUN_TIMEOUT.total_seconds()))

    def _failure_step(self) -> tuple[str, lambda_.IFunction]:
        return "FailAlerts", self.functions.fail_alerts

    def _deliver_alerts(self) -> sfn.DistributedMap:
        """One DeliverBatch per batch of deliveries: each item is a batch's number, the batch and its result are S3
        objects (addresses never enter an execution's input, output or history), and each child outputs nothing."""
        deliver_alerts = sfn.DistributedMap(
            self,
            "DeliverAlerts",
            item_reader=sfn.S3JsonItemReader(bucket=self.bucket, key=sfn.JsonPath.string_at("$.alerts.itemsKey")),
            map_execution_type=sfn.StateMachineType.EXPRESS,
            max_concurrency=ALERT_DELIVERY_CONCURRENCY,
            # A batch that fails outright is recorded as failed by RecordDeliveries (its result is missing), and
            # retried by a later run.
            tolerated_failure_percentage=100,
            item_selector={
                "item": sfn.JsonPath.object_at("$$.Map.Item.Value"),
                "bucket": sfn.JsonPath.string_at("$.alerts.bucket"),
                "batchesPrefix": sfn.JsonPath.string_at("$.alerts.batchesPrefix"),
                "resultsPrefix": sfn.JsonPath.string_at("$.alerts.resultsPrefix"),
                "secondsBetweenEmails": self.config.seconds_between_emails,
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        deliver_batch = self._invoke("DeliverBatch", self.functions.deliver_batch, result_path="$")
        record_failure = self._invoke("RecordDeliveryFailure", self.functions.deliver_batch, result_path="$")
        deliver_batch.add_catch(record_failure, errors=[sfn.Errors.ALL], result_path="$.error")
        deliver_alerts.item_processor(deliver_batch)
        return deliver_alerts


class Alerts(Construct):
    """What starts the alerts state machine, SES's configuration set and its feedback, and the undelivered alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        bus: events.IEventBus,
        functions: WorkflowFunctions,
        state_machine: sfn.StateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        self.rule = events.Rule(
            self,
            "TendersChangedRule",
            description="Every Tenders Changed event starts an alerts run",
            event_bus=bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=[DETAIL_TYPE]),
        )
        # The whole event is the execution's input (tender_sync.models.inputs.AlertsRequest).
        self.rule.add_target(
            events_targets.SfnStateMachine(
                state_machine,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=DELIVERY_RETRIES,
                max_event_age=DELIVERY_MAX_AGE,
            )
        )

        # SES: the emails go out with this configuration set; it sends their bounces and complaints to the
        # default bus (the only one SES sends to), where EmailFeedback pauses the subscription.
        self.configuration_set = ses.ConfigurationSet(
            self, "ConfigurationSet", configuration_set_name=config.alert_configuration_set
        )
        self.configuration_set.add_event_destination(
            "Feedback",
            destination=ses.EventDestination.event_bus(
                events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
            ),
            events=[ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT],
        )
        self.feedback_rule = events.Rule(
            self,
            "EmailFeedbackRule",
            description="SES bounces and complaints of the alert emails pause their subscription",
            event_pattern=events.EventPattern(
                source=["aws.ses"],
                detail_type=list(REASONS),
                detail={"mail": {"tags": {"ses:configuration-set": [config.alert_configuration_set]}}},
            ),
        )
        self.feedback_rule.add_target(events_targets.LambdaFunction(functions.email_feedback))
        # SES API v2's SendEmail, raw content included, is ses:SendEmail alone (ses:SendRawEmail is API v1's).
        functions.deliver_batch.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=[
                    stack.format_arn(service="ses", resource="identity", resource_name="*"),
                    stack.format_arn(
                        service="ses", resource="configuration-set", resource_name=config.alert_configuration_set
                    ),
                ],
                conditions={"StringEquals": {"ses:FromAddress": config.alert_from_address}},
            )
        )

        self.alarms = [
            cloudwatch.Alarm(
                self,
                "UndeliveredAlarm",
                alarm_description=(
                    'Alert deliveries have failed and wait for a retry (make cli ARGS="alerts list" shows whose); '
                    "the alerts runs' logs say why"
                ),
                metric=cloudwatch.Metric(
                    namespace=METRICS_NAMESPACE,
                    metric_name=UNDELIVERED,
                    dimensions_map={"service": "tender-sync"},
                    statistic="Maximum",
                    period=Duration.hours(1),
                ),
                threshold=1,
                evaluation_periods=2,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            holds_messages_alarm(
                self,
                "StartFailedAlarm",
                self.dead_letter_queue,
                "Tenders Changed events EventBridge could not start an alerts run for in a day are in the alerts "
                "dead-letter queue (output AlertsDeadLetterQueueUrl)",
            ),
        ]
