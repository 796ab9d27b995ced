"""A finished run's counts and duration as CloudWatch metrics (EMF), published once the job is stored as finished;
and the scheduled runs that found the database not configured yet."""

from functools import cache

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from tender_sync.models.jobs import FinishedJob


@cache
def _metrics() -> Metrics:
    """Made when first used, in the function, whose environment names the namespace (not when infra/ imports this)."""
    return Metrics()


# 1 for each scheduled run that ended at its first step because the database secret holds no URL yet.
DATABASE_NOT_CONFIGURED = "database_not_configured"


def publish(workflow: str, finished: FinishedJob) -> None:
    _metrics().add_metadata(key="workflow", value=workflow)
    for name, value in finished.counts.items():
        _metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)
    _metrics().add_metric(name="duration", unit=MetricUnit.Seconds, value=finished.seconds)
    _metrics().flush_metrics()


def publish_not_configured(workflow: str) -> None:
    _metrics().add_metadata(key="workflow", value=workflow)
    _metrics().add_metric(name=DATABASE_NOT_CONFIGURED, unit=MetricUnit.Count, value=1)
    _metrics().flush_metrics()
