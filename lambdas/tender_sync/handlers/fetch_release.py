"""FetchRelease: one ocid's newest release from the release endpoint, staged in S3 as FetchReleases stages a
window. An unknown ocid fails the run (SourceRejected). Never touches the database."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.handlers.observability import logger, step

from tender_sync import settings
from tender_sync.models.steps import SingleTenderEvent
from tender_sync.source.staging import stage_releases
from tender_sync.source.ocds_client import OcdsClient
from tender_sync.source.publishers import by_source
from tender_sync.source.requests import RequestPolicy

SOURCE = settings.from_env(settings.SourceSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)
PUBLISHER = by_source(SOURCE.source_name)


@step(SingleTenderEvent)
def handler(event: SingleTenderEvent, context: LambdaContext) -> dict[str, Any]:
    job = event.job
    client = OcdsClient(SOURCE.ocds_base_url, PUBLISHER, policy=RequestPolicy.for_invocation(context))
    release = client.get_release(job.ocid)
    summary = stage_releases([release], ARTIFACTS.bucket_name, job.artifacts_prefix, PUBLISHER.ocid_prefix)
    logger.info("release fetched", extra={"ocid": job.ocid, "summary": summary.model_dump()})
    return summary.model_dump()
