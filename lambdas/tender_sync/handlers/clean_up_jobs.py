"""CleanupJobs: RUNNING job_log rows and held leases whose execution is no longer running become FAILED and
free (DescribeExecution tells). The run itself is logged as a cleanup job."""
from functools import lru_cache

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import cleanup, db, settings
from tender_sync.events import StartEvent
from tender_sync.inputs import parse_input
from tender_sync.workflows import CLEANUP

logger = Logger()
tracer = Tracer()
SETTINGS = settings.from_env(settings.JobSettings)


@lru_cache(maxsize=1)
def stepfunctions():
    return boto3.client("stepfunctions")


def execution_status(execution_arn: str) -> str | None:
    client = stepfunctions()
    try:
        return client.describe_execution(executionArn=execution_arn)["status"]
    except client.exceptions.ExecutionDoesNotExist:
        return None


@logger.inject_lambda_context(correlation_id_path="executionId")
@tracer.capture_lambda_handler
@event_parser(model=StartEvent)
def handler(event: StartEvent, context: LambdaContext) -> dict:
    request = parse_input(CLEANUP.request, event.input, CLEANUP.name)
    with db.connect() as conn:
        db.migrate(conn)
        result = cleanup.run(conn, SETTINGS.source_name, event.executionId, request.triggeredBy, execution_status)
    logger.info("cleanup done", extra=result.model_dump())
    return result.model_dump()
