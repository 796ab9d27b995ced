"""RecordDeliveries' counts as EMF metrics: each named as the alarm on undelivered deliveries reads it."""

import json

from tender_sync.alerts import metrics
from tender_sync.alerts.deliveries import RecordCounts


def test_each_count_is_an_alert_metric_and_undelivered_is_the_one_the_alarm_watches(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TenderSync")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tender-sync")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    counts = RecordCounts(
        deliveries=3, subscriptions=2, emails=2, webhooks=1, delivered=2, failed=1, undelivered=4, paused=0
    )

    metrics.publish(counts.model_dump())

    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert line[metrics.UNDELIVERED] == [4.0]
    assert {name: line[f"alert_{name}"] for name in counts.model_dump()} == {
        name: [float(value)] for name, value in counts.model_dump().items()
    }
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TenderSync"
