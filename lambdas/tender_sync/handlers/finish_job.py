"""FinishJob: job_log SUCCESS with the counts, the lease released, and the run's metrics (EMF)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import FinishEvent
from tender_sync.runs import metrics
from tender_sync.runs.steps import finish_run
from tender_sync.storage import database

SETTINGS = settings.from_env(settings.JobSettings)


@step(FinishEvent)
def handler(event: FinishEvent, context: LambdaContext) -> dict[str, Any]:
    with database.connect() as conn:
        finished = finish_run(conn, SETTINGS.source_name, event.job)
    # Published here, once the job is stored as finished; a FinishJob that failed leaves them to FailJob.
    metrics.publish(event.job.workflow, finished)
    logger.info("job succeeded", extra={"counts": finished.counts, "seconds": finished.seconds})
    return {"status": "SUCCESS", **finished.counts}
