"""StartBackfill: validate the input, open the job, and claim the plan's progress (resuming a run that failed)."""
from aws_lambda_powertools import Logger, Tracer

from tender_sync import backfill, db, jobs
from tender_sync.inputs import BackfillRequest, parse_input
from tender_sync.settings import Settings

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    logger.set_correlation_id(event["executionId"])
    request = parse_input(BackfillRequest, event.get("input"), jobs.BACKFILL_WORKFLOW)
    with db.connect() as conn:
        db.migrate(conn)
        job = backfill.start(conn, Settings.from_env(), event["executionId"], request)
    logger.info("backfill started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
