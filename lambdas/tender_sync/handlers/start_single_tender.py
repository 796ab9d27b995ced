"""StartSingleTender: validate the input and open the job for its ocids."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import FIRST_STEP, logger, step
from tender_sync.models.inputs import InputDefaults, parse_input
from tender_sync.models.steps import StartEvent
from tender_sync.runs import single_tender
from tender_sync.storage import database, migrations
from tender_sync.workflows import SINGLE_TENDER

SETTINGS = settings.from_env(settings.SyncSettings)


@step(StartEvent, FIRST_STEP)
def handler(event: StartEvent, context: LambdaContext) -> dict[str, Any]:
    request = parse_input(SINGLE_TENDER.request, event.input, SINGLE_TENDER.name, InputDefaults.of(SETTINGS))
    with database.connect() as conn:
        migrations.require_current(conn)
        job = single_tender.start(conn, event.executionId, request)
    logger.info("job started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
