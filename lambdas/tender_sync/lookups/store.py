"""StoreLookups: what the batches found, stored back on each tender, with the next try of those that failed."""

import psycopg
from psycopg.types.json import Jsonb

from tender_sync.lookups.batch import failed_batch
from tender_sync.lookups.plan import DUE_NOW
from tender_sync.models.lookups import BatchResult, LookupBatch, LookupPlan
from tender_sync.storage.artifacts import get_json, read_all_json
from tender_sync.storage.database import one_row

NOT_COMPLETED = "enrichment did not complete after its retries"


# Each failure waits twice as long as the one before, from FIRST_RETRY_MINUTES up to a day.
FIRST_RETRY_MINUTES = 30


LOOKED_UP_COLUMNS = ("ocid", "tender_number", "status", "detailed_category", "province", "details", "error")


STORE_RESULTS_SQL = """
UPDATE tenders t SET
    enrichment_status = l.status,
    detailed_category = CASE WHEN l.status = 'enriched' THEN l.detailed_category ELSE t.detailed_category END,
    province = CASE WHEN l.status = 'enriched' THEN COALESCE(l.province, t.province) ELSE t.province END,
    details = CASE WHEN l.status = 'enriched' THEN l.details ELSE t.details END,
    enrichment_error = l.error,
    enrichment_attempts = CASE WHEN l.status = 'enriched' THEN 0 ELSE t.enrichment_attempts + 1 END,
    enrichment_due_at = CASE l.status
        WHEN 'enriched' THEN NULL
        WHEN 'not_found' THEN now() + make_interval(hours => %(recheck_hours)s)
        ELSE now() + LEAST(interval '1 minute' * %(first_retry)s * 2 ^ LEAST(t.enrichment_attempts, 10),
                           interval '1 day')
    END,
    enriched_at = CASE WHEN l.status = 'enriched' THEN now() ELSE t.enriched_at END,
    updated_at = now()
FROM looked_up l
-- A newer release stored meanwhile may have enriched the tender, or changed the number looked up.
WHERE t.ocid = l.ocid AND t.enrichment_status <> 'enriched' AND t.tender_number IS NOT DISTINCT FROM l.tender_number
RETURNING l.ocid, l.status
"""


STILL_DUE_SQL = f"SELECT count(*) FROM tenders WHERE {DUE_NOW}"
RELEASE_CLAIMS_SQL = "DELETE FROM lookup_claims WHERE ocid = ANY(%s) AND execution_id = %s"


def store_results(
    conn: psycopg.Connection, execution_id: str, plan: LookupPlan, recheck_hours: int
) -> tuple[dict[str, float], list[str]]:
    """Every planned tender's lookup stored: what its batch found, or failed when its batch left no result (a
    tender its batch did not reach is left as it was), and the run's claims on them released. Returns the counts
    (the lookups made, the 429s and the rate seen, and how many tenders are still due), and the tenders enriched."""
    batches = [LookupBatch.model_validate(batch) for batch in get_json(plan.bucket, plan.itemsKey)]
    found = {
        result.batch: result
        for result in map(BatchResult.model_validate, read_all_json(plan.bucket, plan.resultsPrefix))
    }
    numbers = {item.ocid: item.tenderNumber for batch in batches for item in batch.tenders}
    conn.execute(
        "CREATE TEMP TABLE looked_up (ocid text, tender_number text, status text, detailed_category text,"
        " province text, details jsonb, error text) ON COMMIT DROP"
    )
    with conn.cursor() as cur, cur.copy(f"COPY looked_up ({', '.join(LOOKED_UP_COLUMNS)}) FROM STDIN") as copy:
        for batch in batches:
            result = found.get(batch.batch) or failed_batch(batch, NOT_COMPLETED)
            for looked in result.results:
                copy.write_row(
                    (
                        looked.ocid,
                        numbers.get(looked.ocid),
                        looked.status,
                        looked.detailed_category,
                        looked.province,
                        Jsonb(looked.details) if looked.details is not None else None,
                        looked.error,
                    )
                )
    stored = conn.execute(
        STORE_RESULTS_SQL, {"recheck_hours": recheck_hours, "first_retry": FIRST_RETRY_MINUTES}
    ).fetchall()
    statuses = [status for _, status in stored]
    results = list(found.values())
    lookups = sum(result.lookups for result in results)
    seconds = (max(r.finishedAt for r in results) - min(r.startedAt for r in results)).total_seconds() if results else 0
    conn.execute(RELEASE_CLAIMS_SQL, (list(numbers), execution_id))
    (still_due,) = one_row(conn.execute(STILL_DUE_SQL))
    counts = {
        "enriched": statuses.count("enriched"),
        "not_found": statuses.count("not_found"),
        "enrichment_failed": statuses.count("failed"),
        "lookups": lookups,
        "throttled": sum(result.throttled for result in results),
        "lookups_per_second": round(lookups / seconds, 2) if seconds > 0 else 0,
        "still_due": still_due,
    }
    return counts, [ocid for ocid, status in stored if status == "enriched"]
