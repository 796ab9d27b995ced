"""StartJob: validate the input, take the lease, open the job_log row and pick the window."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import FIRST_STEP, logger, step
from tender_sync.models.inputs import InputDefaults, parse_input
from tender_sync.models.steps import StartEvent
from tender_sync.runs import metrics, sync
from tender_sync.storage import database, migrations
from tender_sync.workflows import SYNC

SETTINGS = settings.from_env(settings.SyncSettings)


@step(StartEvent, FIRST_STEP)
def handler(event: StartEvent, context: LambdaContext) -> dict[str, Any]:
    request = parse_input(SYNC.request, event.input, SYNC.name, InputDefaults.of(SETTINGS))
    if not database.is_configured():
        metrics.publish_not_configured(SYNC.name)
        logger.warning(database.NOT_CONFIGURED)
        return sync.not_configured(event.executionId).model_dump(mode="json")
    with database.connect() as conn:
        migrations.require_current(conn)
        job = sync.start_sync(
            conn, SETTINGS, event.executionId, request.triggeredBy, request.maxEnrichment, request.requested_window()
        )
    logger.info("job started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
