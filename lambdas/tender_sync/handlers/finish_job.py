"""FinishJob: job_log SUCCESS with the counts, and the lease released."""
from aws_lambda_powertools import Logger

from tender_sync import db, jobs
from tender_sync.settings import Settings

logger = Logger()


def handler(event: dict, context) -> dict:
    job = jobs.Job.model_validate(event["job"])
    logger.set_correlation_id(job.executionId)
    counts = jobs.counts_of(event.get("fetch"), event.get("upsert"))
    with db.connect() as conn:
        jobs.finish_job(conn, Settings.from_env().source_name, job, counts)
    logger.info("job succeeded", extra={"counts": counts})
    return {"status": "SUCCESS", **counts}
