"""NextWindow: a backfill's job moved on to its next window (none when the range is done). No I/O."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import BackfillEvent
from tender_sync.runs import backfill


@step(BackfillEvent)
def handler(event: BackfillEvent, context: LambdaContext) -> dict[str, Any]:
    job = backfill.next_window(event.job)
    next_job = job.model_dump(mode="json")
    logger.info("next window", extra={"window": next_job["window"]})
    return next_job
