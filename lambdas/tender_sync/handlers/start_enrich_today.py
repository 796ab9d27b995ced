"""StartEnrichToday: validate the input and open the job whose lookups are today's tenders still due one."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import db, enrich_today
from tender_sync.events import StartEvent
from tender_sync.inputs import parse_input
from tender_sync.workflows import ENRICH_TODAY

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(correlation_id_path="executionId")
@tracer.capture_lambda_handler
@event_parser(model=StartEvent)
def handler(event: StartEvent, context: LambdaContext) -> dict:
    request = parse_input(ENRICH_TODAY.request, event.input, ENRICH_TODAY.name)
    with db.connect() as conn:
        db.migrate(conn)
        job = enrich_today.start(conn, event.executionId, request)
    logger.info("job started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
