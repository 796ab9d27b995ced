"""Which window a sync works on, and when the cursor moves."""

from datetime import date

from tender_sync.models.jobs import Window
from tender_sync.storage.cursor import cursor_after, next_window

FIRST = date(2025, 9, 1)


def window(a, b):
    return Window(date_from=a, date_to=b)


def test_first_run_starts_at_the_first_run_date():
    assert next_window(None, date(2026, 1, 1), FIRST, 7, 1) == window(FIRST, date(2025, 9, 8))


def test_later_runs_overlap_the_previous_window():
    assert next_window(date(2025, 9, 8), date(2026, 1, 1), FIRST, 7, 1) == window(date(2025, 9, 7), date(2025, 9, 14))


def test_window_never_reaches_past_today():
    today = date(2025, 9, 10)
    assert next_window(date(2025, 9, 8), today, FIRST, 7, 1) == window(date(2025, 9, 7), date(2025, 9, 11))


def test_caught_up_cursor_rereads_today_for_late_updates():
    today = date(2025, 9, 10)
    assert next_window(date(2025, 9, 11), today, FIRST, 7, 1) == window(today, date(2025, 9, 11))


def test_cursor_moves_to_the_end_of_a_window_that_covers_it():
    assert cursor_after(window(date(2025, 9, 7), date(2025, 9, 14)), date(2025, 9, 8), FIRST) == date(2025, 9, 14)
    assert cursor_after(window(FIRST, date(2025, 9, 8)), None, FIRST) == date(2025, 9, 8)


def test_cursor_stays_for_a_window_after_a_gap_or_behind_it():
    assert cursor_after(window(date(2025, 10, 1), date(2025, 10, 3)), date(2025, 9, 8), FIRST) is None
    assert cursor_after(window(date(2025, 8, 1), date(2025, 8, 3)), date(2025, 9, 8), FIRST) is None
    assert cursor_after(window(date(2025, 9, 5), date(2025, 9, 8)), None, FIRST) is None


def test_a_window_ending_before_the_first_run_date_leaves_a_fresh_cursor_alone():
    assert cursor_after(window(date(2025, 8, 1), date(2025, 8, 8)), None, FIRST) is None
    assert cursor_after(window(date(2025, 8, 25), date(2025, 9, 1)), None, FIRST) is None
    assert cursor_after(window(date(2025, 8, 25), date(2025, 9, 2)), None, FIRST) == date(2025, 9, 2)
