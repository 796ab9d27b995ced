"""What the CLI's commands print: a timeline of states, runs from job_log, the sync state, an execution's change
events, the alert subscriptions; as plain-text tables."""

from datetime import datetime
from typing import Any, TextIO

import psycopg
from psycopg.rows import dict_row

from tender_sync.alerts.models import Subscription
from tender_sync.changes import outbox
from tender_sync.changes.events import DETAIL_TYPE

RUNS_SQL = """
SELECT id, workflow, status, window_from, window_to, fetched, enriched, enrichment_failed, upserted, started_at,
       extract(epoch FROM finished_at - started_at) AS seconds, execution_id, error
  FROM job_log {where} ORDER BY id DESC LIMIT %s
"""


def timeline_rows(history: list[dict[str, Any]]) -> list[list[str]]:
    """One row per state entered: its name, when it was entered and exited, how long it took. A state entered
    again (a loop) gets a row each time; a failure gets its own row, with its error."""
    rows: list[list[str]] = []
    open_rows: dict[str, list[tuple[list[str], datetime]]] = {}
    for event in history:
        at = _timestamp(event["timestamp"])
        entered, exited = event.get("stateEnteredEventDetails"), event.get("stateExitedEventDetails")
        if entered:
            row = [str(len(rows) + 1), entered["name"], _clock(at), "", ""]
            rows.append(row)
            open_rows.setdefault(entered["name"], []).append((row, at))
        elif exited and open_rows.get(exited["name"]):
            row, entered_at = open_rows[exited["name"]].pop()
            row[3], row[4] = _clock(at), f"{(at - entered_at).total_seconds():.3f} s"
        elif event["type"].endswith(("Failed", "TimedOut", "Aborted")):
            details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}
            cause = " ".join(str(details.get("cause") or "").split())[:100]
            rows.append(
                [str(len(rows) + 1), f"{event['type']}: {details.get('error', '')} {cause}".strip(), _clock(at), "", ""]
            )
    return rows


def print_timeline(history: list[dict[str, Any]], out: TextIO) -> None:
    started = _timestamp(history[0]["timestamp"])
    ended = _timestamp(history[-1]["timestamp"])
    print(
        f"{history[-1]['type']} after {(ended - started).total_seconds():.3f} s ({len(history)} history events)",
        file=out,
    )
    print(table(["#", "state", "entered", "exited", "duration"], timeline_rows(history)), file=out)


def print_runs(conn: psycopg.Connection[Any], limit: int, workflow: str | None, out: TextIO) -> None:
    where, params = ("WHERE workflow = %s", [workflow]) if workflow else ("", [])
    rows = conn.cursor(row_factory=dict_row).execute(RUNS_SQL.format(where=where), [*params, limit]).fetchall()
    print(
        table(
            [
                "id",
                "workflow",
                "status",
                "window",
                "fetched",
                "enriched",
                "failed",
                "upserted",
                "started (UTC)",
                "seconds",
                "execution",
                "error",
            ],
            [
                [
                    row["id"],
                    row["workflow"],
                    row["status"],
                    f"{row['window_from']} .. {row['window_to']}" if row["window_from"] else "",
                    _number(row["fetched"]),
                    _number(row["enriched"]),
                    _number(row["enrichment_failed"]),
                    _number(row["upserted"]),
                    f"{row['started_at']:%Y-%m-%d %H:%M:%S}",
                    f"{row['seconds']:.1f}" if row["seconds"] is not None else "",
                    (row["execution_id"] or "").rsplit(":", 1)[-1],
                    _shorten(row["error"]),
                ]
                for row in rows
            ],
        ),
        file=out,
    )


# An execution's events, by its ARN or by its name (the ARN's last part).
EVENTS_SQL = """
SELECT * FROM change_events
 WHERE execution_id = %(execution)s OR execution_id LIKE '%%:' || %(execution)s
 ORDER BY recorded_at, id
"""


# Whether job_log knows the execution, by its ARN or its name.
KNOWN_SQL = """
SELECT 1 FROM job_log WHERE execution_id = %(execution)s OR execution_id LIKE '%%:' || %(execution)s LIMIT 1
"""


