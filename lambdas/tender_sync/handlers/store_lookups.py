"""StoreLookups: what the enrichment Map's batches found, stored for each tender (a batch that left no result:
its tenders failed, to be tried again when due), added to the job's counts with the rate seen, and the tenders
enriched recorded as the window's changes."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import db, settings
from tender_sync.events import LookupsEvent
from tender_sync.store import store_lookups

logger = Logger()
tracer = Tracer()
LOOKUPS = settings.from_env(settings.LookupSettings)
JOBS = settings.from_env(settings.JobSettings)


@logger.inject_lambda_context(correlation_id_path="job.executionId")
@tracer.capture_lambda_handler
@event_parser(model=LookupsEvent)
def handler(event: LookupsEvent, context: LambdaContext) -> dict:
    with db.connect() as conn:
        counts = store_lookups(conn, JOBS.source_name, event.job, event.lookups, LOOKUPS.not_found_recheck_hours)
    logger.info("lookups stored", extra={"counts": counts})
    return counts
