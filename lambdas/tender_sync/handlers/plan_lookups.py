"""PlanLookups: the stored tenders due a portal lookup, up to the run's cap, freshest first, written in batches as
the enrichment Map's items (tender_sync.backlog)."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import backlog, db, settings
from tender_sync.events import JobEvent
from tender_sync.publishers import by_source

logger = Logger()
tracer = Tracer()
LOOKUPS = settings.from_env(settings.LookupSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)
PUBLISHER = by_source(settings.from_env(settings.JobSettings).source_name)


@logger.inject_lambda_context(correlation_id_path="job.executionId")
@tracer.capture_lambda_handler
@event_parser(model=JobEvent)
def handler(event: JobEvent, context: LambdaContext) -> dict:
    with db.connect() as conn:
        plan = backlog.plan_lookups(conn, event.job, ARTIFACTS.bucket_name, LOOKUPS, PUBLISHER.zone)
    logger.info("lookups planned", extra={"tenders": plan.tenders, "batches": plan.batches})
    return plan.model_dump()
