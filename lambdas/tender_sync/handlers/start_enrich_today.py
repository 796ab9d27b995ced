"""StartEnrichToday: validate the input, open the job, and stage today's tenders still lacking their detailed
category (newest first, up to maxEnrichment) for the enrichment Map, as FetchReleases stages a window."""
from aws_lambda_powertools import Logger, Tracer

from tender_sync import db, enrich_today, jobs
from tender_sync.inputs import EnrichTodayRequest, parse_input
from tender_sync.settings import Settings

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    execution_id = event["executionId"]
    logger.set_correlation_id(execution_id)
    request = parse_input(EnrichTodayRequest, event.get("input"), jobs.ENRICH_TODAY_WORKFLOW)
    with db.connect() as conn:
        db.migrate(conn)
        job, fetch = enrich_today.start(conn, Settings.from_env(), execution_id, request)
    logger.info("today's tenders staged", extra={"job": job.model_dump(mode="json"), "summary": fetch.model_dump()})
    return {"job": job.model_dump(mode="json"), "fetch": fetch.model_dump()}
