"""LookUpBatch: one batch of tenders looked up on the portal in turn, at this child's share of the portal's rate."""

import time
from collections.abc import Callable
from datetime import datetime, timezone

from tender_sync.errors import BadSourceData, SourceRejected, SourceUnavailable
from tender_sync.models.lookups import BatchResult, LookupBatch, LookupResult
from tender_sync.source.cleaning import storable
from tender_sync.source.portal_client import PortalClient
from tender_sync.source.portal_lookup import look_up


def look_up_batch(
    batch: LookupBatch, portal: PortalClient, seconds_between: float, seconds_left: Callable[[], float]
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
            cleaned, _ = storable(look_up(item, portal).model_dump(mode="json"))
            results.append(LookupResult.model_validate(cleaned))
        except (SourceUnavailable, SourceRejected, BadSourceData) as error:
            results.append(LookupResult(ocid=item.ocid, status="failed", error=f"{type(error).__name__}: {error}"))
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


def failed_batch(batch: LookupBatch, error: str) -> BatchResult:
    """A batch whose lookups failed outright (after their retries): each tender failed, with the error."""
    now = datetime.now(timezone.utc)
    results = [LookupResult(ocid=item.ocid, status="failed", error=error) for item in batch.tenders]
    return BatchResult(batch=batch.batch, results=results, lookups=0, throttled=0, startedAt=now, finishedAt=now)


def result_key(plan_prefix: str, batch: int) -> str:
    return f"{plan_prefix}{batch:06d}.json"
