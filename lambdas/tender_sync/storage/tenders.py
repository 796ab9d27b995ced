"""Store a window's tenders: one transaction, COPY into a temporary table, then one upsert in
which a newer release replaces an older one, never the reverse, and unchanged rows are left alone.
A row PostgreSQL refuses is quarantined and the rest stored (store_tenders)."""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tender_sync.changes.events import Change
from tender_sync.storage.database import describe_database_error, one_row

COLUMNS = (
    "ocid",
    "release_id",
    "release_date",
    "tender_number",
    "title",
    "description",
    "status",
    "main_category",
    "detailed_category",
    "province",
    "buyer_name",
    "close_date",
    "value_amount",
    "currency",
    "enrichment_status",
    "enrichment_error",
    "enriched_at",
    "details",
    "raw",
)
JSON_COLUMNS = {"details", "raw"}
RELEASE_COLUMNS = [
    c
    for c in COLUMNS
    if c not in {"detailed_category", "province", "details", "enrichment_status", "enrichment_error", "enriched_at"}
]

# The errors of a value PostgreSQL refuses (SQLSTATE classes 22 and 23, or psycopg's own check before sending).
REFUSED_VALUE = (psycopg.DataError, psycopg.IntegrityError)
# The rows COPYed under one savepoint, and held in memory until it is released.
COPY_CHUNK_ROWS = 2_000
# More refused rows than this is not a few poisoned releases but something systematic (a constraint, a trigger):
# the batch then fails with the error, rather than quarantining the window row by row.
MAX_REFUSED_ROWS = 100

COPY_SQL = f"COPY incoming ({', '.join(COLUMNS)}) FROM STDIN"
# A window may hold several releases of one ocid: only the newest goes in.
NEWEST_PER_OCID = "DISTINCT ON (ocid) {} FROM incoming ORDER BY ocid, release_date DESC, release_id DESC"
STATUS_COUNTS_SQL = (
    f"SELECT enrichment_status, count(*) FROM (SELECT {NEWEST_PER_OCID.format('enrichment_status')}) newest GROUP BY 1"
)

# A newer release replaces an older one, never the reverse; rows it does not change are left alone. A newer
# release that carries its category (the newer feed shape) enriches the tender; one without keeps what the portal
# gave, unless its tender number changed: then it is due a lookup again (tender_sync.backlog).
# (Also what `make bench` compares against, one row at a time.)
RENUMBERED = "EXCLUDED.tender_number IS DISTINCT FROM tenders.tender_number"
ON_CONFLICT_NEWER = f"""
ON CONFLICT (ocid) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in RELEASE_COLUMNS if c != "ocid")},
    detailed_category = COALESCE(EXCLUDED.detailed_category, tenders.detailed_category),
    province = COALESCE(EXCLUDED.province, tenders.province),
    details = COALESCE(EXCLUDED.details, tenders.details),
    enrichment_status = CASE WHEN EXCLUDED.enrichment_status = 'enriched' THEN 'enriched'
                             WHEN {RENUMBERED} THEN 'pending' ELSE tenders.enrichment_status END,
    enrichment_error = CASE WHEN EXCLUDED.enrichment_status = 'enriched' OR {RENUMBERED} THEN NULL
                            ELSE tenders.enrichment_error END,
    enrichment_attempts = CASE WHEN EXCLUDED.enrichment_status = 'enriched' OR {RENUMBERED} THEN 0
                               ELSE tenders.enrichment_attempts END,
    enrichment_due_at = CASE WHEN EXCLUDED.enrichment_status = 'enriched' OR {RENUMBERED} THEN NULL
                             ELSE tenders.enrichment_due_at END,
    enriched_at = CASE WHEN EXCLUDED.enrichment_status = 'enriched' AND tenders.enrichment_status <> 'enriched'
                       THEN now() ELSE tenders.enriched_at END,
    updated_at = now()
WHERE EXCLUDED.release_date > tenders.release_date
   OR (EXCLUDED.release_date = tenders.release_date AND EXCLUDED.release_id > tenders.release_id)
"""

UPSERT_SQL = f"""
INSERT INTO tenders ({", ".join(COLUMNS)})
SELECT {NEWEST_PER_OCID.format(", ".join(COLUMNS))}
{ON_CONFLICT_NEWER}
RETURNING ocid, (xmax = 0) AS inserted
"""

# The fallback's upsert, a range at a time: the newest release of each ocid, numbered in ocid order.
NEWEST_SQL = f"""
CREATE TEMP TABLE newest ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY ocid) AS n, * FROM (SELECT {NEWEST_PER_OCID.format("*")}) releases
"""
UPSERT_RANGE_SQL = f"""
INSERT INTO tenders ({", ".join(COLUMNS)})
SELECT {", ".join(COLUMNS)} FROM newest WHERE n BETWEEN %s AND %s
{ON_CONFLICT_NEWER}
RETURNING ocid, (xmax = 0) AS inserted
"""

# A release quarantined again is counted, not stored twice.
ON_CONFLICT_SEEN_AGAIN = """
ON CONFLICT (source, md5(payload::text))
DO UPDATE SET last_seen_at = now(), seen_count = quarantine.seen_count + 1, reason = EXCLUDED.reason
"""
QUARANTINE_SQL = f"""
INSERT INTO quarantine (source, ocid, reason, payload) VALUES (%s, %s, %s, %s)
{ON_CONFLICT_SEEN_AGAIN}
"""
QUARANTINE_NEWEST_SQL = f"""
INSERT INTO quarantine (source, ocid, reason, payload) SELECT %s, ocid, %s, raw FROM newest WHERE n = %s
{ON_CONFLICT_SEEN_AGAIN}
RETURNING ocid
"""


