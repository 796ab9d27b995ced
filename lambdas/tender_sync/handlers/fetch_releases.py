"""FetchReleases: every release of the window, normalized, into S3. Never touches the database."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.events import JobEvent
from tender_sync.fetch import stage_releases
from tender_sync.ocds_client import OcdsClient
from tender_sync.publishers import by_source
from tender_sync.source_requests import RequestPolicy

logger = Logger()
tracer = Tracer()
SOURCE = settings.from_env(settings.SourceSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)
PUBLISHER = by_source(SOURCE.source_name)


@logger.inject_lambda_context(correlation_id_path="job.executionId")
@tracer.capture_lambda_handler
@event_parser(model=JobEvent)
def handler(event: JobEvent, context: LambdaContext) -> dict:
    job = event.job
    client = OcdsClient(SOURCE.ocds_base_url, PUBLISHER, policy=RequestPolicy.for_invocation(context))
    releases = client.iter_releases(job.window.date_from, job.window.date_to)
    summary = stage_releases(releases, ARTIFACTS.bucket_name, job.artifacts_prefix, PUBLISHER.ocid_prefix)
    logger.info("window fetched", extra={"summary": summary.model_dump()})
    return summary.model_dump()
