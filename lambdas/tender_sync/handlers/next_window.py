"""NextWindow: a backfill's job moved on to its next window (none when the range is done). No I/O."""
from aws_lambda_powertools import Logger, Tracer

from tender_sync import backfill
from tender_sync.jobs import Job

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    job = backfill.next_window(Job.model_validate(event["job"]))
    logger.set_correlation_id(job.executionId)
    logger.info("next window", extra={"window": job.window})
    return job.model_dump(mode="json")
