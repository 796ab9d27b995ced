"""The sync state machine, synthesized by the CDK, run end to end: sample source -> S3 -> PostgreSQL."""

from datetime import date, datetime
from typing import Any

import pytest

from infra.stack import synth_template
from local.sample_source.server import SampleSource
from tests.helpers import not_none
from tests.helpers.local_stack import Sync, expected_tenders, local_sync

pytestmark = pytest.mark.slow

FIRST_WINDOW = (date(2025, 9, 1), date(2025, 9, 8))  # cdk.json: firstRunFrom 2025-09-01, windowDays 7


def release_day(release) -> date:
    return datetime.fromisoformat(release["date"].replace("Z", "+00:00")).date()


def ocids_between(source: SampleSource, start: date, end: date) -> set[str]:
    return {r["ocid"] for r in source.releases if start <= release_day(r) < end}


def as_published(text: str | None) -> str | None:
    """Published text (a portal row's or a release's) as a tender keeps it: trimmed, with \\n line ends;
    "N/A" (or "-", or nothing) means none."""
    if text is None:
        return None
    text = text.replace("\r\n", "\n").strip()
    return None if text.lower() in {"", "-", "n/a"} else text


def south_african(wall_clock: str | None) -> str | None:
    """A time eTenders publishes as South African wall-clock time (naive, or labelled Z), as stored."""
    return None if wall_clock is None else wall_clock.removesuffix("Z") + "+02:00"


def details(
    delivery, conditions, is_session, compulsory, briefing_date, venue, name, email, telephone
) -> dict[str, Any]:
    return {
        "deliveryLocation": as_published(delivery),
        "specialConditions": as_published(conditions),
        "briefingSession": {
            "isSession": is_session,
            "compulsory": compulsory,
            "date": south_african(briefing_date),
            "venue": as_published(venue),
        },
        "contactPerson": {
            "name": as_published(name),
            "email": as_published(email),
            "telephoneNumber": as_published(telephone),
        },
    }


def portal_row_details(row: dict[str, Any]) -> dict[str, Any]:
    return details(
        row["delivery"],
        row["conditions"],
        row["briefingSession"],
        row["briefingCompulsory"],
        row["compulsory_briefing_session"],
        row["briefingVenue"],
        row["contactPerson"],
        row["email"],
        row["telephone"],
    )


def release_details(tender: dict[str, Any]) -> dict[str, Any]:
    briefing, contact = tender["briefingSession"], tender["contactPerson"]
    return details(
        tender["deliveryLocation"],
        tender["specialConditions"],
        briefing["isSession"],
        briefing["compulsory"],
        briefing["date"],
        briefing["venue"],
        contact["name"],
        contact["email"],
        contact["telephoneNumber"],
    )


def stored_releases(sync: Sync) -> dict[str, str]:
    return {t["ocid"]: t["release_id"] for t in sync.query("SELECT ocid, release_id FROM tenders")}


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
    tenders = sync.query("SELECT ocid, release_id, tender_number, province, details FROM tenders")
    assert len(tenders) == len(latest)
    assert all(t["release_id"] == latest[t["ocid"]]["id"] for t in tenders)
    assert all(t["tender_number"] == latest[t["ocid"]]["tender"]["title"].strip() for t in tenders)
    portal_rows = {f"ocds-9t57fa-{row['id']}": row for row in sample_source.portal_rows}
    looked_up = [t for t in tenders if "category" not in latest[t["ocid"]]["tender"]]
    carried = [t for t in tenders if "category" in latest[t["ocid"]]["tender"]]
    assert looked_up and carried
    for t in looked_up:  # the older feed shape: province and details from the portal row
        row = portal_rows[t["ocid"]]
        assert (t["province"], t["details"]) == (as_published(row["province"]), portal_row_details(row)), t["ocid"]
    for t in carried:  # the newer feed shape: province and details from the release
        published = latest[t["ocid"]]["tender"]
        expected = (as_published(published["province"]), release_details(published))
        assert (t["province"], t["details"]) == expected, t["ocid"]


