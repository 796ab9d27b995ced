"""Change events: the EventBridge bus every workflow announces its stored windows' changes on, the event's schema
in the EventBridge schema registry, and with changesQueue an encrypted SQS queue (with a dead-letter queue) that
receives them, for the product's alert processor."""

import json

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_eventschemas as eventschemas
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StackConfig
from infra.queues import dead_letter_queue
from tender_sync.changes.events import DETAIL_TYPE, EVENT_SOURCE, TendersChanged, event_schema

# A message the alert processor failed to handle this often goes to the dead-letter queue.
MAX_RECEIVES = 5
# The queue keeps a message 4 days (its dead-letter queue longer: infra/queues.py).
RETENTION = Duration.days(4)


class ChangeEvents(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=config.bus_name)
        registry = eventschemas.CfnRegistry(
            self,
            "SchemaRegistry",
            registry_name=config.bus_name,
            description="The events tender sync publishes on its bus",
        )
        self.schema = eventschemas.CfnSchema(
            self,
            "TendersChangedSchema",
            registry_name=registry.attr_registry_name,
            # As EventBridge's schema discovery names them: source@DetailType.
            schema_name=f"{EVENT_SOURCE}@{TendersChanged.model_config['title']}",
            type="JSONSchemaDraft4",
            content=json.dumps(event_schema()),
            description=f"{DETAIL_TYPE}: one stored window's changes, listed in S3",
        )
        self.queue = self._queue() if config.changes_queue else None

    def _queue(self) -> sqs.Queue:
        """The queue the rule sends every Tenders Changed event to: only the rule may send to it (the target's
        queue policy), and what it cannot deliver, or the reader fails on MAX_RECEIVES times, goes to the
        dead-letter queue."""
        self.dead_letter_queue = dead_letter_queue(self, "ChangesDeadLetterQueue")
        queue = sqs.Queue(
            self,
            "ChangesQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVES),
        )
        self.rule = events.Rule(
            self,
            "TendersChangedRule",
            description="Every Tenders Changed event, to the changes queue",
            event_bus=self.bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=[DETAIL_TYPE]),
        )
        self.rule.add_target(
            events_targets.SqsQueue(queue, dead_letter_queue=self.dead_letter_queue, max_event_age=Duration.days(1))
        )
        return queue
