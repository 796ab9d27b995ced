"""FinishJob: job_log SUCCESS with the counts, the lease released, and the run's metrics (EMF)."""
from aws_lambda_powertools import Logger, Tracer

from tender_sync import backfill, db, jobs, run_metrics
from tender_sync.settings import Settings

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    job = jobs.Job.model_validate(event["job"])
    logger.set_correlation_id(job.executionId)
    # A backfill added up its windows' counts as it stored them; the others count their one fetch and upsert.
    counts = None if job.workflow == jobs.BACKFILL_WORKFLOW else jobs.counts_of(event.get("fetch"), event.get("upsert"))
    source = Settings.from_env().source_name
    with db.connect() as conn:
        # A window with nothing in it never reached UpsertTenders: the cursor moves here instead.
        if "upsert" not in event and job.cursorAfter:
            jobs.advance_cursor(conn, source, job.cursorAfter)
        if job.workflow == jobs.BACKFILL_WORKFLOW:
            backfill.complete(conn, source, job)
        finished = jobs.finish_job(conn, source, job, counts)
    # Published here, once the job is stored as finished; a FinishJob that failed leaves them to FailJob.
    run_metrics.publish(job.workflow, finished)
    logger.info("job succeeded", extra={"counts": finished.counts, "seconds": finished.seconds})
    return {"status": "SUCCESS", **finished.counts}
