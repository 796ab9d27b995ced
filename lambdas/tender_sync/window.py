"""Which date window a sync works on, and whether finishing it moves the cursor."""
from datetime import date, datetime, timedelta, timezone

from tender_sync.models import Window
from tender_sync.publishers import ETENDERS


def source_today(now: datetime | None = None) -> date:
    """Today where the source publishes: its releases are dated in its time zone."""
    return (now or datetime.now(timezone.utc)).astimezone(ETENDERS.zone).date()


def next_window(
    cursor: date | None, today: date, first_run_from: date, window_days: int, overlap_days: int
) -> Window:
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
