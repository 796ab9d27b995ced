"""FetchRelease: one ocid's newest release from the release endpoint, staged in S3 as FetchReleases stages a
window. An unknown ocid fails the run (SourceRejected). Never touches the database."""
from aws_lambda_powertools import Logger, Tracer

from tender_sync.fetch import stage_releases
from tender_sync.jobs import Job
from tender_sync.ocds_client import OcdsClient
from tender_sync.settings import Settings

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    job = Job.model_validate(event["job"])
    logger.set_correlation_id(job.executionId)
    settings = Settings.from_env()
    release = OcdsClient(settings.ocds_base_url).get_release(job.ocid)
    summary = stage_releases([release], settings.bucket, job.artifacts_prefix, job.maxEnrichment, settings.ocid_prefix)
    logger.info("release fetched", extra={"ocid": job.ocid, "summary": summary.model_dump()})
    return summary.model_dump()
