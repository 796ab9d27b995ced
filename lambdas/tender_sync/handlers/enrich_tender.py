"""EnrichTender: one tender's portal lookup, its result written to S3. Never touches the database.

Given an `error` (the Map item's Catch, after the lookup's retries), it records the failure instead:
the result says failed, with the error, so UpsertTenders stores the tender marked for a later pass.
"""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.artifacts import put_json
from tender_sync.enrichment import enrich
from tender_sync.errors import describe_failure
from tender_sync.events import EnrichTenderEvent
from tender_sync.models import EnrichmentItem, EnrichmentResult
from tender_sync.portal_client import PortalClient
from tender_sync.source_requests import RequestPolicy

logger = Logger()
tracer = Tracer()
SOURCE = settings.from_env(settings.SourceSettings)


# No correlation id: the Map item carries no execution id.
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=EnrichTenderEvent)
def handler(event: EnrichTenderEvent, context: LambdaContext) -> dict:
    item = EnrichmentItem(ocid=event.ocid, tenderNumber=event.tenderNumber)
    if event.error is not None:
        result = EnrichmentResult(ocid=item.ocid, status="failed", error=describe_failure(event.error))
        logger.warning("tender enrichment failed", extra={"ocid": item.ocid, "error": result.error})
    else:
        # A lookup that keeps failing ends as an error the Map item records, not as a Lambda timeout.
        portal = PortalClient(SOURCE.portal_base_url, policy=RequestPolicy.for_invocation(context))
        result = enrich(item, portal)
        logger.debug("tender enriched", extra={"ocid": item.ocid, "status": result.status})
    put_json(event.bucket, f"{event.resultsPrefix}{item.ocid}.json", result.model_dump(mode="json"))
    return {"ocid": item.ocid, "status": result.status}
