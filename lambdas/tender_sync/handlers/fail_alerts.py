"""FailAlerts: the alerts run recorded FAILED with the error, and its claims on deliveries freed for the next run,
whatever step failed. What it had matched or delivered stays recorded."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.errors import InvalidInput, describe_failure
from tender_sync.handlers.observability import FIRST_STEP, logger, step
from tender_sync.models.steps import FailEvent
from tender_sync.runs import alerts
from tender_sync.storage import database


@step(FailEvent, FIRST_STEP)
def handler(event: FailEvent, context: LambdaContext) -> dict[str, Any]:
    error = event.state.get("error") or {}
    message = describe_failure(error)
    logger.error("alerts run failed", extra={"error": message})
    # An input refused before the run was recorded leaves the database as it was; the execution carries why.
    if error.get("Error") != InvalidInput.__name__ and database.is_configured():
        with database.connect() as conn:
            alerts.fail(conn, event.executionId, message)
    return {"status": "FAILED", "error": message}
