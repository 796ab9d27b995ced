"""RecordPublished: the change events EventBridge took, marked sent. Those PublishChanges could not send stay
unsent: a later run sends them, and this run's job_log counts them late."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import db
from tender_sync.errors import describe_failure
from tender_sync.events import PublishedEvent
from tender_sync.store import record_published

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(correlation_id_path="job.executionId")
@tracer.capture_lambda_handler
@event_parser(model=PublishedEvent)
def handler(event: PublishedEvent, context: LambdaContext) -> dict:
    if event.publish_error:
        logger.warning(
            "change events not sent; a later run sends them",
            extra={"events": event.changes.ids, "error": describe_failure(event.publish_error)},
        )
        return {"events": 0, "changes": 0}
    with db.connect() as conn:
        published = record_published(conn, event.job, event.changes.ids)
    logger.info("change events sent", extra={"events": event.changes.ids, "changes": published})
    return {"events": event.changes.count, "changes": published}