def test_second_run_works_the_next_window_and_leaves_unchanged_rows_alone(sync: Sync, sample_source):
    sync.run()
    before = {t["ocid"]: t for t in sync.query("SELECT * FROM tenders")}

    execution = sync.run()

    assert execution.status == "SUCCEEDED", execution.cause
    _first, second = sync.query("SELECT * FROM job_log ORDER BY id")
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


def test_same_window_twice_leaves_the_same_rows(sync: Sync, sample_source):
    window = {"from": "2025-09-01", "to": "2025-09-08"}
    sync.run(**window)
    before = sync.query("SELECT * FROM tenders ORDER BY ocid")
    expected = ocids_between(sample_source, *FIRST_WINDOW)
    assert expected and {t["ocid"] for t in before} == expected
    execution = sync.run(**window)
    assert not_none(execution.output)["upsert"]["upserted"] == 0
    assert sync.query("SELECT * FROM tenders ORDER BY ocid") == before


def test_a_source_that_is_down_fails_the_job_and_keeps_the_cursor(template, database_url, sample_source):
    with local_sync(template, database_url, "http://127.0.0.1:9", sample_source.url) as local:
        sync = Sync(local, template, database_url)
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
    cause = not_none(execution.cause)
    assert cause.startswith("InvalidInput:") and "maxEnrichment" in cause
    assert (sync.query("SELECT * FROM job_log"), sync.query("SELECT * FROM sync_state")) == before


def test_two_runs_at_once_leave_one_success_and_one_skipped(sync: Sync, sample_source):
    first = sync.local.start(sync.state_machine, {"triggeredBy": "test"})
    second = sync.local.start(sync.state_machine, {"triggeredBy": "test"})
    results = [sync.local.wait(arn) for arn in (first, second)]

    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"]
    statuses = sorted(row["status"] for row in sync.query("SELECT status FROM job_log"))
    assert statuses == ["SKIPPED", "SUCCESS"]
    [skipped] = sync.query("SELECT error FROM job_log WHERE status = 'SKIPPED'")
    assert "another run holds the lease" in skipped["error"]
    expected = expected_tenders(sample_source, FIRST_WINDOW)
    assert expected and stored_releases(sync) == {ocid: release["id"] for ocid, release in expected.items()}


def test_a_tender_whose_enrichment_fails_is_stored_marked_failed(template, database_url, sample_source):
    with local_sync(template, database_url, sample_source.url, "http://127.0.0.1:9") as local:
        sync = Sync(local, template, database_url)
        execution = sync.run()

    assert execution.status == "SUCCEEDED", execution.cause
    tenders = sync.query("SELECT * FROM tenders")
    assert len(tenders) == len(ocids_between(sample_source, *FIRST_WINDOW))
    statuses = {t["enrichment_status"] for t in tenders}
    assert statuses == {"enriched", "failed"}  # new-shape releases carry their category; the rest failed
    [job] = sync.query("SELECT * FROM job_log")
    assert job["enrichment_failed"] == sum(t["enrichment_status"] == "failed" for t in tenders) > 0


def test_an_empty_window_finishes_and_moves_the_cursor(database_url, sample_source):
    template = synth_template(context={"firstRunFrom": "2025-12-01"})  # the sample holds September 2025
    with local_sync(template, database_url, sample_source.url, sample_source.url) as local:
        sync = Sync(local, template, database_url)
        execution = sync.run()

    assert execution.status == "SUCCEEDED", execution.cause
    assert [e["stateEnteredEventDetails"]["name"] for e in execution.history if "stateEnteredEventDetails" in e] == [
        "StartJob",
        "LeaseHeld?",
        "FetchReleases",
        "UpsertTenders",
        "PlanLookups",
        "AnythingToLookUp?",
        "PrepareChanges",
        "AnythingToAnnounce?",
        "FinishJob",
        "SyncSucceeded",
    ]
    [job] = sync.query("SELECT * FROM job_log")
    assert (job["status"], job["fetched"], job["upserted"]) == ("SUCCESS", 0, 0)
    assert sync.query("SELECT cursor FROM sync_state")[0]["cursor"] == date(2025, 12, 8)
