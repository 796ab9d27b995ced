"""A finished run's counts and duration as CloudWatch metrics (EMF), published once the job is stored as finished."""
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from tender_sync.models.jobs import FinishedJob

metrics = Metrics()


def publish(workflow: str, finished: FinishedJob) -> None:
    metrics.add_metadata(key="workflow", value=workflow)
    for name, value in finished.counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name="duration", unit=MetricUnit.Seconds, value=finished.seconds)
    metrics.flush_metrics()
