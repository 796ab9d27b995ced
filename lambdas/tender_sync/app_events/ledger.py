"""requested_events: the key of every app event that started a run, kept REQUESTED_EVENTS_KEPT_DAYS, so that an
event delivered again starts nothing."""

from collections.abc import Sequence

import psycopg

from tender_sync.app_events.events import AppEvent
from tender_sync.workflows import SINGLE_TENDER

# How long a key is remembered: EventBridge retries a delivery for up to a day, and the queue keeps a message 4 days.
REQUESTED_EVENTS_KEPT_DAYS = 7
# The single-tender runs the app's events start go one at a time: a consumer starts one only under this lock.
GATHERED_RUNS_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext('tender_sync.app_events.gathered'))"

# In key order, so that two consumers recording the same keys at once wait on each other rather than deadlock.
RECORD_SQL = """
INSERT INTO requested_events (key, detail_type, published_at)
SELECT key, detail_type, published_at
  FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS e (key, detail_type, published_at)
 ORDER BY key
ON CONFLICT (key) DO NOTHING
RETURNING key
"""
LAST_RUN_SQL = """
SELECT execution_arn FROM requested_events
 WHERE detail_type = %s AND execution_arn IS NOT NULL
 ORDER BY received_at DESC
 LIMIT 1
"""


def record(conn: psycopg.Connection, events: Sequence[AppEvent]) -> set[str]:
    """The events' keys recorded, in the caller's transaction; returns those not seen before."""
    if not events:
        return set()
    rows = conn.execute(
        RECORD_SQL,
        (
            [event.key for event in events],
            [event.workflow.detail_type for event in events],
            [event.published_at for event in events],
        ),
    ).fetchall()
    return {key for (key,) in rows}


def started(conn: psycopg.Connection, keys: Sequence[str], execution_arn: str) -> None:
    """The execution these events started."""
    conn.execute("UPDATE requested_events SET execution_arn = %s WHERE key = ANY(%s)", (execution_arn, list(keys)))


def forget(conn: psycopg.Connection, keys: Sequence[str]) -> None:
    """Keys whose start failed: their events, delivered again, are new."""
    conn.execute("DELETE FROM requested_events WHERE key = ANY(%s)", (list(keys),))


def lock_gathered_runs(conn: psycopg.Connection) -> bool:
    """Whether this transaction may start a single-tender run for the app's events: no other consumer is starting
    one now. The lock is released when the transaction ends."""
    row = conn.execute(GATHERED_RUNS_LOCK).fetchone()
    return bool(row and row[0])


def last_gathered_run(conn: psycopg.Connection) -> str | None:
    """The single-tender run the app's events started last."""
    row = conn.execute(LAST_RUN_SQL, (SINGLE_TENDER.detail_type,)).fetchone()
    return str(row[0]) if row else None


def forget_old(conn: psycopg.Connection) -> int:
    """Keys older than REQUESTED_EVENTS_KEPT_DAYS deleted (cleanup). Returns how many."""
    return conn.execute(
        "DELETE FROM requested_events WHERE received_at < now() - make_interval(days => %s)",
        (REQUESTED_EVENTS_KEPT_DAYS,),
    ).rowcount
