"""PlanLookups: the stored tenders due a portal lookup, claimed for this run, in batches for the LookUpTenders Map,
with the run's range of the portal's schedule.

Due, freshest release first: tenders without a detailed category (new, or left by an earlier run's cap); failed
lookups whose next try has come (30 minutes after the first failure, doubling with each, at most a day); and
tenders the portal did not list, re-checked after notFoundRecheckHours. An enriched tender is never looked up
again, unless a newer release changes its tender number (tender_sync.storage.tenders.ON_CONFLICT_NEWER).

Runs at once share the portal. A run claims the tenders it plans, until StoreLookups stores them or the claim
expires (a run that crashed strands nothing): another run plans around them. And each run is given the next free
range of the portal's one schedule, as long as its lookups take at the portal's rate: ranges never overlap, so
runs at once together stay within portalRequestsPerSecond."""

import math
from datetime import date, datetime, timedelta, tzinfo

import psycopg

from tender_sync.models.jobs import EnrichTodayJob, Job, SingleTenderJob
from tender_sync.models.lookups import LookupBatch, LookupItem, LookupPlan
from tender_sync.settings import LookupSettings
from tender_sync.storage.artifacts import put_json
from tender_sync.storage.database import one_row

# A tender due a lookup now: no category, and no next try still to come.
DUE_NOW = "enrichment_status <> 'enriched' AND (enrichment_due_at IS NULL OR enrichment_due_at <= now())"


# Due, and claimed by no other run (a claim of this execution's is its own, from a try of this step that failed).
DUE_SQL = f"""
SELECT ocid, tender_number FROM tenders t
 WHERE (({DUE_NOW}) OR (enrichment_status <> 'enriched' AND %(any_time)s))
   AND (%(ocids)s::text[] IS NULL OR ocid = ANY(%(ocids)s))
   AND (%(from)s::timestamptz IS NULL OR release_date >= %(from)s)
   AND (%(to)s::timestamptz IS NULL OR release_date < %(to)s)
   AND NOT EXISTS (SELECT 1 FROM lookup_claims c
                    WHERE c.ocid = t.ocid AND c.expires_at > now() AND c.execution_id <> %(execution)s)
 ORDER BY release_date DESC, ocid
 LIMIT %(cap)s
   FOR UPDATE OF t SKIP LOCKED
"""
CLAIM_SQL = """
INSERT INTO lookup_claims (ocid, execution_id, expires_at) VALUES (%s, %s, %s)
ON CONFLICT (ocid) DO UPDATE SET execution_id = EXCLUDED.execution_id, expires_at = EXCLUDED.expires_at
"""
# The run's range: from when the portal is next free (now, when it is idle), for as long as its lookups take.
RESERVE_SQL = """
INSERT INTO portal_schedule AS s (source, next_free) VALUES (%(source)s, now() + %(length)s)
ON CONFLICT (source) DO UPDATE SET next_free = GREATEST(s.next_free, now()) + %(length)s
RETURNING next_free - %(length)s, next_free
"""
# A claim outlives its run's range by this much: time for StoreLookups to store what was found.
CLAIM_MARGIN = timedelta(minutes=15)
# A run's range is this much longer than its lookups take at the portal's rate, and this much more: for the Map
# to start its children, and for the last lookups to finish.
RANGE_SLACK = 1.5
RANGE_START_UP = timedelta(seconds=15)


def plan_lookups(
    conn: psycopg.Connection, source: str, job: Job, bucket: str, settings: LookupSettings, zone: tzinfo
) -> LookupPlan:
    """The tenders due a lookup, up to the job's cap (released within its window, days in `zone`, for
    enrich-today; its ocids for a single tender), in batches of at most lookup_batch_size, written as the Map's
    items. A few tenders are spread over as many batches as the Map runs at once, so that none waits on another.
    A run that names its tenders (enrich-today, a single tender) does not wait for a failed lookup's next try."""
    within = job.window if isinstance(job, EnrichTodayJob) else None
    ocids = job.ocids if isinstance(job, SingleTenderJob) else None
    rows = conn.execute(
        DUE_SQL,
        {
            "ocids": ocids,
            "any_time": bool(within or ocids),
            "from": _midnight(within.date_from, zone) if within else None,
            "to": _midnight(within.date_to, zone) if within else None,
            "cap": job.maxEnrichment,
            "execution": job.executionId,
        },
    ).fetchall()
    tenders = [LookupItem(ocid=ocid, tenderNumber=number) for ocid, number in rows]
    not_before = not_after = None
    if tenders:
        length = timedelta(seconds=len(tenders) / settings.portal_requests_per_second * RANGE_SLACK) + RANGE_START_UP
        not_before, not_after = one_row(conn.execute(RESERVE_SQL, {"source": source, "length": length}))
        with conn.cursor() as cur:
            cur.executemany(CLAIM_SQL, [(t.ocid, job.executionId, not_after + CLAIM_MARGIN) for t in tenders])
    batch_size = max(1, min(settings.lookup_batch_size, math.ceil(len(tenders) / settings.map_max_concurrency)))
    batches = [
        LookupBatch(
            batch=number,
            tenders=tenders[start : start + batch_size],
            firstLookupAt=not_before
            + timedelta(seconds=(number % settings.map_max_concurrency) / settings.portal_requests_per_second)
            if not_before
            else None,
        )
        for number, start in enumerate(range(0, len(tenders), batch_size))
    ]
    prefix = job.artifacts_prefix
    plan = LookupPlan(
        bucket=bucket,
        itemsKey=f"{prefix}lookups.json",
        resultsPrefix=f"{prefix}looked-up/",
        batches=len(batches),
        tenders=len(tenders),
        notBefore=not_before,
        notAfter=not_after,
    )
    put_json(bucket, plan.itemsKey, [batch.model_dump() for batch in batches])
    return plan


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), zone)
