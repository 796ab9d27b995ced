"""Enrichment as a backlog: which stored tenders are due a portal lookup, in batches for the Map; one batch
looked up at its share of the portal's rate; and what the lookups found, stored back.

Due, freshest release first: tenders without a detailed category (new, or left by an earlier run's cap); failed
lookups whose next try has come (30 minutes after the first failure, doubling with each, at most a day); and
tenders the portal did not list, re-checked after notFoundRecheckHours. An enriched tender is never looked up
again, unless a newer release changes its tender number (upsert.ON_CONFLICT_NEWER)."""
import math
import time
from collections.abc import Callable
from datetime import date, datetime, timezone, tzinfo

import psycopg
from aws_lambda_powertools import Logger
from psycopg.types.json import Jsonb

from tender_sync.artifacts import get_json, put_json, read_all_json
from tender_sync.enrichment import enrich
from tender_sync.errors import BadSourceData, SourceRejected, SourceUnavailable
from tender_sync.jobs import Job
from tender_sync.models import BatchResult, EnrichmentBatch, EnrichmentItem, EnrichmentResult, LookupPlan
from tender_sync.portal_client import PortalClient
from tender_sync.settings import LookupSettings
from tender_sync.storable import storable

logger = Logger(child=True)

# A tender due a lookup now: no category, and no next try still to come.
DUE_NOW = "enrichment_status <> 'enriched' AND (enrichment_due_at IS NULL OR enrichment_due_at <= now())"
DUE_SQL = f"""
SELECT ocid, tender_number FROM tenders
 WHERE (({DUE_NOW}) OR (enrichment_status <> 'enriched' AND %(any_time)s))
   AND (%(ocid)s::text IS NULL OR ocid = %(ocid)s)
   AND (%(from)s::timestamptz IS NULL OR release_date >= %(from)s)
   AND (%(to)s::timestamptz IS NULL OR release_date < %(to)s)
 ORDER BY release_date DESC, ocid
 LIMIT %(cap)s
"""
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


def plan_lookups(
    conn: psycopg.Connection, job: Job, bucket: str, settings: LookupSettings, zone: tzinfo
) -> LookupPlan:
    """The tenders due a lookup, up to the job's cap (released within job.lookupsWithin, days in `zone`, for
    enrich-today; its ocid for a single tender), in batches of at most enrich_batch_size, written as the Map's
    items. A few tenders are spread over as many batches as the Map runs at once, so that none waits on another.
    A run that names its tenders (enrich-today, a single tender) does not wait for a failed lookup's next try."""
    within = job.lookupsWithin
    rows = conn.execute(
        DUE_SQL,
        {
            "ocid": job.ocid,
            "any_time": bool(within or job.ocid),
            "from": _midnight(within.date_from, zone) if within else None,
            "to": _midnight(within.date_to, zone) if within else None,
            "cap": job.maxEnrichment,
        },
    ).fetchall()
    tenders = [EnrichmentItem(ocid=ocid, tenderNumber=number) for ocid, number in rows]
    batch_size = max(1, min(settings.enrich_batch_size, math.ceil(len(tenders) / settings.map_max_concurrency)))
    batches = [
        EnrichmentBatch(batch=number, tenders=tenders[start : start + batch_size])
        for number, start in enumerate(range(0, len(tenders), batch_size))
    ]
    prefix = job.artifacts_prefix
    plan = LookupPlan(
        bucket=bucket, itemsKey=f"{prefix}lookups.json", resultsPrefix=f"{prefix}looked-up/",
        batches=len(batches), tenders=len(tenders),
    )
    put_json(bucket, plan.itemsKey, [batch.model_dump() for batch in batches])
    return plan


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), zone)


