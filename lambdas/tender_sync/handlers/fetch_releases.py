"""FetchReleases: every release of the window, normalized, into S3. Never touches the database."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import WindowEvent
from tender_sync.source.ocds_client import OcdsClient
from tender_sync.source.publishers import by_source
from tender_sync.source.requests import RequestPolicy
from tender_sync.source.staging import stage_releases

SOURCE = settings.from_env(settings.SourceSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)
PUBLISHER = by_source(SOURCE.source_name)


@step(WindowEvent)
def handler(event: WindowEvent, context: LambdaContext) -> dict[str, Any]:
    job = event.job
    if job.window is None:
        raise ValueError(f"the {job.workflow} job has no window to fetch")
    client = OcdsClient(SOURCE.ocds_base_url, PUBLISHER, policy=RequestPolicy.for_invocation(context))
    releases = client.iter_releases(job.window.date_from, job.window.date_to)
    summary = stage_releases(releases, ARTIFACTS.bucket_name, job.artifacts_prefix, PUBLISHER.ocid_prefix)
    logger.info("window fetched", extra={"summary": summary.model_dump()})
    return summary.model_dump()
