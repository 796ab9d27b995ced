"""LookUpBatch: one batch of tenders looked up on the portal in turn, at this child's share of the portal's rate."""

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

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
    started = datetime.now(UTC)
    results, lookups = [], 0
    throttled_before = throttled = portal.throttled
    next_start = time.monotonic() + _until_first_lookup(batch.firstLookupAt, seconds_between)
    for item in batch.tenders:
        time.sleep(max(0.0, next_start - time.monotonic()))
        # A lookup holds its share of the rate for seconds_between: it starts only if that ends in time.
        if seconds_left() < max(1.0, seconds_between):
            break
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
        # The next slot on this child's grid that has not passed: a slow lookup or a late wake-up never shifts the
        # grid, nor is made up for by starting the next one early.
        next_start += seconds_between
        now = time.monotonic()
        if next_start < now:
            next_start = (
                now
                if seconds_between <= 0
                else next_start + math.ceil((now - next_start) / seconds_between) * seconds_between
            )
    # Each lookup holds its share of the rate for its whole interval, the last one too: so that back to back
    # batches, and the rate seen, stay within it.
    time.sleep(max(0.0, min(next_start - time.monotonic(), seconds_left() - 1)))
    return BatchResult(
        batch=batch.batch,
        results=results,
        lookups=lookups,
        throttled=portal.throttled - throttled_before,
        startedAt=started,
        finishedAt=datetime.now(UTC),
    )


def _until_first_lookup(first_lookup_at: datetime | None, seconds_between: float) -> float:
    """Seconds until this child's first lookup: its first slot, or the next one on its grid (its slots stay
    seconds_between apart from firstLookupAt, so the children at once stay interleaved)."""
    if first_lookup_at is None:
        return 0.0
    late = (datetime.now(UTC) - first_lookup_at).total_seconds()
    if late <= 0 or seconds_between <= 0:
        return max(0.0, -late)
    return math.ceil(late / seconds_between) * seconds_between - late


def time_left(
    remaining_millis: Callable[[], int], margin_seconds: float, not_after: datetime | None
) -> Callable[[], float]:
    """The seconds this child may still start lookups in: until its function's timeout (less a margin), and until
    its run's range of the portal's schedule ends, after which the portal is another run's."""

    def seconds_left() -> float:
        left = remaining_millis() / 1000 - margin_seconds
        if not_after is not None:
            left = min(left, (not_after - datetime.now(UTC)).total_seconds())
        return left

    return seconds_left


def failed_batch(batch: LookupBatch, error: str) -> BatchResult:
    """A batch whose lookups failed outright (after their retries): each tender failed, with the error."""
    now = datetime.now(UTC)
    results = [LookupResult(ocid=item.ocid, status="failed", error=error) for item in batch.tenders]
    return BatchResult(batch=batch.batch, results=results, lookups=0, throttled=0, startedAt=now, finishedAt=now)


def result_key(plan_prefix: str, batch: int) -> str:
    return f"{plan_prefix}{batch:06d}.json"