def look_up_batch(
    batch: EnrichmentBatch, portal: PortalClient, seconds_between: float, seconds_left: Callable[[], float]
) -> BatchResult:
    """Each tender of the batch looked up in turn, one lookup started at most every seconds_between (this child's
    share of the portal's rate), twice as far apart after each 429. One tender's failure does not fail the
    others; the tenders left when the time runs out get no result, and stay due for the next run."""
    started = datetime.now(timezone.utc)
    results, lookups = [], 0
    throttled_before = throttled = portal.throttled
    next_start = time.monotonic()
    for item in batch.tenders:
        time.sleep(max(0.0, next_start - time.monotonic()))
        if seconds_left() < 1:
            break
        lookup_started = time.monotonic()
        try:
            # What the portal answered, with what PostgreSQL refuses cleaned, as a release's is.
            cleaned, _ = storable(enrich(item, portal).model_dump(mode="json"))
            results.append(EnrichmentResult.model_validate(cleaned))
        except (SourceUnavailable, SourceRejected, BadSourceData) as error:
            results.append(EnrichmentResult(ocid=item.ocid, status="failed", error=f"{type(error).__name__}: {error}"))
        lookups += 1
        if portal.throttled > throttled:
            seconds_between *= 2
            throttled = portal.throttled
        next_start = lookup_started + seconds_between
    # Each lookup holds its share of the rate for its whole interval, the last one too: so that back to back
    # batches, and the rate seen, stay within it.
    time.sleep(max(0.0, min(next_start - time.monotonic(), seconds_left() - 1)))
    return BatchResult(
        batch=batch.batch, results=results, lookups=lookups, throttled=portal.throttled - throttled_before,
        startedAt=started, finishedAt=datetime.now(timezone.utc),
    )


def failed_batch(batch: EnrichmentBatch, error: str) -> BatchResult:
    """A batch whose lookups failed outright (after their retries): each tender failed, with the error."""
    now = datetime.now(timezone.utc)
    results = [EnrichmentResult(ocid=item.ocid, status="failed", error=error) for item in batch.tenders]
    return BatchResult(batch=batch.batch, results=results, lookups=0, throttled=0, startedAt=now, finishedAt=now)


def result_key(plan_prefix: str, batch: int) -> str:
    return f"{plan_prefix}{batch:06d}.json"


def store_results(conn: psycopg.Connection, plan: LookupPlan, recheck_hours: int) -> tuple[dict[str, float], list[str]]:
    """Every planned tender's lookup stored: what its batch found, or failed when its batch left no result (a
    tender its batch did not reach is left as it was). Returns the counts (the lookups made, the 429s and the
    rate seen, and how many tenders are still due), and the tenders enriched."""
    batches = [EnrichmentBatch.model_validate(batch) for batch in get_json(plan.bucket, plan.itemsKey)]
    found = {result.batch: result for result in map(BatchResult.model_validate, read_all_json(plan.bucket, plan.resultsPrefix))}
    numbers = {item.ocid: item.tenderNumber for batch in batches for item in batch.tenders}
    conn.execute(
        "CREATE TEMP TABLE looked_up (ocid text, tender_number text, status text, detailed_category text,"
        " province text, details jsonb, error text) ON COMMIT DROP"
    )
    with conn.cursor() as cur, cur.copy(f"COPY looked_up ({', '.join(LOOKED_UP_COLUMNS)}) FROM STDIN") as copy:
        for batch in batches:
            result = found.get(batch.batch) or failed_batch(batch, NOT_COMPLETED)
            for looked in result.results:
                copy.write_row((
                    looked.ocid, numbers.get(looked.ocid), looked.status, looked.detailed_category, looked.province,
                    Jsonb(looked.details) if looked.details is not None else None, looked.error,
                ))
    stored = conn.execute(
        STORE_RESULTS_SQL, {"recheck_hours": recheck_hours, "first_retry": FIRST_RETRY_MINUTES}
    ).fetchall()
    statuses = [status for _, status in stored]
    results = list(found.values())
    lookups = sum(result.lookups for result in results)
    seconds = (max(r.finishedAt for r in results) - min(r.startedAt for r in results)).total_seconds() if results else 0
    (still_due,) = conn.execute(STILL_DUE_SQL).fetchone()
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
