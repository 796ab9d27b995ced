"""StartJob: validate the input, take the lease, open the job_log row and pick the window."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import db, jobs, settings
from tender_sync.events import StartEvent
from tender_sync.inputs import parse_input
from tender_sync.workflows import SYNC

logger = Logger()
tracer = Tracer()
SETTINGS = settings.from_env(settings.SyncSettings)


@logger.inject_lambda_context(correlation_id_path="executionId")
@tracer.capture_lambda_handler
@event_parser(model=StartEvent)
def handler(event: StartEvent, context: LambdaContext) -> dict:
    request = parse_input(SYNC.request, event.input, SYNC.name)
    with db.connect() as conn:
        db.migrate(conn)
        job = jobs.start_sync(
            conn, SETTINGS, event.executionId, request.triggeredBy, request.maxEnrichment, request.requested_window()
        )
    logger.info("job started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
