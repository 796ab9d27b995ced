"""Store a window's tenders: one transaction, COPY into a temporary table, then one upsert in
which a newer release replaces an older one, never the reverse, and unchanged rows are left alone."""
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

COLUMNS = (
    "ocid", "release_id", "release_date", "tender_number", "title", "description", "status",
    "main_category", "detailed_category", "province", "buyer_name", "close_date", "value_amount",
    "currency", "enrichment_status", "enrichment_error", "enriched_at", "details", "raw",
)
JSON_COLUMNS = {"details", "raw"}
RELEASE_COLUMNS = [c for c in COLUMNS if c not in {
    "detailed_category", "province", "details", "enrichment_status", "enrichment_error", "enriched_at"}]

# A window may hold several releases of one ocid: only the newest goes in.
NEWEST_PER_OCID = "DISTINCT ON (ocid) {} FROM incoming ORDER BY ocid, release_date DESC, release_id DESC"
STATUS_COUNTS_SQL = (
    f"SELECT enrichment_status, count(*) FROM (SELECT {NEWEST_PER_OCID.format('enrichment_status')}) newest GROUP BY 1"
)

# A newer release replaces an older one, never the reverse; rows it does not change are left alone.
# (Also what `make bench` compares against, one row at a time.)
ON_CONFLICT_NEWER = f"""
ON CONFLICT (ocid) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in RELEASE_COLUMNS if c != "ocid")},
    detailed_category = COALESCE(EXCLUDED.detailed_category, tenders.detailed_category),
    province = COALESCE(EXCLUDED.province, tenders.province),
    details = COALESCE(EXCLUDED.details, tenders.details),
    enrichment_status = EXCLUDED.enrichment_status,
    enrichment_error = EXCLUDED.enrichment_error,
    enriched_at = COALESCE(EXCLUDED.enriched_at, tenders.enriched_at),
    updated_at = now()
WHERE EXCLUDED.release_date > tenders.release_date
   OR (EXCLUDED.release_date = tenders.release_date AND EXCLUDED.release_id > tenders.release_id)
   -- The same release again only fills in an enrichment that was missing (a tender the portal did not
   -- find before may be there now).
   OR (EXCLUDED.release_id = tenders.release_id
       AND ((tenders.enrichment_status IN ('pending', 'failed') AND EXCLUDED.enrichment_status <> 'pending')
            OR (tenders.enrichment_status = 'not_found' AND EXCLUDED.enrichment_status = 'enriched'))
       AND (EXCLUDED.enrichment_status, EXCLUDED.enrichment_error, EXCLUDED.detailed_category)
           IS DISTINCT FROM (tenders.enrichment_status, tenders.enrichment_error, tenders.detailed_category))
"""

UPSERT_SQL = f"""
INSERT INTO tenders ({", ".join(COLUMNS)})
SELECT {NEWEST_PER_OCID.format(", ".join(COLUMNS))}
{ON_CONFLICT_NEWER}
RETURNING (xmax = 0) AS inserted
"""

QUARANTINE_SQL = """
INSERT INTO quarantine (source, ocid, reason, payload) VALUES (%s, %s, %s, %s)
ON CONFLICT (source, md5(payload::text))
DO UPDATE SET last_seen_at = now(), seen_count = quarantine.seen_count + 1, reason = EXCLUDED.reason
"""


def merge_enrichment(tender: dict[str, Any], looked_up: bool, result: dict[str, Any] | None) -> dict[str, Any]:
    """The tender with what its enrichment found. A lookup that never reported back failed."""
    if tender["enrichment_status"] == "enriched" or not looked_up:
        return tender
    if result is None:
        return {**tender, "enrichment_status": "failed", "enrichment_error": "enrichment did not complete after its retries"}
    merged = {**tender, "enrichment_status": result["status"], "enrichment_error": result.get("error")}
    if result["status"] == "enriched":
        merged.update(
            detailed_category=result.get("detailed_category"),
            province=result.get("province") or tender.get("province"),
            details=result.get("details"),
            enriched_at=datetime.now(timezone.utc).isoformat(),
        )
    return merged


def copy_row(tender: dict[str, Any]) -> tuple:
    """The tender's values in COLUMNS order, as COPY (or an INSERT) takes them."""
    return tuple(
        Jsonb(tender.get(c)) if c in JSON_COLUMNS and tender.get(c) is not None else tender.get(c) for c in COLUMNS
    )


def store_tenders(conn: psycopg.Connection, tenders: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Upsert the tenders (already merged with their enrichment) and count what happened."""
    conn.execute("CREATE TEMP TABLE incoming (LIKE tenders INCLUDING DEFAULTS) ON COMMIT DROP")
    with conn.cursor() as cur:
        with cur.copy(f"COPY incoming ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for tender in tenders:
                copy.write_row(copy_row(tender))
        statuses = dict(cur.execute(STATUS_COUNTS_SQL).fetchall())
        outcomes = [row[0] for row in cur.execute(UPSERT_SQL).fetchall()]
    unique = sum(statuses.values())
    inserted = sum(outcomes)
    return {
        "tenders": unique,
        "inserted": inserted,
        "updated": len(outcomes) - inserted,
        "unchanged": unique - len(outcomes),
        "upserted": len(outcomes),
        "enriched": statuses.get("enriched", 0),
        "notFound": statuses.get("not_found", 0),
        "enrichmentFailed": statuses.get("failed", 0),
        "pending": statuses.get("pending", 0),
    }


def store_quarantined(conn: psycopg.Connection, source: str, entries: Iterable[dict[str, Any]]) -> int:
    count = 0
    for entry in entries:
        conn.execute(QUARANTINE_SQL, (source, entry.get("ocid"), entry["reason"], Jsonb(entry.get("release"))))
        count += 1
    return count