def copy_row(tender: dict[str, Any]) -> tuple[Any, ...]:
    """The tender's values in COLUMNS order, as COPY (or an INSERT) takes them."""
    return tuple(
        Jsonb(tender.get(c)) if c in JSON_COLUMNS and tender.get(c) is not None else tender.get(c) for c in COLUMNS
    )


@dataclass(frozen=True)
class StoredTenders:
    """What storing a window did: its counts, and each tender it inserted or updated (new or updated, by ocid)."""

    counts: dict[str, int]
    changed: dict[str, Change]


def store_tenders(conn: psycopg.Connection, source: str, tenders: Iterable[dict[str, Any]]) -> StoredTenders:
    """Upsert the tenders and count what happened: inserted, updated and unchanged rows, and the window's tenders
    whose release carries its category (enriched) or not (pending, for the backlog's lookups).

    The tenders are streamed: COPYed into `incoming` a chunk of COPY_CHUNK_ROWS at a time, each chunk under a
    savepoint, then upserted in one statement under another. A row PostgreSQL refuses (REFUSED_VALUE: a NUL in
    text, a \\u0000 in jsonb, a number numeric cannot hold, a constraint or trigger refusing it) fails its whole
    statement, so then the failed part is halved, each half retried under its own savepoint, down to the single
    rows that fail: each is quarantined with the error's one line (describe_database_error), and all the others
    are stored. A chunk that fails COPY is halved in memory: at most one chunk of rows is ever held. An upsert
    that fails is halved over `newest` (the newest release of each ocid, numbered): nothing more is held.
    Finding k bad rows among n takes about 2k·log2(n) statements; past MAX_REFUSED_ROWS the error is raised."""
    conn.execute("CREATE TEMP TABLE incoming (LIKE tenders INCLUDING DEFAULTS) ON COMMIT DROP")
    refused = _Refused(source)
    rows = iter(tenders)
    while chunk := list(islice(rows, COPY_CHUNK_ROWS)):
        _copy(conn, chunk, refused)
    try:
        with conn.transaction():
            outcomes = conn.execute(UPSERT_SQL).fetchall()
    except REFUSED_VALUE:
        outcomes = _upsert_range(conn, 1, conn.execute(NEWEST_SQL).rowcount, refused)
    statuses: dict[str, int] = dict(conn.execute(STATUS_COUNTS_SQL).fetchall())
    unique = sum(statuses.values())
    changed: dict[str, Change] = {ocid: "new" if inserted else "updated" for ocid, inserted in outcomes}
    inserted = sum(1 for change in changed.values() if change == "new")
    counts = {
        "tenders": unique,
        "inserted": inserted,
        "updated": len(changed) - inserted,
        "unchanged": unique - len(changed),
        "upserted": len(changed),
        "enriched": statuses.get("enriched", 0),
        "pending": statuses.get("pending", 0),
        "quarantined": refused.count,
    }
    return StoredTenders(counts=counts, changed=changed)


class _Refused:
    """Counts the rows PostgreSQL refused, and raises the error once there are too many (MAX_REFUSED_ROWS)."""

    def __init__(self, source: str) -> None:
        self.source, self.count = source, 0

    def add(self, error: psycopg.Error) -> str:
        """Count one more refused row, and give the reason to quarantine it with."""
        if self.count == MAX_REFUSED_ROWS:
            raise error
        self.count += 1
        return describe_database_error(error)


def _copy(conn: psycopg.Connection, tenders: list[dict[str, Any]], refused: _Refused) -> None:
    """COPY the tenders into incoming; those PostgreSQL refuses, found by halving, are quarantined."""
    try:
        with conn.transaction(), conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
            for tender in tenders:
                copy.write_row(copy_row(tender))
    except REFUSED_VALUE as error:
        if len(tenders) == 1:
            _quarantine(conn, refused.source, tenders[0].get("ocid"), refused.add(error), tenders[0].get("raw"))
            return
        half = len(tenders) // 2
        _copy(conn, tenders[:half], refused)
        _copy(conn, tenders[half:], refused)


def _upsert_range(conn: psycopg.Connection, first: int, last: int, refused: _Refused) -> list[tuple[str, bool]]:
    """Upsert rows first..last of newest (each ocid, and whether it was inserted); those refused, found by
    halving, are quarantined and left out of the counts."""
    try:
        with conn.transaction():
            return conn.execute(UPSERT_RANGE_SQL, (first, last)).fetchall()
    except REFUSED_VALUE as error:
        if first == last:
            [ocid] = one_row(conn.execute(QUARANTINE_NEWEST_SQL, (refused.source, refused.add(error), first)))
            conn.execute("DELETE FROM incoming WHERE ocid = %s", (ocid,))
            return []
        middle = (first + last) // 2
        return _upsert_range(conn, first, middle, refused) + _upsert_range(conn, middle + 1, last, refused)


def store_quarantined(conn: psycopg.Connection, source: str, entries: Iterable[dict[str, Any]]) -> int:
    count = 0
    for entry in entries:
        _quarantine(conn, source, entry.get("ocid"), entry["reason"], entry.get("release"))
        count += 1
    return count


def _quarantine(conn: psycopg.Connection, source: str, ocid: str | None, reason: str, release: Any) -> None:
    """One release into quarantine. A release jsonb refuses as it is (a \\u0000, a NaN) is kept as its JSON
    text, a jsonb string, which jsonb always takes: the quarantine itself never fails on a value."""
    try:
        with conn.transaction():
            conn.execute(QUARANTINE_SQL, (source, ocid, reason, Jsonb(release)))
    except psycopg.DataError:
        conn.execute(QUARANTINE_SQL, (source, ocid, reason, Jsonb(json.dumps(release, default=str))))
