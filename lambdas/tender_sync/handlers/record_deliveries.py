"""RecordDeliveries: what each of DeliverAlerts' batches came to, recorded (a batch that left no result: its
deliveries failed, to be retried), webhooks failing for a day paused, and the run's counts published."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.alerts import metrics
from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import AlertsEvent
from tender_sync.runs import alerts
from tender_sync.storage import database


@step(AlertsEvent, correlation_id_path="alerts.executionId")
def handler(event: AlertsEvent, context: LambdaContext) -> dict[str, Any]:
    if event.alerts.skipped:
        return {"skipped": event.alerts.skipped}
    with database.connect() as conn:
        counts = alerts.record(conn, event.alerts)
    logger.info("deliveries recorded", extra=counts.model_dump())
    metrics.publish(counts.model_dump())
    return counts.model_dump(mode="json")
