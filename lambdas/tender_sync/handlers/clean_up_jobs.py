"""CleanupJobs: RUNNING job_log rows and held leases whose execution is no longer running become FAILED and
free (DescribeExecution tells). The run itself is logged as a cleanup job."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import aws, settings
from tender_sync.handlers.observability import FIRST_STEP, logger, step
from tender_sync.models.inputs import InputDefaults, parse_input
from tender_sync.models.steps import StartEvent
from tender_sync.runs import cleanup, metrics
from tender_sync.storage import database, migrations
from tender_sync.workflows import CLEANUP

SETTINGS = settings.from_env(settings.SyncSettings)


def execution_status(execution_arn: str) -> str | None:
    client = aws.client("stepfunctions")
    try:
        status: str = client.describe_execution(executionArn=execution_arn)["status"]
    except client.exceptions.ExecutionDoesNotExist:
        return None
    return status


@step(StartEvent, FIRST_STEP)
def handler(event: StartEvent, context: LambdaContext) -> dict[str, Any]:
    request = parse_input(CLEANUP.request, event.input, CLEANUP.name, InputDefaults.of(SETTINGS))
    if not database.is_configured():
        metrics.publish_not_configured(CLEANUP.name)
        logger.warning(database.NOT_CONFIGURED)
        return cleanup.CleanupResult(
            checked=0, jobsFailed=[], leasesFreed=[], skipped=database.NOT_CONFIGURED
        ).model_dump()
    with database.connect() as conn:
        migrations.require_current(conn)
        result = cleanup.run(conn, SETTINGS.source_name, event.executionId, request.triggeredBy, execution_status)
    logger.info("cleanup done", extra=result.model_dump())
    return result.model_dump()
