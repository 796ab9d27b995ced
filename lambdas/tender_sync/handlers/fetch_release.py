"""FetchRelease: each of the job's ocids' newest release from the release endpoint, staged in S3 as FetchReleases
stages a window. A single unknown ocid fails the run (SourceRejected); of several, an unknown one is skipped and
counted. Never touches the database."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import SingleTenderEvent
from tender_sync.runs import single_tender
from tender_sync.source.ocds_client import OcdsClient
from tender_sync.source.publishers import by_source
from tender_sync.source.requests import RequestPolicy
from tender_sync.source.staging import stage_releases

SOURCE = settings.from_env(settings.SourceSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)
PUBLISHER = by_source(SOURCE.source_name)


@step(SingleTenderEvent)
def handler(event: SingleTenderEvent, context: LambdaContext) -> dict[str, Any]:
    job = event.job
    client = OcdsClient(SOURCE.ocds_base_url, PUBLISHER, policy=RequestPolicy.for_invocation(context))
    unknown: list[str] = []
    releases = single_tender.releases(client.get_release, job.ocids, unknown)
    summary = stage_releases(releases, ARTIFACTS.bucket_name, job.artifacts_prefix, PUBLISHER.ocid_prefix)
    logger.info(
        "releases fetched", extra={"ocids": len(job.ocids), "unknown": unknown, "summary": summary.model_dump()}
    )
    return {**summary.model_dump(), "unknown": len(unknown)}
