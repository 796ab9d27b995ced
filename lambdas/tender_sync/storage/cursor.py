"""The cursor (the release date the sync has stored up to), the one-run-at-a-time lease that guards it, in
sync_state, and the rules for which window a sync works on and whether storing it moves the cursor."""

from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import psycopg

from tender_sync.models.jobs import Window
from tender_sync.settings import SyncSettings
from tender_sync.source.publishers import ETENDERS
from tender_sync.storage.database import one_row


class Lease(NamedTuple):
    """The cursor, and who holds the lease until when (holder None: nobody)."""

    cursor: date | None
    holder: str | None
    expires: datetime | None


def take_lease(conn: psycopg.Connection, source: str, holder: str, lease_seconds: int) -> Lease:
    """The lease row (cursor, holder, expiry) after trying to take it; taken when holder matches.

    A lease past its expiry is taken over: its holder crashed or was stopped without FailJob, so its
    job_log row, if still RUNNING, becomes FAILED saying so.
    """
    conn.execute("INSERT INTO sync_state (source) VALUES (%s) ON CONFLICT DO NOTHING", (source,))
    taken = conn.execute(
        """WITH previous AS (SELECT lease_holder FROM sync_state WHERE source = %(source)s FOR UPDATE)
           UPDATE sync_state
              SET lease_holder = %(holder)s,
                  lease_expires_at = now() + make_interval(secs => %(secs)s),
                  updated_at = now()
             FROM previous
            WHERE source = %(source)s
              AND (sync_state.lease_holder IS NULL OR sync_state.lease_holder = %(holder)s
                   OR lease_expires_at < now())
        RETURNING cursor, sync_state.lease_holder, lease_expires_at, previous.lease_holder""",
        {"holder": holder, "secs": lease_seconds, "source": source},
    ).fetchone()
    if taken:
        cursor, holder_now, expires, previous_holder = taken
        if previous_holder not in (None, holder):
            conn.execute(
                """UPDATE job_log SET status = 'FAILED', finished_at = now(),
                          error = 'its lease expired and was taken over by ' || %s
                    WHERE execution_id = %s AND status = 'RUNNING'""",
                (holder, previous_holder),
            )
        return Lease(cursor, holder_now, expires)
    return Lease(
        *one_row(
            conn.execute("SELECT cursor, lease_holder, lease_expires_at FROM sync_state WHERE source = %s", (source,))
        )
    )


def move_cursor(conn: psycopg.Connection, settings: SyncSettings, window: Window) -> date | None:
    """Move the cursor past a window just stored, by the cursor rule (cursor_after) applied to the cursor
    as it is now, in the storing transaction. For runs that hold no lease (a backfill): returns the new cursor."""
    conn.execute("INSERT INTO sync_state (source) VALUES (%s) ON CONFLICT DO NOTHING", (settings.source_name,))
    (cursor,) = one_row(
        conn.execute("SELECT cursor FROM sync_state WHERE source = %s FOR UPDATE", (settings.source_name,))
    )
    moved_to = cursor_after(window, cursor, settings.first_run_from)
    if moved_to:
        advance_cursor(conn, settings.source_name, moved_to)
    return moved_to


def advance_cursor(conn: psycopg.Connection, source: str, to: date) -> None:
    """Move the cursor forwards only; called in the transaction that stored the window."""
    conn.execute(
        """UPDATE sync_state SET cursor = GREATEST(COALESCE(cursor, %(to)s), %(to)s), updated_at = now()
            WHERE source = %(source)s""",
        {"to": to, "source": source},
    )


def release_lease(conn: psycopg.Connection, source: str, holder: str) -> None:
    conn.execute(
        """UPDATE sync_state SET lease_holder = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE source = %s AND lease_holder = %s""",
        (source, holder),
    )


def source_today(now: datetime | None = None) -> date:
    """Today where the source publishes: its releases are dated in its time zone."""
    return (now or datetime.now(UTC)).astimezone(ETENDERS.zone).date()


def next_window(cursor: date | None, today: date, first_run_from: date, window_days: int, overlap_days: int) -> Window:
    """The window after the cursor: it starts overlap_days before the cursor (to catch late
    updates), spans at most window_days, and never reaches past today."""
    start = first_run_from if cursor is None else cursor - timedelta(days=overlap_days)
    end = min(start + timedelta(days=window_days), today + timedelta(days=1))
    return Window(date_from=start, date_to=max(start, end))


def cursor_after(window: Window, cursor: date | None, first_run_from: date) -> date | None:
    """The cursor to store once the window is stored, or None to leave it alone: only a window
    that leaves no gap after the cursor moves it, and only forwards. (Before the first run the cursor is
    as good as first_run_from: a window that ends before it, a backfill's, leaves the cursor alone.)"""
    reach = cursor or first_run_from
    if window.date_from <= reach < window.date_to:
        return window.date_to
    return None
