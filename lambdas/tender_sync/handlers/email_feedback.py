"""EmailFeedback: SES's bounce and complaint events for the alert emails (its configuration set sends them to the
default bus) pause the subscription each names (tender_sync.alerts.feedback)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.alerts import feedback, subscriptions
from tender_sync.handlers.observability import logger, tracer
from tender_sync.storage import database


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    paused = feedback.paused_by(event)
    if paused is None:
        logger.info("not a bounce or complaint of ours", extra={"detailType": event.get("detail-type")})
        return {"paused": None}
    subscription, reason = paused
    with database.connect() as conn:
        found = subscriptions.pause(conn, subscription, reason)
    logger.info("subscription paused", extra={"subscription": subscription, "reason": reason, "found": found})
    return {"paused": subscription if found else None}