def print_changes(conn: psycopg.Connection[Any], execution: str, out: TextIO) -> bool:
    """The execution's change events and their changes; False, printing nothing, when there is no such run."""
    events = conn.cursor(row_factory=dict_row).execute(EVENTS_SQL, {"execution": execution}).fetchall()
    if not events:
        if conn.execute(KNOWN_SQL, {"execution": execution}).fetchone() is None:
            return False
        print(f"no changes recorded by execution {execution}", file=out)
    for event in events:
        window = f"{event['window_from']} .. {event['window_to']}" if event["window_from"] else "no window"
        sent = (
            f"sent {event['sent_at']:%Y-%m-%d %H:%M:%S} UTC"
            + ("" if event["sent_by"] == event["execution_id"] else f" by {event['sent_by'].rsplit(':', 1)[-1]}")
            if event["sent_at"]
            else "not sent yet: a later run sends it"
        )
        print(f"{DETAIL_TYPE} {event['id']}\n  {event['workflow']}, {window}, {sent}", file=out)
        print(
            table(
                ["change", "ocid", "release date", "title", "buyer", "category", "province", "closes"],
                [
                    [
                        line.change,
                        line.ocid,
                        f"{line.releaseDate:%Y-%m-%d}",
                        _shorten(line.title, 40),
                        _shorten(line.buyer, 30),
                        line.detailedCategory or "",
                        line.province or "",
                        f"{line.closeDate:%Y-%m-%d}" if line.closeDate else "",
                    ]
                    for line in outbox.lines(conn, event["id"])
                ],
            ),
            file=out,
        )
    return True


def print_state(conn: psycopg.Connection[Any], out: TextIO) -> None:
    cursor = conn.cursor(row_factory=dict_row)
    states = cursor.execute("SELECT * FROM sync_state ORDER BY source").fetchall()
    print(
        table(
            ["source", "cursor", "lease holder", "lease expires (UTC)", "updated (UTC)"],
            [
                [
                    row["source"],
                    row["cursor"] or "",
                    (row["lease_holder"] or "").rsplit(":", 1)[-1],
                    f"{row['lease_expires_at']:%Y-%m-%d %H:%M:%S}" if row["lease_expires_at"] else "",
                    f"{row['updated_at']:%Y-%m-%d %H:%M:%S}",
                ]
                for row in states
            ],
        ),
        file=out,
    )
    backfills = cursor.execute("SELECT * FROM backfill_progress ORDER BY updated_at DESC LIMIT 10").fetchall()
    if backfills:
        print("\nbackfills:", file=out)
        print(
            table(
                ["range", "window days", "done to", "completed (UTC)", "execution"],
                [
                    [
                        f"{row['range_from']} .. {row['range_to']}",
                        row["window_days"],
                        row["done_to"],
                        f"{row['completed_at']:%Y-%m-%d %H:%M:%S}" if row["completed_at"] else "not yet",
                        row["execution_id"].rsplit(":", 1)[-1],
                    ]
                    for row in backfills
                ],
            ),
            file=out,
        )


def print_subscriptions(subscriptions: list[Subscription], out: TextIO) -> None:
    """Each subscription, its filters, and whether it is paused and why; never its signing secret."""
    print(
        table(
            ["id", "channel", "address", "sends", "filters", "created (UTC)", "paused"],
            [
                [
                    sub.id,
                    sub.channel,
                    sub.address,
                    sub.frequency + (", updates" if sub.updates else ""),
                    filters_text(sub),
                    f"{sub.created_at:%Y-%m-%d %H:%M}",
                    f"{sub.paused_at:%Y-%m-%d %H:%M}: {sub.paused_reason}" if sub.paused_at else "",
                ]
                for sub in subscriptions
            ],
        ),
        file=out,
    )


def filters_text(subscription: Subscription) -> str:
    """A subscription's filters in one line, as `alerts add` takes them; `everything` when it has none."""
    filters = subscription.filters
    parts = [
        *(f"category={value!r}" for value in filters.categories),
        *(f"province={value!r}" for value in filters.provinces),
        *(f"buyer={value!r}" for value in filters.buyers),
        *([f"query={filters.query!r}"] if filters.query is not None else []),
        *([f"min-value={filters.min_value}"] if filters.min_value is not None else []),
    ]
    return " ".join(parts) or "everything"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(value) for value in row] for row in rows]
    widths = [max(len(text) for text in column) for column in zip(headers, *cells, strict=True)]
    lines = [headers, ["-" * width for width in widths], *cells]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _timestamp(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S.%f")[:-3]


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _shorten(text: str | None, width: int = 70) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 3] + "..."
