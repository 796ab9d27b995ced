"""Runs at once share the portal, against a real PostgreSQL: the tenders a run plans are claimed until it stores
them (or the claim expires), and each run gets its own range of the portal's schedule."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import psycopg
import pytest
from moto import mock_aws

from tender_sync.lookups.batch import time_left
from tender_sync.lookups.plan import plan_lookups
from tender_sync.lookups.store import store_results
from tender_sync.models.jobs import SyncJob
from tender_sync.models.lookups import LookupPlan
from tender_sync.settings import LookupSettings
from tender_sync.source.publishers import SAST
from tender_sync.storage.artifacts import get_json
from tests.helpers.database import SETTINGS, store, tender

BUCKET = "artifacts"
RATE = 5
LOOKUPS = LookupSettings(
    lookup_batch_size=3, map_max_concurrency=2, portal_requests_per_second=RATE, not_found_recheck_hours=24
)


@pytest.fixture
def s3() -> Iterator[None]:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def backlog(database_url: str) -> list[str]:
    """Ten stored tenders, all due a lookup."""
    ocids = [f"ocds-9t57fa-{n}" for n in range(10)]
    store(database_url, [tender(ocid, day=f"2025-09-{n + 1:02d}") for n, ocid in enumerate(ocids)])
    return ocids


def sync_job(run: str, cap: int = 100) -> SyncJob:
    return SyncJob(jobId=None, executionId=f"arn:aws:states:r:1:execution:Sync:{run}", maxEnrichment=cap)


def plan(conn: psycopg.Connection, job: SyncJob) -> LookupPlan:
    return plan_lookups(conn, SETTINGS.source_name, job, BUCKET, LOOKUPS, SAST)


def planned_ocids(plan: LookupPlan) -> set[str]:
    return {item["ocid"] for batch in get_json(BUCKET, plan.itemsKey) for item in batch["tenders"]}


def test_runs_planning_at_the_same_moment_plan_disjoint_tenders(database_url, s3, backlog):
    """Planners at once: each skips the rows another has locked or claimed."""
    barrier = threading.Barrier(3)

    def plan_at_once(run: str) -> LookupPlan:
        with psycopg.connect(database_url) as conn:
            barrier.wait()
            return plan(conn, sync_job(run, cap=4))

    with ThreadPoolExecutor(3) as pool:
        plans = list(pool.map(plan_at_once, ["a", "b", "c"]))
    chosen = [planned_ocids(p) for p in plans]
    assert sorted(len(c) for c in chosen) == [2, 4, 4]
    assert set.union(*chosen) == set(backlog)


def test_a_claim_holds_until_its_results_are_stored_or_it_expires(database_url, s3, backlog):
    with psycopg.connect(database_url) as conn:
        first = plan(conn, sync_job("a"))
    assert planned_ocids(first) == set(backlog)
    with psycopg.connect(database_url) as conn:
        # Another run finds nothing to plan; a retry of the same step finds its own claims again.
        assert plan(conn, sync_job("b")).tenders == 0
        assert planned_ocids(plan(conn, sync_job("a"))) == set(backlog)
        # Stored (here: no batch left a result, so each failed and waits for its next try): claims released.
        store_results(conn, sync_job("a").executionId, first, recheck_hours=24)
        assert conn.execute("SELECT count(*) FROM lookup_claims").fetchone() == (0,)

    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE tenders SET enrichment_due_at = NULL")
        crashed = plan(conn, sync_job("crashed"))
        assert crashed.tenders == len(backlog)
        # The crashed run never stores: once its claims expire, another run plans the tenders.
        conn.execute("UPDATE lookup_claims SET expires_at = now() - interval '1 second'")
        assert planned_ocids(plan(conn, sync_job("next"))) == set(backlog)


def test_each_run_gets_its_own_range_of_the_portals_schedule(database_url, s3, backlog):
    with psycopg.connect(database_url) as conn:
        first = plan(conn, sync_job("a", cap=4))
        second = plan(conn, sync_job("b", cap=6))
        idle = plan(conn, sync_job("c"))
    assert first.notBefore and first.notAfter and second.notBefore and second.notAfter
    # Long enough for its lookups at the portal's rate, and the next run's starts where it ends.
    assert first.notAfter - first.notBefore >= timedelta(seconds=4 / RATE)
    assert second.notAfter - second.notBefore >= timedelta(seconds=6 / RATE)
    assert second.notBefore == first.notAfter
    # A run with nothing to look up takes no range.
    assert idle.tenders == 0 and idle.notBefore is None
    with psycopg.connect(database_url) as conn:
        (next_free,) = conn.execute(
            "SELECT next_free FROM portal_schedule WHERE source = %s", (SETTINGS.source_name,)
        ).fetchone() or (None,)
    assert next_free == second.notAfter


def test_a_batch_starts_no_lookup_its_run_could_not_finish_within_its_range():
    not_after = datetime.now(UTC) + timedelta(seconds=2)
    left = time_left(lambda: 30_000, 1.0, not_after)
    assert 1.5 < left() <= 2
    assert time_left(lambda: 30_000, 1.0, None)() == 29
    assert time_left(lambda: 30_000, 1.0, datetime.now(UTC) - timedelta(seconds=1))() < 0
