"""StoreLookups: what the enrichment Map's batches found, stored for each tender (a batch that left no result:
its tenders failed, to be tried again when due), added to the job's counts with the rate seen, and the tenders
enriched recorded as the window's changes."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import LookupsEvent
from tender_sync.runs.steps import store_lookups
from tender_sync.storage import database

LOOKUPS = settings.from_env(settings.LookupSettings)
JOBS = settings.from_env(settings.JobSettings)


@step(LookupsEvent)
def handler(event: LookupsEvent, context: LambdaContext) -> dict[str, Any]:
    with database.connect() as conn:
        counts = store_lookups(conn, JOBS.source_name, event.job, event.lookups, LOOKUPS.not_found_recheck_hours)
    logger.info("lookups stored", extra={"counts": counts})
    return counts
