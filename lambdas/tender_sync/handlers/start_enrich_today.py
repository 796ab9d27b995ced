"""StartEnrichToday: validate the input, open the job, and stage today's tenders still lacking their detailed
category (newest first, up to maxEnrichment) for the enrichment Map, as FetchReleases stages a window."""
from datetime import timedelta

from aws_lambda_powertools import Logger, Tracer

from tender_sync import db, jobs
from tender_sync.enrich_today import todays_unenriched_releases
from tender_sync.fetch import stage_releases
from tender_sync.inputs import EnrichTodayRequest, parse_input
from tender_sync.models import Window
from tender_sync.settings import Settings
from tender_sync.window import source_today

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    execution_id = event["executionId"]
    logger.set_correlation_id(execution_id)
    request = parse_input(EnrichTodayRequest, event.get("input"), jobs.ENRICH_TODAY_WORKFLOW)
    settings, today = Settings.from_env(), source_today()
    with db.connect() as conn:
        db.migrate(conn)
        window = Window(date_from=today, date_to=today + timedelta(days=1))
        job = jobs.Job(
            jobId=jobs.open_job(conn, jobs.ENRICH_TODAY_WORKFLOW, execution_id, request.triggered_by, window),
            executionId=execution_id,
            workflow=jobs.ENRICH_TODAY_WORKFLOW,
            window={"from": window.date_from, "to": window.date_to},
            maxEnrichment=request.maxEnrichment,
        )
        releases = todays_unenriched_releases(conn, today, request.maxEnrichment)
        fetch = stage_releases(releases, settings.bucket, job.artifacts_prefix, request.maxEnrichment)
    logger.info("today's tenders staged", extra={"job": job.model_dump(mode="json"), "summary": fetch.model_dump()})
    return {"job": job.model_dump(mode="json"), "fetch": fetch.model_dump()}
