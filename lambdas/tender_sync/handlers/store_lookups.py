"""StoreLookups: what the enrichment Map's batches found, stored for each tender (a batch that left no result:
its tenders failed, to be tried again when due), and added to the job's counts with the rate seen."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import backlog, db, jobs, settings
from tender_sync.events import LookupsEvent

logger = Logger()
tracer = Tracer()
LOOKUPS = settings.from_env(settings.LookupSettings)


@logger.inject_lambda_context(correlation_id_path="job.executionId")
@tracer.capture_lambda_handler
@event_parser(model=LookupsEvent)
def handler(event: LookupsEvent, context: LambdaContext) -> dict:
    with db.connect() as conn:
        counts = backlog.store_results(conn, event.lookups, LOOKUPS.not_found_recheck_hours)
        jobs.record_lookups(conn, event.job, counts)
    logger.info("lookups stored", extra={"counts": counts})
    return counts
