"""PrepareChanges: the unsent change events (this run's, and any a run before could not send), each with its
changes written to S3, as the entries PublishChanges sends (tender_sync.changes)."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import changes, db, settings
from tender_sync.events import JobEvent

logger = Logger()
tracer = Tracer()
JOBS = settings.from_env(settings.JobSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)
CHANGES = settings.from_env(settings.ChangeSettings)


@logger.inject_lambda_context(correlation_id_path="job.executionId")
@tracer.capture_lambda_handler
@event_parser(model=JobEvent)
def handler(event: JobEvent, context: LambdaContext) -> dict:
    with db.connect() as conn:
        to_publish = changes.prepare(conn, JOBS.source_name, ARTIFACTS.bucket_name, CHANGES.event_bus_name)
    logger.info("change events prepared", extra={"events": to_publish.ids})
    return to_publish.model_dump(mode="json")
