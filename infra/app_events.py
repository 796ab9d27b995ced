"""The app's events start the workflows: one EventBridge rule on the stack's bus sends the tender/*.requested events
of the sources in eventSources to the AppEvents queue, and StartRequested starts the workflow each names
(tender_sync.app_events). A message StartRequested keeps failing on goes to a dead-letter queue, an event EventBridge
cannot deliver to the queue to another; an alarm watches each."""

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as lambda_event_sources
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StackConfig
from infra.functions import CONSUMERS
from infra.queues import dead_letter_queue, holds_messages_alarm
from tender_sync.models.inputs import MAX_OCIDS
from tender_sync.workflows import REQUESTED

# A batch StartRequested takes: up to MAX_OCIDS events, so that its tender/enrich.requested events make one
# single-tender run; and how long the event source gathers them before it hands over a batch that is not full.
BATCH_SIZE = MAX_OCIDS
BATCHING_WINDOW = Duration.seconds(15)
# A message StartRequested reported failed this often goes to the dead-letter queue.
MAX_RECEIVES = 5
# The queue keeps a message 4 days (its dead-letter queues longer: infra/queues.py).
RETENTION = Duration.days(4)
# EventBridge retries a delivery to the queue it could not make for up to a day (AWS's defaults, stated), then puts
# the event in the undelivered queue.
DELIVERY_RETRIES = 185
DELIVERY_MAX_AGE = Duration.hours(24)
# AWS: a queue's visibility timeout at least six times its function's timeout, plus the batching window.
VISIBILITY_TIMEOUTS = 6


class AppEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        bus: events.IEventBus,
        consumer: lambda_.Function,
        state_machines: dict[str, sfn.StateMachine],
    ) -> None:
        """consumer: StartRequested; state_machines: by workflow name, those of tender_sync.workflows.REQUESTED."""
        super().__init__(scope, construct_id)
        assert consumer.timeout is not None, "StartRequested's timeout sizes the queue's visibility timeout"
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        self.undelivered_queue = dead_letter_queue(self, "UndeliveredQueue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
            visibility_timeout=Duration.seconds(
                VISIBILITY_TIMEOUTS * consumer.timeout.to_seconds() + BATCHING_WINDOW.to_seconds()
            ),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVES),
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description="The app's tender/*.requested events, from the sources in eventSources, to the AppEvents queue",
            event_bus=bus,
            event_pattern=events.EventPattern(source=list(config.event_sources), detail_type=list(REQUESTED)),
        )
        # No role: the queue's policy lets this rule, and only it, send to the queue (and to the undelivered queue).
        self.rule.add_target(
            events_targets.SqsQueue(
                self.queue,
                dead_letter_queue=self.undelivered_queue,
                retry_attempts=DELIVERY_RETRIES,
                max_event_age=DELIVERY_MAX_AGE,
            )
        )
        consumer.add_event_source(
            lambda_event_sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=BATCHING_WINDOW,
                report_batch_item_failures=True,
                max_concurrency=CONSUMERS,
            )
        )
        # It starts the workflows the events name, and asks how their executions are doing; nothing else.
        stack = Stack.of(self)
        for workflow in REQUESTED.values():
            machine = state_machines[workflow.name]
            consumer.add_environment(workflow.arn_variable, machine.state_machine_arn)
            machine.grant_start_execution(consumer)
        consumer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{state_machines[workflow.name].state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for workflow in REQUESTED.values()
                ],
            )
        )
        self.alarms = [
            holds_messages_alarm(
                self,
                "FailedAlarm",
                self.dead_letter_queue,
                f"App events StartRequested failed on {MAX_RECEIVES} times are in the AppEvents dead-letter queue "
                "(output AppEventsDeadLetterQueueUrl); its logs say why",
            ),
            holds_messages_alarm(
                self,
                "UndeliveredAlarm",
                self.undelivered_queue,
                "App events EventBridge could not deliver to the AppEvents queue for a day are in the undelivered "
                "queue (output AppEventsUndeliveredQueueUrl); each message's attributes say why",
            ),
        ]
