"""An alerts run's counts as CloudWatch metrics (EMF), published by RecordDeliveries."""

from collections.abc import Mapping

from aws_lambda_powertools.metrics import MetricUnit

from tender_sync.runs.metrics import metrics

PREFIX = "alert_"
# Deliveries of active subscriptions that failed at least once and wait for a retry, whichever run planned them
# (RecordCounts.undelivered): alarmed while above 0 (infra/alerts.py).
UNDELIVERED = f"{PREFIX}undelivered"


def publish(counts: Mapping[str, int]) -> None:
    """Each of RecordCounts as alert_<name>: alert_delivered, alert_failed, alert_undelivered..."""
    emf = metrics()
    for name, value in counts.items():
        emf.add_metric(name=f"{PREFIX}{name}", unit=MetricUnit.Count, value=value)
    emf.flush_metrics()
