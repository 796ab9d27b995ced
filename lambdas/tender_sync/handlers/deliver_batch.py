"""DeliverBatch: one batch of alert deliveries sent (emails through SES at this child's share of
alertEmailsPerSecond, webhooks signed), what each came to written to S3 as one object. Never touches the database.

Given an `error` (the Map item's Catch: the batch failed outright, after its retries), it records each of the
batch's deliveries as failed with that error instead, for a later run to retry. Outputs nothing: the Map gathers
every child's output."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import aws, settings
from tender_sync.alerts import sending
from tender_sync.alerts.deliveries import batch_key, result_key
from tender_sync.alerts.models import DeliveryBatch
from tender_sync.alerts.secrets import alerts_key
from tender_sync.errors import describe_failure
from tender_sync.handlers.observability import logger, step
from tender_sync.models.steps import DeliverBatchEvent
from tender_sync.source.requests import SAFETY_MARGIN_SECONDS
from tender_sync.storage.artifacts import get_json, put_json

EMAIL = settings.from_env(settings.EmailSettings)


# No correlation id: the Map item carries no execution id.
@step(DeliverBatchEvent, correlation_id_path=None)
def handler(event: DeliverBatchEvent, context: LambdaContext) -> dict[str, Any]:
    batch = DeliveryBatch.model_validate(get_json(event.bucket, batch_key(event.batchesPrefix, event.item.batch)))
    if event.error is not None:
        error = describe_failure(event.error)
        result = sending.failed_batch(batch, error)
        logger.warning("batch failed", extra={"batch": batch.batch, "error": error})
    else:
        result = sending.deliver_batch(
            batch,
            ses=aws.client("sesv2"),
            from_address=EMAIL.alert_from_address,
            configuration_set=EMAIL.alert_configuration_set,
            unsubscribe_url=EMAIL.unsubscribe_url,
            key=alerts_key(),
            seconds_between_emails=event.secondsBetweenEmails,
            time_left=lambda: context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS,
        )
        delivered = sum(r.delivered for r in result.results)
        logger.info(
            "batch delivered",
            extra={"batch": result.batch, "delivered": delivered, "failed": len(result.results) - delivered},
        )
    put_json(event.bucket, result_key(event.resultsPrefix, result.batch), result.model_dump(mode="json"))
    return {}
