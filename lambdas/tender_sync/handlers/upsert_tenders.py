"""UpsertTenders: the window's tenders, merged with their enrichment, stored with the cursor in one transaction."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import StoreEvent
from tender_sync.runs.steps import store_window
from tender_sync.storage import database

SETTINGS = settings.from_env(settings.SyncSettings)


@step(StoreEvent)
def handler(event: StoreEvent, context: LambdaContext) -> dict[str, Any]:
    with database.connect() as conn:
        counts = store_window(conn, SETTINGS, event.job, event.fetch)
    logger.info("window stored", extra={"counts": counts, "job": event.job.model_dump(mode="json")})
    return counts
