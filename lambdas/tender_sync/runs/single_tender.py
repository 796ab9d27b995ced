"""single-tender: its ocids (one, or several gathered from the app's tender/enrich.requested events) fetched from the
release endpoint, stored, and looked up if they need it."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from aws_lambda_powertools import Logger

from tender_sync.errors import SourceRejected
from tender_sync.models.inputs import SingleTenderRequest
from tender_sync.models.jobs import SingleTenderJob
from tender_sync.storage.job_log import open_job
from tender_sync.workflows import SINGLE_TENDER

logger = Logger(child=True)

# Releases fetched at once from the release endpoint: MAX_OCIDS of them fit FetchRelease's timeout at a few seconds
# a request, while the source sees no more than this many requests at a time.
FETCH_CONCURRENCY = 4


def start(conn: psycopg.Connection, execution_id: str, request: SingleTenderRequest) -> SingleTenderJob:
    """The job for its ocids: no window, no lease, and each of its tenders looked up if it needs it."""
    if request.publishedAt is not None:
        logger.info("tender published", extra={"ocid": request.ocid, "publishedAt": request.publishedAt.isoformat()})
    job_id = open_job(conn, SINGLE_TENDER.name, execution_id, request.triggered_by, None)
    ocids = request.all_ocids
    return SingleTenderJob(jobId=job_id, executionId=execution_id, ocids=ocids, maxEnrichment=len(ocids))


def releases(
    get_release: Callable[[str], dict[str, Any]], ocids: list[str], unknown: list[str]
) -> Iterator[dict[str, Any]]:
    """Each ocid's newest release, in the order given, FETCH_CONCURRENCY requests at a time.

    One ocid the source refuses (SourceRejected: an unknown ocid) fails the run. Of several, one it refuses is
    skipped and added to `unknown`; the run fails only when it refuses them all. Any other failure fails the run."""
    if len(ocids) == 1:
        yield get_release(ocids[0])
        return

    def fetch(ocid: str) -> dict[str, Any] | SourceRejected:
        try:
            return get_release(ocid)
        except SourceRejected as refused:
            return refused

    refusal: SourceRejected | None = None
    pool = ThreadPoolExecutor(FETCH_CONCURRENCY, thread_name_prefix="fetch-release")
    try:
        for ocid, fetched in zip(ocids, pool.map(fetch, ocids), strict=True):
            if isinstance(fetched, SourceRejected):
                logger.warning("ocid skipped", extra={"ocid": ocid, "reason": str(fetched)})
                unknown.append(ocid)
                refusal = refusal or fetched
                continue
            yield fetched
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if refusal is not None and len(unknown) == len(ocids):
        raise SourceRejected(f"the source refused all {len(ocids)} ocids, the first with: {refusal}")
