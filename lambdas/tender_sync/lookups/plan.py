"""PlanLookups: the stored tenders due a portal lookup, in batches for the LookUpTenders Map.

Due, freshest release first: tenders without a detailed category (new, or left by an earlier run's cap); failed
lookups whose next try has come (30 minutes after the first failure, doubling with each, at most a day); and
tenders the portal did not list, re-checked after notFoundRecheckHours. An enriched tender is never looked up
again, unless a newer release changes its tender number (tender_sync.storage.tenders.ON_CONFLICT_NEWER)."""

import math
from datetime import date, datetime, tzinfo

import psycopg

from tender_sync.models.jobs import EnrichTodayJob, Job, SingleTenderJob
from tender_sync.models.lookups import LookupBatch, LookupItem, LookupPlan
from tender_sync.settings import LookupSettings
from tender_sync.storage.artifacts import put_json

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


def plan_lookups(
    conn: psycopg.Connection, job: Job, bucket: str, settings: LookupSettings, zone: tzinfo
) -> LookupPlan:
    """The tenders due a lookup, up to the job's cap (released within its window, days in `zone`, for
    enrich-today; its ocid for a single tender), in batches of at most lookup_batch_size, written as the Map's
    items. A few tenders are spread over as many batches as the Map runs at once, so that none waits on another.
    A run that names its tenders (enrich-today, a single tender) does not wait for a failed lookup's next try."""
    within = job.window if isinstance(job, EnrichTodayJob) else None
    ocid = job.ocid if isinstance(job, SingleTenderJob) else None
    rows = conn.execute(
        DUE_SQL,
        {
            "ocid": ocid,
            "any_time": bool(within or ocid),
            "from": _midnight(within.date_from, zone) if within else None,
            "to": _midnight(within.date_to, zone) if within else None,
            "cap": job.maxEnrichment,
        },
    ).fetchall()
    tenders = [LookupItem(ocid=ocid, tenderNumber=number) for ocid, number in rows]
    batch_size = max(1, min(settings.lookup_batch_size, math.ceil(len(tenders) / settings.map_max_concurrency)))
    batches = [
        LookupBatch(batch=number, tenders=tenders[start : start + batch_size])
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
