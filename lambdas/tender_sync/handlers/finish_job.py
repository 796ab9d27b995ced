"""FinishJob: job_log SUCCESS with the counts, and the lease released."""
from aws_lambda_powertools import Logger

from tender_sync import db, jobs
from tender_sync.settings import Settings

logger = Logger()


def handler(event: dict, context) -> dict:
    job = jobs.Job.model_validate(event["job"])
    logger.set_correlation_id(job.executionId)
    counts = jobs.counts_of(event.get("fetch"), event.get("upsert"))
    source = Settings.from_env().source_name
    with db.connect() as conn:
        # A window with nothing in it never reached UpsertTenders: the cursor moves here instead.
        if "upsert" not in event and job.cursorAfter:
            jobs.advance_cursor(conn, source, job.cursorAfter)
        jobs.finish_job(conn, source, job, counts)
    logger.info("job succeeded", extra={"counts": counts})
    return {"status": "SUCCESS", **counts}
