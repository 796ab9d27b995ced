"""Unsubscribe: the alert emails' one-click unsubscribe endpoint (RFC 8058), a Lambda function URL: GET confirms,
POST pauses the subscription its signed link names (tender_sync.alerts.unsubscribe)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.alerts import subscriptions, unsubscribe
from tender_sync.alerts.secrets import alerts_key
from tender_sync.handlers.observability import logger, tracer
from tender_sync.storage import database


def pause(subscription: int, reason: str) -> bool:
    with database.connect() as conn:
        return subscriptions.pause(conn, subscription, reason)


# The function URL's event is passed whole: its query string and body are the request.
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = unsubscribe.respond(event, alerts_key(), pause)
    logger.info("unsubscribe", extra={"status": response["statusCode"]})
    return response
