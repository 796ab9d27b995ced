"""StartSingleTender: validate the input and open the job for one ocid."""
from aws_lambda_powertools import Logger, Tracer

from tender_sync import db, jobs
from tender_sync.inputs import SingleTenderRequest, parse_input

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    execution_id = event["executionId"]
    logger.set_correlation_id(execution_id)
    request = parse_input(SingleTenderRequest, event.get("input"), jobs.SINGLE_TENDER_WORKFLOW)
    with db.connect() as conn:
        db.migrate(conn)
        job_id = jobs.open_job(conn, jobs.SINGLE_TENDER_WORKFLOW, execution_id, "manual", None)
    job = jobs.Job(
        jobId=job_id, executionId=execution_id, workflow=jobs.SINGLE_TENDER_WORKFLOW, ocid=request.ocid, maxEnrichment=1
    )
    logger.info("job started", extra={"job": job.model_dump(mode="json")})
    return job.model_dump(mode="json")
