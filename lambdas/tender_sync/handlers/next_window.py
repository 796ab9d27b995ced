"""NextWindow: a backfill's job moved on to its next window (none when the range is done). No I/O."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import backfill
from tender_sync.events import JobEvent

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(correlation_id_path="job.executionId")
@tracer.capture_lambda_handler
@event_parser(model=JobEvent)
def handler(event: JobEvent, context: LambdaContext) -> dict:
    job = backfill.next_window(event.job)
    next_job = job.model_dump(mode="json")
    logger.info("next window", extra={"window": next_job["window"]})
    return next_job
