"""StartJob: validate the input, take the lease, open the job_log row and pick the window."""
from aws_lambda_powertools import Logger
from pydantic import ValidationError

from tender_sync import db, jobs
from tender_sync.errors import InvalidInput
from tender_sync.models import SyncRequest, one_line
from tender_sync.settings import Settings

logger = Logger()


def handler(event: dict, context) -> dict:
    logger.set_correlation_id(event["executionId"])
    try:
        request = SyncRequest.model_validate(event.get("input") or {})
    except ValidationError as error:
        raise InvalidInput(f"invalid sync input: {one_line(error)}") from None
    with db.connect() as conn:
        db.migrate(conn)
        job = jobs.start_sync(
            conn, Settings.from_env(), event["executionId"], request.triggeredBy,
            request.maxEnrichment, request.requested_window(),
        )
    logger.info("job started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
