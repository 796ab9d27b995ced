"""A finished run's counts and duration as CloudWatch metrics (EMF), published once the job is stored as finished;
and the scheduled runs that found the database not configured yet."""

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from tender_sync.models.jobs import FinishedJob


def metrics() -> Metrics:
    """Made for each use, from the environment the function has then: its namespace is named there (and infra/,
    which imports this, has none)."""
    return Metrics()


# 1 for each scheduled run that ended at its first step because the database secret holds no URL yet.
DATABASE_NOT_CONFIGURED = "database_not_configured"


def publish(workflow: str, finished: FinishedJob) -> None:
    emf = metrics()
    emf.add_metadata(key="workflow", value=workflow)
    for name, value in finished.counts.items():
        emf.add_metric(name=name, unit=MetricUnit.Count, value=value)
    emf.add_metric(name="duration", unit=MetricUnit.Seconds, value=finished.seconds)
    emf.flush_metrics()


def publish_not_configured(workflow: str) -> None:
    emf = metrics()
    emf.add_metadata(key="workflow", value=workflow)
    emf.add_metric(name=DATABASE_NOT_CONFIGURED, unit=MetricUnit.Count, value=1)
    emf.flush_metrics()
