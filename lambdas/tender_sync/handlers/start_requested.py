"""StartRequested: a batch of the app's events from the AppEvents queue (tender/*.requested on the stack's bus) starts
the workflows they name (tender_sync.app_events). Returns the messages SQS is to deliver again (ReportBatchItemFailures)."""

import os
from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import aws, settings
from tender_sync.app_events.consumer import Consumer, state_machine_arns
from tender_sync.handlers.observability import logger, step
from tender_sync.models.inputs import InputDefaults
from tender_sync.storage import database

SETTINGS = settings.from_env(settings.SyncSettings)
STATE_MACHINES = state_machine_arns(os.environ)


@step(SqsModel, correlation_id_path=None)
def handler(event: SqsModel, context: LambdaContext) -> dict[str, Any]:
    consumer = Consumer(
        STATE_MACHINES,
        database.connect,
        aws.client("stepfunctions"),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    outcome = consumer.consume([(r.messageId, str(r.body)) for r in event.Records], InputDefaults.of(SETTINGS))
    logger.info(
        "app events",
        extra={
            "messages": len(event.Records),
            "started": outcome.started,
            "duplicates": outcome.duplicates,
            "failed": len(outcome.failed),
            "deferred": outcome.deferred,
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in outcome.failed]}
