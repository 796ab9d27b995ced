"""FinishJob: job_log SUCCESS with the counts, the lease released, and the run's metrics (EMF)."""
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync import db, run_metrics, settings
from tender_sync.events import FinishEvent
from tender_sync.store import finish_run

logger = Logger()
tracer = Tracer()
SETTINGS = settings.from_env(settings.JobSettings)


@logger.inject_lambda_context(correlation_id_path="job.executionId")
@tracer.capture_lambda_handler
@event_parser(model=FinishEvent)
def handler(event: FinishEvent, context: LambdaContext) -> dict:
    with db.connect() as conn:
        finished = finish_run(conn, SETTINGS.source_name, event.job)
    # Published here, once the job is stored as finished; a FinishJob that failed leaves them to FailJob.
    run_metrics.publish(event.job.workflow, finished)
    logger.info("job succeeded", extra={"counts": finished.counts, "seconds": finished.seconds})
    return {"status": "SUCCESS", **finished.counts}
