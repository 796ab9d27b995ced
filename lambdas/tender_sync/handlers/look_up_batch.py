"""LookUpBatch: one batch of the backlog looked up on the portal, at this child's share of the rate, its results
written to S3 as one object. Never touches the database.

Given an `error` (the Map item's Catch: the batch failed outright, after its retries), it records each of the
batch's tenders as failed with that error instead, to be tried again when due. Outputs nothing: a Distributed
Map gathers every child's output, and AWS fails an execution whose gathered output passes 256 KiB."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import settings
from tender_sync.errors import describe_failure
from tender_sync.handlers.observability import logger, step
from tender_sync.lookups import batch
from tender_sync.models.steps import LookUpBatchEvent
from tender_sync.source.portal_client import PortalClient
from tender_sync.source.requests import SAFETY_MARGIN_SECONDS, RequestPolicy
from tender_sync.storage.artifacts import put_json

SOURCE = settings.from_env(settings.SourceSettings)


# No correlation id: the Map item carries no execution id.
@step(LookUpBatchEvent, correlation_id_path=None)
def handler(event: LookUpBatchEvent, context: LambdaContext) -> dict[str, Any]:
    if event.error is not None:
        error = describe_failure(event.error)
        result = batch.failed_batch(event.item, error)
        logger.warning("batch failed", extra={"batch": event.item.batch, "error": error})
    else:
        # A lookup that keeps failing ends as an error recorded for its tender, not as a Lambda timeout.
        portal = PortalClient(SOURCE.portal_base_url, policy=RequestPolicy.for_invocation(context))
        result = batch.look_up_batch(
            event.item,
            portal,
            event.secondsBetweenLookups,
            batch.time_left(context.get_remaining_time_in_millis, SAFETY_MARGIN_SECONDS, event.notAfter),
        )
        logger.info(
            "batch looked up", extra={"batch": result.batch, "lookups": result.lookups, "throttled": result.throttled}
        )
    put_json(event.bucket, batch.result_key(event.resultsPrefix, result.batch), result.model_dump(mode="json"))
    return {}
