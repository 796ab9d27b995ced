"""FetchReleases: every release of the window, normalized, into S3. Never touches the database."""
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
    releases = OcdsClient(settings.ocds_base_url).iter_releases(job.window.date_from, job.window.date_to)
    summary = stage_releases(releases, settings.bucket, job.artifacts_prefix, job.maxEnrichment, settings.ocid_prefix)
    logger.info("window fetched", extra={"summary": summary.model_dump()})
    return summary.model_dump()
