"""StartEnrichToday: validate the input, open the job, and stage today's tenders still lacking their detailed
category (newest first, up to maxEnrichment) for the enrichment Map, as FetchReleases stages a window."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import db, enrich_today, settings
from tender_sync.events import StartEvent
from tender_sync.inputs import parse_input
from tender_sync.workflows import ENRICH_TODAY

logger = Logger()
tracer = Tracer()
SETTINGS = settings.from_env(settings.ArtifactSettings)


@logger.inject_lambda_context(correlation_id_path="executionId")
@tracer.capture_lambda_handler
@event_parser(model=StartEvent)
def handler(event: StartEvent, context: LambdaContext) -> dict:
    request = parse_input(ENRICH_TODAY.request, event.input, ENRICH_TODAY.name)
    with db.connect() as conn:
        db.migrate(conn)
        job, fetch = enrich_today.start(conn, SETTINGS, event.executionId, request)
    logger.info("today's tenders staged", extra={"job": job.model_dump(mode="json"), "summary": fetch.model_dump()})
    return {"job": job.model_dump(mode="json"), "fetch": fetch.model_dump()}
