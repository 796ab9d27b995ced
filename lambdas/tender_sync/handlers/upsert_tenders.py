"""UpsertTenders: the window's tenders, merged with their enrichment, stored with the cursor in one transaction."""
from aws_lambda_powertools import Logger, Tracer

from tender_sync import backfill, db, jobs
from tender_sync.artifacts import get_json, read_all_json, read_json_lines
from tender_sync.fetch import FetchSummary
from tender_sync.settings import Settings
from tender_sync.upsert import merge_enrichment, store_quarantined, store_tenders

logger = Logger()
tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    job, fetch = jobs.Job.model_validate(event["job"]), FetchSummary.model_validate(event["fetch"])
    logger.set_correlation_id(job.executionId)
    settings = Settings.from_env()
    looked_up = {item["ocid"] for item in get_json(fetch.bucket, fetch.itemsKey)}
    results = {result["ocid"]: result for result in read_all_json(fetch.bucket, fetch.resultsPrefix)}
    tenders = (
        merge_enrichment(tender, tender["ocid"] in looked_up, results.get(tender["ocid"]))
        for tender in read_json_lines(fetch.bucket, fetch.tendersKey)
    )
    with db.connect() as conn:
        counts = store_tenders(conn, settings.source_name, tenders)
        store_quarantined(conn, settings.source_name, read_json_lines(fetch.bucket, fetch.quarantineKey))
        if job.cursorAfter:
            jobs.advance_cursor(conn, settings.source_name, job.cursorAfter)
        if job.workflow == jobs.BACKFILL_WORKFLOW:
            backfill.record_window(conn, settings, job, jobs.counts_of(event["fetch"], counts))
        else:
            jobs.record_stored_window(conn, job, jobs.counts_of(event["fetch"], counts))
    logger.info("window stored", extra={"counts": counts, "window": job.window})
    return counts
