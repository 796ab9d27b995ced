"""PlanLookups: the stored tenders due a portal lookup, up to the run's cap, freshest first, claimed for this run
and written in batches as the LookUpTenders Map's items, with the run's range of the portal's schedule
(tender_sync.lookups.plan)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.handlers.observability import logger, step
from tender_sync.lookups.plan import plan_lookups
from tender_sync.models.steps import JobEvent
from tender_sync.source.publishers import by_source
from tender_sync.storage import database

LOOKUPS = settings.from_env(settings.LookupSettings)
ARTIFACTS = settings.from_env(settings.ArtifactSettings)
SOURCE_NAME = settings.from_env(settings.JobSettings).source_name
PUBLISHER = by_source(SOURCE_NAME)


@step(JobEvent)
def handler(event: JobEvent, context: LambdaContext) -> dict[str, Any]:
    with database.connect() as conn:
        plan = plan_lookups(conn, SOURCE_NAME, event.job, ARTIFACTS.bucket_name, LOOKUPS, PUBLISHER.zone)
    logger.info("lookups planned", extra={"tenders": plan.tenders, "batches": plan.batches, "from": plan.notBefore})
    return plan.model_dump(mode="json")
