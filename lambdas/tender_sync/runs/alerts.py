"""An alerts run: MatchAlerts records what its change event matched (once per event), makes the daily digests
due and claims the deliveries due, in batches for DeliverAlerts; RecordDeliveries records what each came to;
FailAlerts records why a run failed and frees its claims. Each step commits what it stored before it goes on, so
a later failure never undoes it."""

from datetime import UTC, datetime

import psycopg

from tender_sync.alerts import deliveries, matching
from tender_sync.alerts import runs as alert_runs
from tender_sync.alerts.deliveries import RecordCounts
from tender_sync.models.inputs import AlertsRequest
from tender_sync.models.steps import AlertsPlan
from tender_sync.settings import AlertSettings


def start(
    conn: psycopg.Connection, execution_id: str, request: AlertsRequest, bucket: str, settings: AlertSettings
) -> AlertsPlan:
    alert_runs.start(conn, execution_id, request.triggeredBy, request.event)
    conn.commit()
    matched = matching.match_event(conn, request.event, execution_id) if request.event else None
    conn.commit()
    deliveries.make_digests(conn, datetime.now(UTC), settings.alert_digest_hour)
    conn.commit()
    plan = deliveries.plan(conn, execution_id, bucket, settings.tender_url_template)
    return AlertsPlan(
        **plan.model_dump(),
        executionId=execution_id,
        event=request.event,
        duplicate=matched.duplicate if matched else False,
        notices=matched.notices if matched else 0,
        subscriptions=matched.subscriptions if matched else 0,
    )


def record(conn: psycopg.Connection, plan: AlertsPlan) -> RecordCounts:
    counts = deliveries.record(conn, plan.executionId, plan)
    alert_runs.finish(conn, plan.executionId, counts)
    return counts


def fail(conn: psycopg.Connection, execution_id: str, error: str) -> None:
    deliveries.release(conn, execution_id)
    alert_runs.fail(conn, execution_id, error)
