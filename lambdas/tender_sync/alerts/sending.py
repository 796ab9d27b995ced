"""DeliverBatch's work: one batch of deliveries sent in turn, emails at this child's share of SES's rate.
Never touches the database: what each delivery came to is the result RecordDeliveries reads."""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tender_sync.alerts import email, webhooks
from tender_sync.alerts.models import DeliveryBatch, DeliveryBatchResult, DeliveryResult

OUT_OF_TIME = "not attempted: out of time"
# What an email is given to go, besides its wait for its turn: SES answers in well under a second.
EMAIL_SECONDS = 1.0


def deliver_batch(
    batch: DeliveryBatch,
    *,
    ses: Any,
    from_address: str,
    configuration_set: str,
    unsubscribe_url: str,
    key: bytes,
    seconds_between_emails: float,
    time_left: Callable[[], float],
) -> DeliveryBatchResult:
    """Each delivery of the batch attempted in turn, an email started at most every seconds_between_emails. One
    delivery's failure does not fail the others; one that would not end within time_left() (a webhook's whole
    timeout, an email's wait and send) is not attempted, and fails as out of time, to be tried again."""
    results = []
    next_email = time.monotonic()
    for delivery in batch.deliveries:
        if delivery.channel == "webhook":
            if time_left() < webhooks.TIMEOUT_SECONDS:
                results.append(DeliveryResult(id=delivery.id, delivered=False, error=OUT_OF_TIME, attempted=False))
                continue
            results.append(webhooks.send(delivery, key, datetime.now(UTC)))
        else:
            wait = max(0.0, next_email - time.monotonic())
            if time_left() < wait + EMAIL_SECONDS:
                results.append(DeliveryResult(id=delivery.id, delivered=False, error=OUT_OF_TIME, attempted=False))
                continue
            time.sleep(wait)
            next_email = time.monotonic() + seconds_between_emails
            results.append(email.send(delivery, ses, from_address, configuration_set, unsubscribe_url, key))
    return DeliveryBatchResult(batch=batch.batch, results=results)


def failed_batch(batch: DeliveryBatch, error: str) -> DeliveryBatchResult:
    """A batch that failed outright (after its retries): each delivery failed, with the error."""
    return DeliveryBatchResult(
        batch=batch.batch,
        results=[DeliveryResult(id=delivery.id, delivered=False, error=error) for delivery in batch.deliveries],
    )
