"""FailJob: job_log FAILED with the error, and the lease released, whatever step failed. A job whose window was
already stored stays SUCCESS: FailJob then publishes the metrics its failed FinishJob could not."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.errors import InvalidInput, describe_failure
from tender_sync.handlers.observability import FIRST_STEP, logger, step
from tender_sync.models.steps import FailEvent
from tender_sync.runs import metrics
from tender_sync.runs.steps import fail_run
from tender_sync.storage import database

SETTINGS = settings.from_env(settings.JobSettings)


@step(FailEvent, FIRST_STEP)
def handler(event: FailEvent, context: LambdaContext) -> dict[str, Any]:
    error = event.state.get("error") or {}
    message = describe_failure(error)
    job_id = (event.state.get("job") or {}).get("jobId")
    logger.error("job failed", extra={"error": message, "workflow": event.workflow})
    # An input rejected before any job began leaves the database as it was; the execution carries the reason.
    if job_id is None and error.get("Error") == InvalidInput.__name__:
        return {"status": "FAILED", "error": message}
    with database.connect() as conn:
        stored = fail_run(conn, SETTINGS.source_name, event.executionId, job_id, message, event.workflow)
    if stored is None:
        return {"status": "FAILED", "error": message}
    metrics.publish(event.workflow, stored)
    logger.warning("the window was stored; a later step failed", extra={"counts": stored.counts})
    return {"status": "FAILED", "error": f"{message} (after the window was stored: its job is SUCCESS)"}
