"""StartBackfill: validate the input, open the job, and claim the plan's progress (resuming a run that failed)."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import backfill, db, settings
from tender_sync.events import StartEvent
from tender_sync.inputs import parse_input
from tender_sync.workflows import BACKFILL

logger = Logger()
tracer = Tracer()
SETTINGS = settings.from_env(settings.SyncSettings)


@logger.inject_lambda_context(correlation_id_path="executionId")
@tracer.capture_lambda_handler
@event_parser(model=StartEvent)
def handler(event: StartEvent, context: LambdaContext) -> dict:
    request = parse_input(BACKFILL.request, event.input, BACKFILL.name)
    with db.connect() as conn:
        db.migrate(conn)
        job = backfill.start(conn, SETTINGS, event.executionId, request)
    logger.info("backfill started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
