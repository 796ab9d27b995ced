"""Change events, as an outbox: each stored window tells the product what changed, for its alerts.

What a run changes (the tenders its window inserted or updated, and those its lookups enriched) is recorded in the
transaction that stores it, as one event per window (record). After the lookups, PrepareChanges writes each unsent
event's changes to S3 as JSON lines and gives the state machine the events' details (prepare), which it sends with
EventBridge's PutEvents; RecordPublished then marks those sent (mark_sent). An event that could not be sent stays
unsent, and a later run sends it: every change is announced at least once, and a repeated one carries the same
id."""

from collections.abc import Iterator

import psycopg
from psycopg.rows import tuple_row

from tender_sync.changes.events import (
    DETAIL_TYPE,
    EVENT_SOURCE,
    Change,
    ChangeCounts,
    ChangesObject,
    TenderChange,
    TendersChanged,
    ToPublish,
)
from tender_sync.models.jobs import Job, SingleTenderJob, Window
from tender_sync.storage.artifacts import JsonLinesWriter, run_prefix
from tender_sync.storage.database import one_row

# The most events one run sends, oldest first: a backlog of late ones drains this many a run.
EVENTS_PER_RUN = 10
# What the event of a single-tender run of several ocids covers, in its id and its changes object's name.
SEVERAL_TENDERS = "tenders"


# How long a sent event is kept, for `make cli changes` and for looking back (its changes object expires
# sooner, with the run's other artifacts); cleanup forgets it after.
SENT_EVENTS_KEPT_DAYS = 30

RECORD_EVENT_SQL = """
INSERT INTO change_events (id, source, workflow, execution_id, window_from, window_to, changes_key)
VALUES (%(id)s, %(source)s, %(workflow)s, %(execution)s, %(from)s, %(to)s, %(key)s)
ON CONFLICT (id) DO NOTHING
"""


# A tender announced once per event, by its first change in the run.
RECORD_CHANGE_SQL = "INSERT INTO tender_changes (event_id, ocid, change) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"


UNSENT_SQL = """
SELECT e.id, e.workflow, e.execution_id, e.window_from, e.window_to, e.changes_key, e.recorded_at,
       count(*) FILTER (WHERE c.change = 'new'),
       count(*) FILTER (WHERE c.change = 'updated'),
       count(*) FILTER (WHERE c.change = 'enriched')
  FROM change_events e JOIN tender_changes c ON c.event_id = e.id
 WHERE e.source = %s AND e.sent_at IS NULL
 GROUP BY e.id
 ORDER BY e.recorded_at, e.id
 LIMIT %s
"""


LINES_SQL = """
SELECT c.ocid, c.change, t.release_date, t.title, t.buyer_name, t.detailed_category, t.province, t.close_date
  FROM tender_changes c JOIN tenders t USING (ocid)
 WHERE c.event_id = %s
 ORDER BY c.ocid
"""


# Late: not sent by the run that recorded it. Another run's event still to be sent by that run is not late.
LATE_SQL = """
SELECT count(*) FROM change_events
 WHERE source = %(source)s AND sent_at IS NULL
   AND (execution_id = %(execution)s OR recorded_at < (SELECT started_at FROM job_log WHERE id = %(job)s))
"""


def event_id(job: Job) -> str:
    """What consumers deduplicate on: the execution and its window (a single tender's: its ocid, or `tenders` for a
    run of several)."""
    return f"{job.executionId}/{_scope(job)}"


def _scope(job: Job) -> str:
    """What the job's event covers: its window, from/to (a single tender's: its ocid; a run of several tenders:
    SEVERAL_TENDERS, as its execution names which)."""
    if isinstance(job, SingleTenderJob):
        return job.ocids[0] if len(job.ocids) == 1 else SEVERAL_TENDERS
    if job.window is None:
        raise ValueError(f"a {job.workflow} job without a window records no changes")
    return f"{job.window.date_from.isoformat()}/{job.window.date_to.isoformat()}"


