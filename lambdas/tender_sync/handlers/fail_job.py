"""FailJob: job_log FAILED with the error, and the lease released, whatever step failed. A job whose window was
already stored stays SUCCESS: FailJob then publishes the metrics its failed FinishJob could not."""
from aws_lambda_powertools import Logger, Tracer

from tender_sync import db, jobs, run_metrics
from tender_sync.errors import describe_failure
from tender_sync.settings import Settings

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    state, execution_id = event["state"], event["executionId"]
    workflow = event.get("workflow", jobs.SYNC_WORKFLOW)
    logger.set_correlation_id(execution_id)
    error = state.get("error") or {}
    message = describe_failure(error)
    job_id = (state.get("job") or {}).get("jobId")
    logger.error("job failed", extra={"error": message, "workflow": workflow})
    # An input rejected before any job began leaves the database as it was; the execution carries the reason.
    if job_id is None and error.get("Error") == "InvalidInput":
        return {"status": "FAILED", "error": message}
    with db.connect() as conn:
        db.migrate(conn)
        stored = jobs.fail_job(conn, Settings.from_env().source_name, execution_id, job_id, message, workflow)
    if stored is None:
        return {"status": "FAILED", "error": message}
    run_metrics.publish(workflow, stored)
    logger.warning("the window was stored; a later step failed", extra={"counts": stored.counts})
    return {"status": "FAILED", "error": f"{message} (after the window was stored: its job is SUCCESS)"}
