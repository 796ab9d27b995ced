"""FetchRelease: one ocid's newest release from the release endpoint, staged in S3 as FetchReleases stages a
window. An unknown ocid fails the run (SourceRejected). Never touches the database."""
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
    release = client.get_release(job.ocid)
    summary = stage_releases([release], ARTIFACTS.bucket_name, job.artifacts_prefix, PUBLISHER.ocid_prefix)
    logger.info("release fetched", extra={"ocid": job.ocid, "summary": summary.model_dump()})
    return summary.model_dump()