def record(conn: psycopg.Connection, source: str, job: Job, changed: dict[str, Change]) -> None:
    """The changes (by ocid) into the job's event for its window, in the caller's transaction; an event is made
    by its first change, so a run that changed nothing has none. A tender already in the event keeps its first
    change (a new tender then enriched is new)."""
    if not changed:
        return
    key = event_id(job)
    window = None if isinstance(job, SingleTenderJob) else job.window
    conn.execute(
        RECORD_EVENT_SQL,
        {
            "id": key,
            "source": source,
            "workflow": job.workflow,
            "execution": job.executionId,
            "from": window.date_from if window else None,
            "to": window.date_to if window else None,
            "key": f"{run_prefix(job.executionId)}changes/{_scope(job).replace('/', '_')}.jsonl",
        },
    )
    with conn.cursor() as cur:
        cur.executemany(RECORD_CHANGE_SQL, [(key, ocid, change) for ocid, change in changed.items()])


def prepare(conn: psycopg.Connection, source: str, bucket: str, bus_name: str) -> ToPublish:
    """The source's unsent events, oldest first (up to EVENTS_PER_RUN), each with its changes object written, as
    PutEvents entries for the bus."""
    details = unsent(conn, source, bucket)
    return ToPublish(
        count=len(details),
        entries=[
            {
                "EventBusName": bus_name,
                "Source": EVENT_SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": detail.model_dump(mode="json"),
            }
            for detail in details
        ],
    )


def unsent(conn: psycopg.Connection, source: str, bucket: str) -> list[TendersChanged]:
    """The source's unsent events, oldest first (up to EVENTS_PER_RUN), each with its changes object written."""
    details = []
    for (
        key,
        workflow,
        execution_id,
        window_from,
        window_to,
        changes_key,
        recorded_at,
        new,
        updated,
        enriched,
    ) in conn.execute(UNSENT_SQL, (source, EVENTS_PER_RUN)).fetchall():
        writer = JsonLinesWriter(bucket, changes_key)
        for line in lines(conn, key):
            writer.write(line.model_dump(mode="json"))
        writer.close()
        detail = TendersChanged(
            id=key,
            source=source,
            workflow=workflow,
            executionId=execution_id,
            window=Window(date_from=window_from, date_to=window_to) if window_from else None,
            recordedAt=recorded_at,
            counts=ChangeCounts(new=new, updated=updated, enriched=enriched),
            changes=ChangesObject(bucket=bucket, key=changes_key, tenders=writer.count),
        )
        details.append(detail)
    return details


def lines(conn: psycopg.Connection, key: str) -> Iterator[TenderChange]:
    """An event's changes, each tender as it is stored now, streamed from the database."""
    with conn.cursor(name="tender_changes", row_factory=tuple_row) as cur:
        cur.execute(LINES_SQL, (key,))
        for ocid, change, release_date, title, buyer, category, province, close_date in cur:
            yield TenderChange(
                ocid=ocid,
                change=change,
                releaseDate=release_date,
                title=title,
                buyer=buyer,
                detailedCategory=category,
                province=province,
                closeDate=close_date,
            )


def mark_sent(conn: psycopg.Connection, execution_id: str, sent: list[str]) -> int:
    """The events EventBridge took, marked sent by this execution. Returns the tender changes they announced."""
    (changes,) = one_row(
        conn.execute(
            """WITH sent AS (
               UPDATE change_events SET sent_at = now(), sent_by = %s WHERE id = ANY(%s) AND sent_at IS NULL
               RETURNING id)
           SELECT count(*) FROM tender_changes WHERE event_id IN (SELECT id FROM sent)""",
            (execution_id, sent),
        )
    )
    return int(changes)


def late(conn: psycopg.Connection, source: str, execution_id: str, job_id: int | None) -> int:
    """Events not sent by the run that recorded them: this run's, and any earlier run's still unsent."""
    (count,) = one_row(conn.execute(LATE_SQL, {"source": source, "execution": execution_id, "job": job_id}))
    return int(count)


def forget_sent(conn: psycopg.Connection) -> int:
    """Events sent more than SENT_EVENTS_KEPT_DAYS ago, and their changes, deleted. Returns how many."""
    return conn.execute(
        "DELETE FROM change_events WHERE sent_at < now() - make_interval(days => %s)", (SENT_EVENTS_KEPT_DAYS,)
    ).rowcount
