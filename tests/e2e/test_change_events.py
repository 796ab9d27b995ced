"""Change events: each stored window that changed something puts one Tenders Changed event on the bus (in moto),
whose changes object lists exactly the tenders it inserted, updated or enriched; a failure to send never fails
the run, and a later run sends what is late."""

import json
from typing import Any

import jsonschema
import pytest

from local.engine.stack import Execution, LocalStack
from local.sample_source.faults import Faults
from local.sample_source.server import SampleSource
from local.schemas import SCHEMAS_DIR
from tender_sync.changes.events import DETAIL_TYPE, EVENT_SOURCE
from tender_sync.workflows import ENRICH_TODAY, SINGLE_TENDER
from tests.helpers.local_stack import Sync

pytestmark = pytest.mark.slow

CHANGE_SCHEMA = json.loads((SCHEMAS_DIR / "tender-change.json").read_text())
# The sample releases newer versions, dated 2025-09-03, of tenders first released on 2025-09-01.
WINDOW = {"from": "2025-09-01", "to": "2025-09-03"}
LATER_WINDOW = {"from": "2025-09-02", "to": "2025-09-09"}
LINE_FIELDS = {"ocid", "change", "releaseDate", "title", "buyer", "detailedCategory", "province", "closeDate"}


def changes_listed(local: LocalStack, event: dict[str, Any]) -> dict[str, str]:
    """The event (checked against its schema by conftest, as every event published here is), and its changes
    object read back: ocid -> change. Each line is checked against its schema, and holds the line's fields and
    nothing else (no contact fields)."""
    assert (event["source"], event["detail-type"]) == (EVENT_SOURCE, DETAIL_TYPE)
    assert len(json.dumps(event)) < 2_000  # a claim check: the changes are in S3
    changes = event["detail"]["changes"]
    body = local.s3.get_object(Bucket=changes["bucket"], Key=changes["key"])["Body"].read().decode()
    lines = [json.loads(line) for line in body.splitlines()]
    for line in lines:
        jsonschema.Draft4Validator(CHANGE_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(line)
        assert set(line) == LINE_FIELDS
    assert changes["tenders"] == len(lines)
    listed = {line["ocid"]: line["change"] for line in lines}
    assert len(listed) == len(lines)
    counts = event["detail"]["counts"]
    assert counts == {kind: list(listed.values()).count(kind) for kind in ("new", "updated", "enriched")}
    return listed


def releases(sync: Sync) -> dict[str, str]:
    return {row["ocid"]: row["release_id"] for row in sync.query("SELECT ocid, release_id FROM tenders")}


def job(sync: Sync, execution: Execution) -> dict[str, Any]:
    [row] = sync.query("SELECT * FROM job_log WHERE execution_id = %s", execution.arn)
    return row


def test_a_sync_announces_exactly_the_tenders_it_inserted_or_updated(sync: Sync):
    first = sync.run(**WINDOW)
    after_first = releases(sync)
    second = sync.run(**LATER_WINDOW)
    after_second = releases(sync)

    assert first.status == second.status == "SUCCEEDED"
    [first_event] = first.events
    assert changes_listed(sync.local, first_event) == dict.fromkeys(after_first, "new")
    [second_event] = second.events
    new = dict.fromkeys(after_second.keys() - after_first.keys(), "new")
    updated = {ocid: "updated" for ocid in after_first if after_second[ocid] != after_first[ocid]}
    assert new and updated
    assert changes_listed(sync.local, second_event) == {**new, **updated}

    detail = second_event["detail"]
    assert detail["id"] == f"{second.arn}/{LATER_WINDOW['from']}/{LATER_WINDOW['to']}"
    assert (detail["workflow"], detail["executionId"], detail["window"]) == ("sync", second.arn, LATER_WINDOW)
    assert detail["source"] == "etenders-za"
    assert second.arn in second_event["resources"]
    assert (job(sync, second)["changes_published"], job(sync, second)["events_late"]) == (len(new) + len(updated), 0)


def test_a_rerun_of_the_same_window_announces_nothing(sync: Sync):
    first = sync.run(**WINDOW)
    again = sync.run(**WINDOW)

    assert first.status == again.status == "SUCCEEDED"
    assert len(first.events) == 1
    assert again.events == []
    assert (job(sync, again)["changes_published"], job(sync, again)["events_late"]) == (0, 0)
    assert sync.query("SELECT * FROM change_events WHERE execution_id = %s", again.arn) == []
    assert "AnythingToAnnounce?" in entered(again) and "PublishChanges" not in entered(again)


def entered(execution: Execution) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in execution.history if "stateEnteredEventDetails" in e]


