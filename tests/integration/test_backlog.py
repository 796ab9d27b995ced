"""Enrichment as a backlog, against a real PostgreSQL and the sample portal over HTTP: what is due a lookup,
in batches; a batch paced at its share of the rate; what the lookups found, stored back."""

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

from local.sample_source.faults import Faults
from local.sample_source.server import SampleSource
from tender_sync.lookups.batch import look_up_batch, result_key
from tender_sync.lookups.plan import plan_lookups
from tender_sync.lookups.store import NOT_COMPLETED, store_results
from tender_sync.models.jobs import JOBS, Job, Window
from tender_sync.models.lookups import BatchResult, LookupBatch, LookupItem, LookupPlan, LookupResult
from tender_sync.settings import LookupSettings
from tender_sync.source.portal_client import PortalClient
from tender_sync.source.publishers import SAST
from tender_sync.storage.artifacts import get_json, put_json
from tests.helpers import not_none
from tests.helpers.database import SETTINGS, rows, store, tender

BUCKET = "artifacts"
EXECUTION = "arn:aws:states:r:1:execution:Sync:run-1"
LOOKUPS = LookupSettings(
    lookup_batch_size=3, map_max_concurrency=2, portal_requests_per_second=50, not_found_recheck_hours=24
)


@pytest.fixture
def s3():
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


def job(**fields) -> Job:
    """A sync's job, or with `ocid` a single tender's, or with `window` enrich-today's."""
    workflow = "single-tender" if "ocid" in fields else "enrich-today" if "window" in fields else "sync"
    return JOBS.validate_python(
        {
            "workflow": workflow,
            "jobId": None,
            "executionId": EXECUTION,
            "maxEnrichment": 100,
            **fields,
        }
    )


def set_state(url: str, ocid: str, status: str, due_in_hours: float | None, attempts: int = 0) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            """UPDATE tenders SET enrichment_status = %s, enrichment_attempts = %s,
                      enrichment_due_at = now() + make_interval(secs => %s) WHERE ocid = %s""",
            (status, attempts, None if due_in_hours is None else due_in_hours * 3600, ocid),
        )


def planned(url: str, for_job: Job, settings: LookupSettings = LOOKUPS) -> tuple[list[list[str]], dict[str, Any]]:
    with psycopg.connect(url) as conn:
        plan = plan_lookups(conn, SETTINGS.source_name, for_job, BUCKET, settings, SAST)
    batches = [[t["ocid"] for t in batch["tenders"]] for batch in get_json(BUCKET, plan.itemsKey)]
    return batches, plan.model_dump()


def flattened(batches: list[list[str]]) -> list[str]:
    """The batches' ocids, in order."""
    return [ocid for batch in batches for ocid in batch]


def test_what_is_due_is_chosen_from_what_is_stored_freshest_first_up_to_the_cap(database_url, s3):
    days = {
        "new": 9,
        "left-by-cap": 3,
        "failed-due": 8,
        "failed-later": 7,
        "not-found-due": 6,
        "not-found-later": 5,
        "enriched": 10,
    }
    store(database_url, [tender(ocid, day=f"2025-09-{day:02d}") for ocid, day in days.items()])
    set_state(database_url, "failed-due", "failed", -1, attempts=2)
    set_state(database_url, "failed-later", "failed", 1, attempts=1)
    set_state(database_url, "not-found-due", "not_found", -1)
    set_state(database_url, "not-found-later", "not_found", 20)
    set_state(database_url, "enriched", "enriched", None)

    batches, plan = planned(database_url, job())
    assert flattened(batches) == ["new", "failed-due", "not-found-due", "left-by-cap"]
    # Four tenders over the Map's two children at once, not one batch of three and one of one.
    assert batches == [["new", "failed-due"], ["not-found-due", "left-by-cap"]]
    assert (plan["tenders"], plan["batches"]) == (4, 2)

    capped, _ = planned(database_url, job(maxEnrichment=3))
    assert flattened(capped) == ["new", "failed-due", "not-found-due"]
    assert planned(database_url, job(ocid="left-by-cap"))[0] == [["left-by-cap"]]
    today = Window(date_from=date(2025, 9, 6), date_to=date(2025, 9, 7))
    assert planned(database_url, job(window=today))[0] == [["not-found-due"]]


def test_batches_hold_at_most_the_batch_size(database_url, s3):
    store(database_url, [tender(f"t{n:02d}", day=f"2025-09-{n + 1:02d}") for n in range(10)])
    batches, _ = planned(database_url, job())
    assert [len(batch) for batch in batches] == [3, 3, 3, 1]


def results_of(plan: dict[str, Any], *batches: BatchResult) -> None:
    for result in batches:
        put_json(BUCKET, result_key(plan["resultsPrefix"], result.batch), result.model_dump(mode="json"))


def batch_result(batch: int, *results: LookupResult) -> BatchResult:
    now = datetime.now(UTC)
    return BatchResult(
        batch=batch,
        results=list(results),
        lookups=len(results),
        throttled=1,
        startedAt=now - timedelta(seconds=2),
        finishedAt=now,
    )


