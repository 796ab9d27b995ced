"""PrepareChanges: the unsent change events (this run's, and any a run before could not send), each with its
changes written to S3, as the entries PublishChanges sends (tender_sync.changes)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.changes import outbox
from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import JobEvent
from tender_sync.storage import database

JOBS = settings.from_env(settings.JobSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)
CHANGES = settings.from_env(settings.ChangeSettings)


@step(JobEvent)
def handler(event: JobEvent, context: LambdaContext) -> dict[str, Any]:
    with database.connect() as conn:
        to_publish = outbox.prepare(conn, JOBS.source_name, ARTIFACTS.bucket_name, CHANGES.event_bus_name)
    logger.info("change events prepared", extra={"events": to_publish.ids})
    return to_publish.model_dump(mode="json")
