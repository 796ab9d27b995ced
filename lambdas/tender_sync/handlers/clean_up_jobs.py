"""CleanupJobs: RUNNING job_log rows and held leases whose execution is no longer running become FAILED and
free (DescribeExecution tells). The run itself is logged as a cleanup job."""
from functools import lru_cache

import boto3
from aws_lambda_powertools import Logger, Tracer

from tender_sync import db, jobs
from tender_sync.cleanup import clean_up
from tender_sync.inputs import CleanupRequest, parse_input
from tender_sync.settings import Settings

logger = Logger()
tracer = Tracer()


@lru_cache(maxsize=1)
def stepfunctions():
    return boto3.client("stepfunctions")


def execution_status(execution_arn: str) -> str | None:
    client = stepfunctions()
    try:
        return client.describe_execution(executionArn=execution_arn)["status"]
    except client.exceptions.ExecutionDoesNotExist:
        return None


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    execution_id = event["executionId"]
    logger.set_correlation_id(execution_id)
    request = parse_input(CleanupRequest, event.get("input"), jobs.CLEANUP_WORKFLOW)
    source = Settings.from_env().source_name
    with db.connect() as conn:
        db.migrate(conn)
        result = clean_up(conn, execution_status)
        job_id = jobs.open_job(conn, jobs.CLEANUP_WORKFLOW, execution_id, request.triggeredBy, None)
        jobs.finish_job(conn, source, jobs.Job(jobId=job_id, executionId=execution_id, workflow=jobs.CLEANUP_WORKFLOW), None)
    logger.info("cleanup done", extra=result.model_dump())
    return result.model_dump()