def test_a_window_in_which_only_enrichments_arrived_lists_them_as_enriched(template, database_url, sample_source):
    with SampleSource(faults=Faults(rate=1.0, kinds=("error-body",))) as portal:
        environment = {"DATABASE_URL": database_url, "OCDS_BASE_URL": sample_source.url, "PORTAL_BASE_URL": portal.url}
        with LocalStack(template, environment) as local:
            sync = Sync(local, template, database_url)
            first = sync.run(**WINDOW)
            failed = {row["ocid"] for row in sync.query("SELECT ocid FROM tenders WHERE enrichment_status = 'failed'")}
            portal.faults = Faults()
            sync.query("UPDATE tenders SET enrichment_due_at = now() WHERE enrichment_status = 'failed' RETURNING 1")
            second = sync.run(**WINDOW)

            assert first.status == second.status == "SUCCEEDED"
            assert failed
            [event] = second.events
            assert changes_listed(local, event) == dict.fromkeys(failed, "enriched")
            lines = local.s3.get_object(
                Bucket=event["detail"]["changes"]["bucket"], Key=event["detail"]["changes"]["key"]
            )
            assert all(json.loads(line)["detailedCategory"] for line in lines["Body"].read().splitlines())


def test_enrich_today_and_single_tender_announce_the_same_way(template, database_url, sample_source):
    ocid = sample_source.releases[0]["ocid"]
    with SampleSource(faults=Faults(rate=1.0, kinds=("error-body",))) as portal:
        environment = {"DATABASE_URL": database_url, "OCDS_BASE_URL": sample_source.url, "PORTAL_BASE_URL": portal.url}
        with LocalStack(template, environment) as local:
            sync = Sync(local, template, database_url)
            sync.run(**WINDOW)
            portal.faults = Faults()
            single = local.execute(SINGLE_TENDER.state_machine_id(template), {"ocid": ocid})
            today = local.execute(ENRICH_TODAY.state_machine_id(template), {"maxEnrichment": 5, "adminUserId": "u-1"})

            assert single.status == today.status == "SUCCEEDED"
            [single_event] = single.events
            listed = changes_listed(local, single_event)
            assert single_event["detail"]["window"] is None and single_event["detail"]["workflow"] == "single-tender"
            assert single_event["detail"]["id"] == f"{single.arn}/{ocid}"
            # Its newest release is dated after the window synced, so the single tender updates it.
            assert listed == {ocid: "updated"}
            # Nothing released today in the sample: enrich-today changes nothing, and says nothing.
            assert today.events == []


def test_an_event_that_could_not_be_sent_is_sent_by_the_next_run(sync: Sync):
    resources = sync.local.template["Resources"].values()
    (bus_name,) = [r["Properties"]["Name"] for r in resources if r["Type"] == "AWS::Events::EventBus"]
    sync.local.events.delete_event_bus(Name=bus_name)
    unsent = sync.run(**WINDOW)
    sync.local.create_bus(bus_name)
    later = sync.run(**LATER_WINDOW)

    # The window is stored and the run succeeds: its event waits for a later run, and job_log says it is late.
    assert unsent.status == "SUCCEEDED" and unsent.events == []
    assert (job(sync, unsent)["status"], job(sync, unsent)["events_late"]) == ("SUCCESS", 1)
    publish_failures = [
        e for e in unsent.history if e["type"] == "TaskFailed" and "PutEvents" in e["taskFailedEventDetails"]["cause"]
    ]
    assert len(publish_failures) == 4  # PublishChanges' first attempt and its three retries
    assert later.status == "SUCCEEDED"
    late, own = later.events
    assert late["detail"]["executionId"] == unsent.arn and own["detail"]["executionId"] == later.arn
    first_window = {
        row["ocid"] for row in sync.query("SELECT ocid FROM tenders WHERE release_date < %s", LATER_WINDOW["from"])
    }
    assert set(changes_listed(sync.local, late)) >= first_window
    [sent] = sync.query("SELECT sent_by FROM change_events WHERE execution_id = %s", unsent.arn)
    assert sent["sent_by"] == later.arn
    assert job(sync, later)["events_late"] == 0


def test_a_repeated_send_carries_the_same_id(sync: Sync):
    """At least once: an event marked unsent again (RecordPublished's write lost, say) is sent again, with the id
    consumers deduplicate on, and the same changes."""
    first = sync.run(**WINDOW)
    sync.query("UPDATE change_events SET sent_at = NULL RETURNING 1")
    again = sync.run(**WINDOW)

    [original] = first.events
    [repeated] = again.events
    assert repeated["detail"]["id"] == original["detail"]["id"] and repeated["id"] != original["id"]
    assert changes_listed(sync.local, repeated) == changes_listed(sync.local, original)
