"""EnrichTender: one tender's portal lookup, its result written to S3. Never touches the database."""
from functools import lru_cache

from aws_lambda_powertools import Logger

from tender_sync.artifacts import put_json
from tender_sync.enrichment import PortalClient, enrich
from tender_sync.models import EnrichmentItem
from tender_sync.settings import Settings

logger = Logger()


@lru_cache(maxsize=1)
def portal(base_url: str) -> PortalClient:
    """One client per container, so warm invocations reuse its connections."""
    return PortalClient(base_url)


def handler(event: dict, context) -> dict:
    item = EnrichmentItem(ocid=event["ocid"], tenderNumber=event.get("tenderNumber"))
    result = enrich(item, portal(Settings.from_env().portal_base_url))
    put_json(event["bucket"], f"{event['resultsPrefix']}{item.ocid}.json", result.model_dump(mode="json"))
    logger.debug("tender enriched", extra={"ocid": item.ocid, "status": result.status})
    return {"ocid": item.ocid, "status": result.status}
