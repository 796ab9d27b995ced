"""EnrichTender: one tender's portal lookup, its result written to S3. Never touches the database.

Given an `error` (the Map item's Catch, after the lookup's retries), it records the failure instead:
the result says failed, with the error, so UpsertTenders stores the tender marked for a later pass.
"""
from functools import lru_cache

import httpx
from aws_lambda_powertools import Logger, Tracer

from tender_sync.artifacts import put_json
from tender_sync.enrichment import PortalClient, enrich
from tender_sync.errors import describe_failure
from tender_sync.models import EnrichmentItem, EnrichmentResult
from tender_sync.ocds_client import RequestPolicy
from tender_sync.settings import Settings

logger = Logger()
tracer = Tracer()


SAFETY_MARGIN_SECONDS = 2.0


@lru_cache(maxsize=1)
def http_client() -> httpx.Client:
    """One HTTP client per container, so warm invocations reuse its connections."""
    return httpx.Client()


def portal(context) -> PortalClient:
    """The portal client, its retries fitted into this invocation's time left, so that a lookup that keeps
    failing ends as an error the Map item records, not as a Lambda timeout."""
    seconds_left = context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
    policy = RequestPolicy.from_env().within(seconds_left)
    return PortalClient(Settings.from_env().portal_base_url, policy=policy, client=http_client())


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    item = EnrichmentItem(ocid=event["ocid"], tenderNumber=event.get("tenderNumber"))
    if "error" in event:
        result = EnrichmentResult(ocid=item.ocid, status="failed", error=describe_failure(event["error"]))
        logger.warning("tender enrichment failed", extra={"ocid": item.ocid, "error": result.error})
    else:
        result = enrich(item, portal(context))
        logger.debug("tender enriched", extra={"ocid": item.ocid, "status": result.status})
    put_json(event["bucket"], f"{event['resultsPrefix']}{item.ocid}.json", result.model_dump(mode="json"))
    return {"ocid": item.ocid, "status": result.status}
