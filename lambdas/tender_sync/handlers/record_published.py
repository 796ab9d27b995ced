"""RecordPublished: the change events EventBridge took, marked sent. Those PublishChanges could not send stay
unsent: a later run sends them, and this run's job_log counts them late."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.errors import describe_failure
from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import PublishedEvent
from tender_sync.runs.steps import record_published
from tender_sync.storage import database


@step(PublishedEvent)
def handler(event: PublishedEvent, context: LambdaContext) -> dict[str, Any]:
    if event.publish_error:
        logger.warning(
            "change events not sent; a later run sends them",
            extra={"events": event.changes.ids, "error": describe_failure(event.publish_error)},
        )
        return {"events": 0, "changes": 0}
    with database.connect() as conn:
        published = record_published(conn, event.job, event.changes.ids)
    logger.info("change events sent", extra={"events": event.changes.ids, "changes": published})
    return {"events": event.changes.count, "changes": published}
