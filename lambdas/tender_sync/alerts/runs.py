"""The alert_runs rows: each alerts run opened RUNNING by its first step, then finished with its counts, or failed
with why."""

import psycopg

from tender_sync.alerts.deliveries import RecordCounts
from tender_sync.errors import MAX_FAILURE_CHARS
from tender_sync.storage.database import one_row

# A step retried opens the same row again.
START_SQL = """
INSERT INTO alert_runs (execution_id, triggered_by, event_id, status) VALUES (%s, %s, %s, 'RUNNING')
ON CONFLICT (execution_id) DO UPDATE SET status = 'RUNNING', error = NULL, finished_at = NULL
"""
# matched: the notices its event made, when this run was the one that matched it (0 for an event matched before).
FINISH_SQL = """
UPDATE alert_runs r
   SET status = 'SUCCESS', error = NULL, finished_at = now(),
       matched = COALESCE((SELECT e.matched FROM alert_events e
                            WHERE e.event_id = r.event_id AND e.execution_id = r.execution_id), 0),
       deliveries = %(deliveries)s, delivered = %(delivered)s, failed = %(failed)s
 WHERE execution_id = %(execution)s
"""
# A row is made when the run failed before its first step opened one.
FAIL_SQL = """
INSERT INTO alert_runs (execution_id, status, error, finished_at) VALUES (%s, 'FAILED', %s, now())
ON CONFLICT (execution_id) DO UPDATE SET status = 'FAILED', error = EXCLUDED.error, finished_at = now()
"""


def start(conn: psycopg.Connection, execution_id: str, triggered_by: str, event_id: str | None) -> None:
    conn.execute(START_SQL, (execution_id, triggered_by, event_id))


def finish(conn: psycopg.Connection, execution_id: str, counts: RecordCounts) -> None:
    """The run SUCCESS: the notices its event made, the deliveries it planned, and what they came to."""
    conn.execute(
        FINISH_SQL,
        {
            "execution": execution_id,
            "deliveries": counts.deliveries,
            "delivered": counts.delivered,
            "failed": counts.failed,
        },
    )


def fail(conn: psycopg.Connection, execution_id: str, error: str) -> None:
    """The run FAILED with its error's one line (which never names an address)."""
    conn.execute(FAIL_SQL, (execution_id, error[:MAX_FAILURE_CHARS]))


# How long alerts runs, matched events and delivered deliveries are kept, for looking back; cleanup forgets them
# after. Notices are kept: they are what makes a subscriber hear of a tender once.
KEPT_DAYS = 30

FORGET_SQL = """
WITH runs AS (
    DELETE FROM alert_runs WHERE finished_at < now() - make_interval(days => %(days)s) RETURNING 1
), events AS (
    DELETE FROM alert_events WHERE received_at < now() - make_interval(days => %(days)s) RETURNING 1
), delivered AS (
    DELETE FROM alert_deliveries
     WHERE status = 'delivered' AND delivered_at < now() - make_interval(days => %(days)s) RETURNING 1
)
SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM events) + (SELECT count(*) FROM delivered)
"""


def forget_old(conn: psycopg.Connection) -> int:
    """Alerts runs, matched events and delivered deliveries older than KEPT_DAYS, deleted. Returns how many rows."""
    (forgotten,) = one_row(conn.execute(FORGET_SQL, {"days": KEPT_DAYS}))
    return int(forgotten)
