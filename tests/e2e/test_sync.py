"""The sync state machine, synthesized by the CDK, run end to end: sample source -> S3 -> PostgreSQL."""
from datetime import date, datetime

import pytest

from infra.stack import synth_template
from local.sample_source.server import SampleSource
from tender_sync.normalize import clean_text
from tests.e2e.conftest import Sync, local_sync

FIRST_WINDOW = (date(2025, 9, 1), date(2025, 9, 8))  # cdk.json: firstRunFrom 2025-09-01, windowDays 7


def release_day(release) -> date:
    return datetime.fromisoformat(release["date"].replace("Z", "+00:00")).date()


def ocids_between(source: SampleSource, start: date, end: date) -> set[str]:
    return {r["ocid"] for r in source.releases if start <= release_day(r) < end}


def test_first_sync_stores_every_tender_of_the_window(sync: Sync, sample_source):
    execution = sync.run()

    assert execution.status == "SUCCEEDED", execution.cause
    expected = ocids_between(sample_source, *FIRST_WINDOW)
    tenders = sync.query("SELECT * FROM tenders")
    assert {t["ocid"] for t in tenders} == expected
    # Both release shapes end up with their detailed category: from the release, or from the portal.
    assert all(t["enrichment_status"] == "enriched" and t["detailed_category"] for t in tenders)
    [job] = sync.query("SELECT * FROM job_log")
    assert job["status"] == "SUCCESS"
    assert (job["window_from"], job["window_to"]) == FIRST_WINDOW
    assert job["upserted"] == len(expected) and job["enriched"] == len(expected)
    assert job["fetched"] >= len(expected) and job["quarantined"] == 0
    assert job["finished_at"] is not None and job["error"] is None
    [state] = sync.query("SELECT * FROM sync_state")
    assert state["cursor"] == FIRST_WINDOW[1] and state["lease_holder"] is None


def test_tenders_carry_the_newest_release_and_the_portal_details(sync: Sync, sample_source):
    sync.run(**{"from": "2025-09-01", "to": "2025-10-01"})

    latest = sample_source.latest_by_ocid()
    tenders = sync.query("SELECT ocid, release_id, tender_number, details FROM tenders")
    assert len(tenders) == len(latest)
    assert all(t["release_id"] == latest[t["ocid"]]["id"] for t in tenders)
    assert all(t["tender_number"] == clean_text(latest[t["ocid"]]["tender"]["title"]) for t in tenders)


def test_second_run_works_the_next_window_and_leaves_unchanged_rows_alone(sync: Sync, sample_source):
    sync.run()
    before = {t["ocid"]: t for t in sync.query("SELECT * FROM tenders")}

    execution = sync.run()

    assert execution.status == "SUCCEEDED", execution.cause
    first, second = sync.query("SELECT * FROM job_log ORDER BY id")
    assert (second["window_from"], second["window_to"]) == (date(2025, 9, 7), date(2025, 9, 14))
    after = {t["ocid"]: t for t in sync.query("SELECT * FROM tenders")}
    assert set(after) == set(before) | ocids_between(sample_source, date(2025, 9, 7), date(2025, 9, 14))
    latest = sample_source.latest_by_ocid()
    for ocid, row in before.items():
        if latest[ocid]["id"] == row["release_id"]:
            assert after[ocid] == row, f"{ocid} was rewritten without a newer release"
        else:
            assert after[ocid]["release_id"] == latest[ocid]["id"]
    assert sync.query("SELECT cursor FROM sync_state")[0]["cursor"] == date(2025, 9, 14)


def test_same_window_twice_leaves_the_same_rows(sync: Sync):
    window = {"from": "2025-09-01", "to": "2025-09-08"}
    sync.run(**window)
    before = sync.query("SELECT * FROM tenders ORDER BY ocid")
    execution = sync.run(**window)
    assert execution.output["upsert"]["upserted"] == 0
    assert sync.query("SELECT * FROM tenders ORDER BY ocid") == before


def test_a_source_that_is_down_fails_the_job_and_keeps_the_cursor(template, empty_database_url, sample_source):
    with local_sync(template, empty_database_url, "http://127.0.0.1:9", sample_source.url) as local:
        sync = Sync(local, template, empty_database_url)
        execution = sync.run()

    assert execution.status == "FAILED"
    [job] = sync.query("SELECT * FROM job_log")
    assert job["status"] == "FAILED"
    assert job["error"].startswith("SourceUnavailable:")
    assert "\n" not in job["error"]
    [state] = sync.query("SELECT * FROM sync_state")
    assert state["cursor"] is None and state["lease_holder"] is None
    assert sync.query("SELECT count(*) AS n FROM tenders")[0]["n"] == 0


def test_invalid_input_fails_with_a_reason_naming_the_field_and_writes_nothing(sync: Sync):
    sync.run()
    before = sync.query("SELECT * FROM job_log"), sync.query("SELECT * FROM sync_state")

    execution = sync.run(maxEnrichment=-1)

    assert execution.status == "FAILED"
    assert execution.cause.startswith("InvalidInput:") and "maxEnrichment" in execution.cause
    assert (sync.query("SELECT * FROM job_log"), sync.query("SELECT * FROM sync_state")) == before


def test_two_runs_at_once_leave_one_success_and_one_skipped(sync: Sync):
    first = sync.local.start(sync.state_machine, {"triggeredBy": "test"})
    second = sync.local.start(sync.state_machine, {"triggeredBy": "test"})
    results = [sync.local.wait(arn) for arn in (first, second)]

    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"]
    statuses = sorted(row["status"] for row in sync.query("SELECT status FROM job_log"))
    assert statuses == ["SKIPPED", "SUCCESS"]
    [skipped] = sync.query("SELECT error FROM job_log WHERE status = 'SKIPPED'")
    assert "another run holds the lease" in skipped["error"]


def test_a_tender_whose_enrichment_fails_is_stored_marked_failed(template, empty_database_url, sample_source):
    with local_sync(template, empty_database_url, sample_source.url, "http://127.0.0.1:9") as local:
        sync = Sync(local, template, empty_database_url)
        execution = sync.run()

    assert execution.status == "SUCCEEDED", execution.cause
    tenders = sync.query("SELECT * FROM tenders")
    assert len(tenders) == len(ocids_between(sample_source, *FIRST_WINDOW))
    statuses = {t["enrichment_status"] for t in tenders}
    assert statuses == {"enriched", "failed"}  # new-shape releases carry their category; the rest failed
    [job] = sync.query("SELECT * FROM job_log")
    assert job["enrichment_failed"] == sum(t["enrichment_status"] == "failed" for t in tenders) > 0


def test_an_empty_window_finishes_and_moves_the_cursor(empty_database_url, sample_source):
    template = synth_template(context={"firstRunFrom": "2025-12-01"})  # the sample holds September 2025
    with local_sync(template, empty_database_url, sample_source.url, sample_source.url) as local:
        sync = Sync(local, template, empty_database_url)
        execution = sync.run()

    assert execution.status == "SUCCEEDED", execution.cause
    assert [e["stateEnteredEventDetails"]["name"] for e in execution.history if "stateEnteredEventDetails" in e] == [
        "StartJob", "LeaseHeld?", "FetchReleases", "AnythingNew?", "FinishJob", "SyncSucceeded"]
    [job] = sync.query("SELECT * FROM job_log")
    assert (job["status"], job["fetched"], job["upserted"]) == ("SUCCESS", 0, 0)
    assert sync.query("SELECT cursor FROM sync_state")[0]["cursor"] == date(2025, 12, 8)
