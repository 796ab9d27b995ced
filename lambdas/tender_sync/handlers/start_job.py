"""StartJob: validate the input, take the lease, open the job_log row and pick the window."""
from aws_lambda_powertools import Logger, Tracer

from tender_sync import db, jobs
from tender_sync.inputs import SyncRequest, parse_input
from tender_sync.settings import Settings

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    logger.set_correlation_id(event["executionId"])
    request = parse_input(SyncRequest, event.get("input"), jobs.SYNC_WORKFLOW)
    with db.connect() as conn:
        db.migrate(conn)
        job = jobs.start_sync(
            conn, Settings.from_env(), event["executionId"], request.triggeredBy,
            request.maxEnrichment, request.requested_window(),
        )
    logger.info("job started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
