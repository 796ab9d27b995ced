"""A run's window stored, and its job finished: the work of UpsertTenders and FinishJob for every workflow."""
from typing import Any

import psycopg

from tender_sync import backfill, jobs
from tender_sync.artifacts import get_json, read_all_json, read_json_lines
from tender_sync.fetch import FetchSummary
from tender_sync.settings import SyncSettings
from tender_sync.upsert import merge_enrichment, store_quarantined, store_tenders


def store_window(conn: psycopg.Connection, settings: SyncSettings, job: jobs.Job, fetch: FetchSummary) -> dict[str, int]:
    """In one transaction: the staged tenders merged with their lookups' results, the quarantine, the cursor, and
    the job's record (a backfill's window adds to its job; any other run's one window makes its job a SUCCESS)."""
    looked_up = {item["ocid"] for item in get_json(fetch.bucket, fetch.itemsKey)}
    results = {result["ocid"]: result for result in read_all_json(fetch.bucket, fetch.resultsPrefix)}
    tenders = (
        merge_enrichment(tender, tender["ocid"] in looked_up, results.get(tender["ocid"]))
        for tender in read_json_lines(fetch.bucket, fetch.tendersKey)
    )
    counts = store_tenders(conn, settings.source_name, tenders)
    store_quarantined(conn, settings.source_name, read_json_lines(fetch.bucket, fetch.quarantineKey))
    if job.cursorAfter:
        jobs.advance_cursor(conn, settings.source_name, job.cursorAfter)
    job_counts = jobs.counts_of(fetch.model_dump(), counts)
    if job.backfill:
        backfill.record_window(conn, settings, job, job_counts)
    else:
        jobs.record_stored_window(conn, job, job_counts)
    return counts


def finish_run(
    conn: psycopg.Connection, source: str, job: jobs.Job, fetch: dict[str, Any] | None, upsert: dict[str, Any] | None
) -> jobs.FinishedJob:
    """The job SUCCESS with its counts and the lease released. A window with nothing in it never reached
    UpsertTenders: its cursor moves here. A backfill added up its windows' counts as it stored them."""
    if upsert is None and job.cursorAfter:
        jobs.advance_cursor(conn, source, job.cursorAfter)
    if job.backfill:
        backfill.complete(conn, source, job)
        return jobs.finish_job(conn, source, job, None)
    return jobs.finish_job(conn, source, job, jobs.counts_of(fetch, upsert))