def test_what_the_lookups_found_is_stored_and_each_failure_backs_off(database_url, s3):
    store(database_url, [tender(ocid, day=f"2025-09-0{n + 1}") for n, ocid in enumerate("abcde")])
    set_state(database_url, "d", "failed", -1, attempts=2)
    store(database_url, [tender("f", day="2025-08-01")])
    _, plan = planned(database_url, job())  # batches [e, d, c], [b, a, f]
    details = {"deliveryLocation": "Durban", "contactPerson": {"name": "x"}}
    results_of(
        plan,
        batch_result(
            0,
            LookupResult(
                ocid="e", status="enriched", detailed_category="Sewerage", province="KwaZulu-Natal", details=details
            ),
            LookupResult(ocid="d", status="failed", error="SourceUnavailable: 503"),
            LookupResult(ocid="c", status="not_found"),
        ),
        # Batch 1 (b, a, f) left no result: it failed outright.
    )

    with psycopg.connect(database_url) as conn:
        counts, _ = store_results(conn, EXECUTION, LookupPlan(**plan), recheck_hours=24)

    assert counts == {
        "enriched": 1,
        "not_found": 1,
        "enrichment_failed": 4,
        "lookups": 3,
        "throttled": 1,
        "lookups_per_second": 1.5,
        "still_due": 0,
    }
    stored = {row["ocid"]: row for row in rows(database_url)}
    e = stored["e"]
    assert (e["enrichment_status"], e["detailed_category"], e["province"], e["details"]) == (
        "enriched",
        "Sewerage",
        "KwaZulu-Natal",
        details,
    )
    assert e["enriched_at"] is not None and e["enrichment_due_at"] is None and e["enrichment_attempts"] == 0
    now = datetime.now(UTC)

    def due_in(ocid: str) -> float:
        return (stored[ocid]["enrichment_due_at"] - now).total_seconds() / 60

    assert stored["c"]["enrichment_status"] == "not_found" and 24 * 60 - 2 < due_in("c") <= 24 * 60
    # The first failure waits 30 minutes, the third 2 hours.
    assert (stored["b"]["enrichment_attempts"], round(due_in("b"))) == (1, 30)
    assert stored["b"]["enrichment_error"] == NOT_COMPLETED
    assert (stored["d"]["enrichment_attempts"], round(due_in("d"))) == (3, 120)
    assert stored["d"]["enrichment_error"] == "SourceUnavailable: 503"
    assert (stored["a"]["enrichment_status"], stored["a"]["enrichment_error"]) == ("failed", NOT_COMPLETED)
    # Nothing is due now, so the next run looks up nothing; and nothing enriched is ever chosen again.
    assert planned(database_url, job())[1]["tenders"] == 0


def test_a_newer_release_keeps_its_category_unless_its_tender_number_changed(database_url, s3):
    store(database_url, [tender("a"), tender("b")])
    _, plan = planned(database_url, job())
    results_of(
        plan,
        batch_result(0, *(LookupResult(ocid=o, status="enriched", detailed_category="Sewerage") for o in ("b", "a"))),
    )
    with psycopg.connect(database_url) as conn:
        store_results(conn, EXECUTION, LookupPlan(**plan), recheck_hours=24)

    store(database_url, [tender("a", day="2025-09-05"), {**tender("b", day="2025-09-05"), "tender_number": "T/2"}])

    stored = {row["ocid"]: row for row in rows(database_url)}
    assert (stored["a"]["enrichment_status"], stored["a"]["detailed_category"]) == ("enriched", "Sewerage")
    assert (stored["b"]["enrichment_status"], stored["b"]["detailed_category"]) == ("pending", "Sewerage")
    assert flattened(planned(database_url, job())[0]) == ["b"]


def test_a_lookup_for_a_number_that_changed_meanwhile_is_not_stored(database_url, s3):
    store(database_url, [tender("a")])
    _, plan = planned(database_url, job())
    store(database_url, [{**tender("a", day="2025-09-05"), "tender_number": "T/9"}])
    results_of(plan, batch_result(0, LookupResult(ocid="a", status="enriched", detailed_category="Sewerage")))
    with psycopg.connect(database_url) as conn:
        assert store_results(conn, EXECUTION, LookupPlan(**plan), recheck_hours=24)[0]["enriched"] == 0
    assert rows(database_url)[0]["enrichment_status"] == "pending"


def items_of(source: SampleSource, count: int) -> list[LookupItem]:
    return [
        LookupItem(ocid=f"ocds-9t57fa-{row['id']}", tenderNumber=row["tender_No"]) for row in source.portal_rows[:count]
    ]


def test_a_batch_paces_its_lookups_and_one_failure_does_not_fail_the_others(sample_source):
    items = [*items_of(sample_source, 4), LookupItem(ocid="ocds-9t57fa-999999999", tenderNumber="NO-SUCH")]
    portal = PortalClient(sample_source.url)
    started = time.monotonic()

    result = look_up_batch(LookupBatch(batch=7, tenders=items), portal, 0.2, lambda: 60.0)

    assert time.monotonic() - started >= 0.8  # five lookups, at most one every 0.2 s
    assert result.batch == 7 and result.lookups == 5
    assert [r.status for r in result.results] == ["enriched"] * 4 + ["not_found"]
    assert result.results[0].detailed_category == sample_source.portal_rows[0]["category"].strip()


def test_a_429_is_counted_and_slows_the_batch_down():
    with SampleSource(faults=Faults(rate=1.0, kinds=("429-retry-after",), retry_after=0)) as source:
        portal = PortalClient(source.url)
        result = look_up_batch(LookupBatch(batch=0, tenders=items_of(source, 2)), portal, 0.05, lambda: 60.0)
    assert result.throttled == 8  # every attempt of both lookups
    assert [r.status for r in result.results] == ["failed", "failed"]
    assert "HTTP 429" in not_none(result.results[0].error)


def test_a_batch_out_of_time_leaves_the_rest_for_a_later_run(sample_source):
    left = iter([30.0, 0.5, 0.5])
    result = look_up_batch(
        LookupBatch(batch=0, tenders=items_of(sample_source, 3)), PortalClient(sample_source.url), 0, lambda: next(left)
    )
    assert [r.status for r in result.results] == ["enriched"] and result.lookups == 1
