"""FailJob: job_log FAILED with the error, and the lease released, whatever step failed. A job whose window was
already stored stays SUCCESS: FailJob then publishes the metrics its failed FinishJob could not."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import db, run_metrics, settings
from tender_sync.errors import describe_failure
from tender_sync.events import FailEvent
from tender_sync.store import fail_run

logger = Logger()
tracer = Tracer()
SETTINGS = settings.from_env(settings.JobSettings)


@logger.inject_lambda_context(correlation_id_path="executionId")
@tracer.capture_lambda_handler
@event_parser(model=FailEvent)
def handler(event: FailEvent, context: LambdaContext) -> dict:
    error = event.state.get("error") or {}
    message = describe_failure(error)
    job_id = (event.state.get("job") or {}).get("jobId")
    logger.error("job failed", extra={"error": message, "workflow": event.workflow})
    # An input rejected before any job began leaves the database as it was; the execution carries the reason.
    if job_id is None and error.get("Error") == "InvalidInput":
        return {"status": "FAILED", "error": message}
    with db.connect() as conn:
        stored = fail_run(conn, SETTINGS.source_name, event.executionId, job_id, message, event.workflow)
    if stored is None:
        return {"status": "FAILED", "error": message}
    run_metrics.publish(event.workflow, stored)
    logger.warning("the window was stored; a later step failed", extra={"counts": stored.counts})
    return {"status": "FAILED", "error": f"{message} (after the window was stored: its job is SUCCESS)"}
