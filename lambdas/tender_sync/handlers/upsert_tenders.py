"""UpsertTenders: the window's tenders, merged with their enrichment, stored with the cursor in one transaction."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import db, settings
from tender_sync.events import StoreEvent
from tender_sync.store import store_window

logger = Logger()
tracer = Tracer()
SETTINGS = settings.from_env(settings.SyncSettings)


@logger.inject_lambda_context(correlation_id_path="job.executionId")
@tracer.capture_lambda_handler
@event_parser(model=StoreEvent)
def handler(event: StoreEvent, context: LambdaContext) -> dict:
    with db.connect() as conn:
        counts = store_window(conn, SETTINGS, event.job, event.fetch)
    logger.info("window stored", extra={"counts": counts, "window": event.job.model_dump(mode="json")["window"]})
    return counts
