"""MatchAlerts: an alerts run's first step: its change event's matches recorded (once per event, however often
it is delivered), the daily digests due made, and every delivery due claimed and written to S3 in batches, the
DeliverAlerts Map's items (tender_sync.runs.alerts)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import FIRST_STEP, logger, step
from tender_sync.models.inputs import parse_input
from tender_sync.models.steps import AlertsPlan, StartEvent
from tender_sync.runs import alerts, metrics
from tender_sync.storage import database, migrations
from tender_sync.workflows import ALERTS

SETTINGS = settings.from_env(settings.AlertSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)


@step(StartEvent, FIRST_STEP)
def handler(event: StartEvent, context: LambdaContext) -> dict[str, Any]:
    request = parse_input(ALERTS.request, event.input, ALERTS.name, None)
    if not database.is_configured():
        metrics.publish_not_configured(ALERTS.name)
        logger.warning(database.NOT_CONFIGURED)
        return AlertsPlan(
            bucket=ARTIFACTS.bucket_name,
            itemsKey="",
            batchesPrefix="",
            resultsPrefix="",
            batches=0,
            deliveries=0,
            executionId=event.executionId,
            skipped=database.NOT_CONFIGURED,
        ).model_dump(mode="json")
    with database.connect() as conn:
        migrations.require_current(conn)
        plan = alerts.start(conn, event.executionId, request, ARTIFACTS.bucket_name, SETTINGS)
    logger.info("alerts planned", extra=plan.model_dump(include={"event", "duplicate", "notices", "deliveries"}))
    return plan.model_dump(mode="json")
