"""PlanLookups: the stored tenders due a portal lookup, up to the run's cap, freshest first, written in batches as
the LookUpTenders Map's items (tender_sync.lookups.plan)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.handlers.observability import logger, step

from tender_sync.storage import database
from tender_sync import settings
from tender_sync.models.steps import JobEvent
from tender_sync.source.publishers import by_source
from tender_sync.lookups.plan import plan_lookups

LOOKUPS = settings.from_env(settings.LookupSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)
PUBLISHER = by_source(settings.from_env(settings.JobSettings).source_name)


@step(JobEvent)
def handler(event: JobEvent, context: LambdaContext) -> dict[str, Any]:
    with database.connect() as conn:
        plan = plan_lookups(conn, event.job, ARTIFACTS.bucket_name, LOOKUPS, PUBLISHER.zone)
    logger.info("lookups planned", extra={"tenders": plan.tenders, "batches": plan.batches})
    return plan.model_dump()
