"""StartBackfill: validate the input, open the job, and claim the plan's progress (resuming a run that failed)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import FIRST_STEP, logger, step
from tender_sync.models.inputs import InputDefaults, parse_input
from tender_sync.models.steps import StartEvent
from tender_sync.runs import backfill
from tender_sync.storage import database, migrations
from tender_sync.workflows import BACKFILL

SETTINGS = settings.from_env(settings.SyncSettings)


@step(StartEvent, FIRST_STEP)
def handler(event: StartEvent, context: LambdaContext) -> dict[str, Any]:
    request = parse_input(BACKFILL.request, event.input, BACKFILL.name, InputDefaults.of(SETTINGS))
    with database.connect() as conn:
        migrations.require_current(conn)
        job = backfill.start(conn, SETTINGS, event.executionId, request)
    logger.info("backfill started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
