"""The app's events, as the consumer reads them: each event's key, the input it carries, the execution name it starts,
the trigger its job records, how a batch's tender/enrich.requested events are gathered and deduplicated; the
single-tender input of several ocids; FetchRelease's skipping of unknown ocids; the eventSources setting; the CLI's
new flags."""

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.config import StackConfig
from local.cli.commands import execution_input, parse_args
from tender_sync.app_events import events
from tender_sync.app_events.consumer import state_machine_arns
from tender_sync.app_events.events import (
    AppEvent,
    BadMessage,
    by_tenders,
    event_key,
    execution_arn,
    execution_name,
    first_of_each_key,
    gathered,
    gathered_name,
    read,
    trigger,
)
from tender_sync.errors import InvalidInput, SourceRejected
from tender_sync.models.inputs import MAX_OCIDS, SingleTenderRequest, parse_input
from tender_sync.models.jobs import JOBS, SingleTenderJob
from tender_sync.runs import single_tender
from tender_sync.settings import MissingSettings
from tender_sync.workflows import ENRICH_TODAY, REQUESTED, SINGLE_TENDER, SYNC, WORKFLOWS
from tests.helpers import INPUT_DEFAULTS

# What Step Functions takes as an execution name (and CloudWatch Logs as ASCII): 1 to 80 of these.
NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
ENVELOPE_ID = "7bf73129-1428-4cd3-a780-95db273d1602"


def envelope(detail_type: str, detail: dict[str, Any], envelope_id: str = ENVELOPE_ID) -> dict[str, Any]:
    """An event as EventBridge puts it in the queue."""
    return {
        "version": "0",
        "id": envelope_id,
        "detail-type": detail_type,
        "source": "tender-app",
        "account": "123456789012",
        "time": "2026-12-01T10:00:00Z",
        "region": "af-south-1",
        "resources": [],
        "detail": detail,
    }


def event(
    detail_type: str, detail: dict[str, Any], message_id: str = "m-1", envelope_id: str = ENVELOPE_ID
) -> AppEvent:
    return read(message_id, json.dumps(envelope(detail_type, detail, envelope_id)), INPUT_DEFAULTS)


def enrich(number: int, key: str | None = None, message_id: str | None = None) -> AppEvent:
    detail = {"id": key or f"enrich-{number}", "ocid": f"ocds-9t57fa-{number}", "publishedAt": "2026-12-01T08:00:00Z"}
    return event(SINGLE_TENDER.detail_type or "", detail, message_id or f"m-{number}")


# The workflows each detail-type starts


def test_each_workflow_the_app_starts_has_one_detail_type_and_cleanup_none():
    assert {detail_type: workflow.name for detail_type, workflow in REQUESTED.items()} == {
        "tender/sync.requested": "sync",
        "tender/enrich-today.requested": "enrich-today",
        "tender/backfill.requested": "backfill",
        "tender/enrich.requested": "single-tender",
    }
    assert WORKFLOWS["cleanup"].detail_type is None


def test_the_consumer_reads_each_state_machine_from_its_variable_and_names_those_missing():
    environment = {workflow.arn_variable: f"arn:{workflow.name}" for workflow in REQUESTED.values()}
    assert state_machine_arns(environment)["enrich-today"] == "arn:enrich-today"
    assert ENRICH_TODAY.arn_variable == "ENRICH_TODAY_STATE_MACHINE_ARN"
    with pytest.raises(MissingSettings, match="SINGLE_TENDER_STATE_MACHINE_ARN"):
        state_machine_arns({k: v for k, v in environment.items() if not k.startswith("SINGLE")})


# Keys


def test_the_key_is_the_details_id_else_eventbridges():
    assert event_key(envelope("tender/sync.requested", {"id": "sync-2026-12-01T10:00"})) == "sync-2026-12-01T10:00"
    assert event_key(envelope("tender/sync.requested", {"id": 42})) == "42"
    for detail in ({}, {"id": ""}, {"id": "  "}, {"id": None}, {"id": True}, {"id": {"nested": 1}}):
        assert event_key(envelope("tender/sync.requested", detail)) == ENVELOPE_ID, detail
    with pytest.raises(BadMessage, match="has no id"):
        event_key({"detail": {}})


def test_the_detail_less_its_id_is_the_input():
    read_event = event("tender/enrich-today.requested", {"id": "e-1", "maxEnrichment": 50, "adminUserId": "u-7"})
    assert (read_event.key, read_event.workflow, read_event.input) == (
        "e-1",
        ENRICH_TODAY,
        {"maxEnrichment": 50, "adminUserId": "u-7"},
    )
    # Not checked here: a bad input fails the run's first step, as any bad input does.
    bad = event("tender/sync.requested", {"maxEnrichment": "lots", "colour": "red"})
    assert (bad.workflow, bad.input, bad.key) == (SYNC, {"maxEnrichment": "lots", "colour": "red"}, ENVELOPE_ID)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not an EventBridge event"),
        (json.dumps(envelope("tender/unknown.requested", {})), "names no workflow"),
        (json.dumps({**envelope("tender/sync.requested", {}), "detail": "text"}), "detail is not a JSON object"),
    ],
)
def test_a_message_that_names_no_workflow_is_refused_saying_why(body, reason):
    with pytest.raises(BadMessage, match=reason):
        read("m-1", body, INPUT_DEFAULTS)


def test_a_tender_event_of_one_well_formed_ocid_is_gathered_any_other_starts_on_its_own():
    good = enrich(1)
    assert good.tender is not None and good.tender.ocid == "ocds-9t57fa-1"
    assert good.published_at == datetime(2026, 12, 1, 8, tzinfo=UTC)
    for detail in (
        {"ocid": "ocds-b5fd17-1"},  # another publisher's
        {"ocid": "ocds-9t57fa-1", "publishedAt": "yesterday"},
        {"ocid": "ocds-9t57fa-1", "colour": "red"},
        {"ocids": ["ocds-9t57fa-1", "ocds-9t57fa-2"]},  # a list: started as given
        {},
    ):
        assert event(SINGLE_TENDER.detail_type or "", detail).tender is None, detail


# Names


@pytest.mark.parametrize(
    "key",
    [
        ENVELOPE_ID,
        "sync-2026-12-01T10:00:00Z",
        "tender/enrich.requested:ocds-9t57fa-165050#1",
        "spaces and [brackets] * ? \" ' % \\ ^ | ~ ` $ & , ; : /",
        "ünïcødé-ключ-鍵",
        "x" * 500,
        "---",
    ],
)
def test_an_execution_name_is_valid_deterministic_and_its_keys_own(key):
    name = execution_name(key)
    assert NAME.fullmatch(name), name
    assert name.startswith(events.EXECUTION_PREFIX)
    assert execution_name(key) == name
    assert execution_name(key + "!") != name


def test_keys_that_read_the_same_once_made_safe_still_name_different_executions():
    assert execution_name("a/b") != execution_name("a:b")
    assert execution_name("a/b").rsplit("-", 1)[0] == execution_name("a:b").rsplit("-", 1)[0]


def test_a_gathered_run_is_named_by_its_events_keys_in_any_order():
    assert gathered_name(["b", "a"]) == gathered_name(["a", "b"])
    assert gathered_name(["a", "b"]) != gathered_name(["a", "b", "c"])
    assert NAME.fullmatch(gathered_name(str(n) for n in range(1000)))


def test_the_execution_arn_of_a_name():
    machine = "arn:aws:states:af-south-1:123456789012:stateMachine:SingleTenderStateMachine-1a2b"
    assert execution_arn(machine, "event-x") == (
        "arn:aws:states:af-south-1:123456789012:execution:SingleTenderStateMachine-1a2b:event-x"
    )


# The trigger a job records


def test_a_run_the_apps_events_started_says_so_in_its_trigger():
    machine = "arn:aws:states:af-south-1:123456789012:execution:EnrichTodayStateMachine:"
    assert trigger("enrich-today", machine + execution_name("e-1"), "manual") == "event tender/enrich-today.requested"
    assert (
        trigger("enrich-today", machine + execution_name("e-1"), "admin u-7")
        == "admin u-7 via event tender/enrich-today.requested"
    )
    assert trigger("enrich-today", machine + "0c6f7a1e-uuid", "admin u-7") == "admin u-7"
    assert trigger("cleanup", machine + execution_name("e-1"), "schedule") == "schedule"


# Gathering and deduplicating a batch


def test_a_batchs_tender_events_make_one_run_of_their_ocids_each_once():
    batch = [enrich(1), enrich(2), enrich(1, key="enrich-1-again"), enrich(3)]
    start = gathered(batch)

    assert start.workflow is SINGLE_TENDER
    assert start.input == {"ocids": ["ocds-9t57fa-1", "ocds-9t57fa-2", "ocds-9t57fa-3"]}
    assert start.events == tuple(batch)
    assert start.name == gathered_name(e.key for e in batch)


def test_an_event_delivered_twice_in_one_batch_counts_once():
    first, again, other = enrich(1, message_id="m-a"), enrich(1, message_id="m-b"), enrich(2)
    assert [e.message_id for e in first_of_each_key([first, again, other])] == ["m-a", "m-2"]


def test_more_distinct_ocids_than_a_run_takes_make_more_runs_each_within_the_cap():
    batch = [enrich(n % 7, key=f"k-{n}") for n in range(20)]  # 7 distinct ocids
    groups = list(by_tenders(batch, cap=3))

    assert [sorted({e.input["ocid"] for e in group}) for group in groups] == [
        [f"ocds-9t57fa-{n}" for n in (0, 1, 2)],
        [f"ocds-9t57fa-{n}" for n in (3, 4, 5)],
        ["ocds-9t57fa-6"],
    ]
    assert sorted(e.key for group in groups for e in group) == sorted(e.key for e in batch)
    assert len(by_tenders([enrich(n) for n in range(MAX_OCIDS)] * 2)) == 1


# The single-tender input and job


def test_a_single_tender_input_names_one_ocid_or_a_list_of_them():
    one = parse_input(SingleTenderRequest, {"ocid": "ocds-9t57fa-1"}, "single-tender", INPUT_DEFAULTS)
    assert (one.all_ocids, one.triggered_by) == (["ocds-9t57fa-1"], "manual")
    published = parse_input(
        SingleTenderRequest,
        {"ocid": "ocds-9t57fa-1", "publishedAt": "2026-12-01T10:00:00+02:00"},
        "single-tender",
        INPUT_DEFAULTS,
    )
    assert published.triggered_by == "manual, published 2026-12-01T08:00:00Z"
    several = parse_input(
        SingleTenderRequest, {"ocids": ["ocds-9t57fa-2", "ocds-9t57fa-1", "ocds-9t57fa-2"]}, "s", INPUT_DEFAULTS
    )
    assert several.all_ocids == ["ocds-9t57fa-2", "ocds-9t57fa-1"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({}, "give 'ocid' (one tender) or 'ocids'"),
        ({"ocids": []}, "ocids: List should have at least 1 item"),
        ({"ocids": [f"ocds-9t57fa-{n}" for n in range(MAX_OCIDS + 1)]}, f"at most {MAX_OCIDS} items"),
        ({"ocids": ["ocds-9t57fa-1", "ocds-b5fd17-1"]}, "does not start with this source's prefix"),
        ({"ocids": ["ocds-9t57fa-1"], "publishedAt": "2026-12-01T10:00:00Z"}, "'publishedAt' goes with 'ocid'"),
        (
            {"ocid": "ocds-9t57fa-1", "publishedAt": "yesterday"},
            "publishedAt: 'yesterday' is not a date and time (ISO 8601)",
        ),
        ({"ocid": "ocds-9t57fa-1", "ocids": ["ocds-9t57fa-2"]}, "ocids: not beside 'ocid': give one or the other"),
    ],
)
def test_a_bad_single_tender_input_is_refused_with_a_one_line_reason(value, reason):
    with pytest.raises(InvalidInput) as raised:
        parse_input(SingleTenderRequest, value, "single-tender", INPUT_DEFAULTS)
    assert reason in str(raised.value) and "\n" not in str(raised.value)


def test_a_job_of_one_ocid_as_an_earlier_version_wrote_it_is_read_as_a_list():
    job = JOBS.validate_python({"workflow": "single-tender", "jobId": 1, "executionId": "x", "ocid": "ocds-9t57fa-1"})
    assert isinstance(job, SingleTenderJob) and job.ocids == ["ocds-9t57fa-1"]
    assert "ocid" not in job.model_dump()


# FetchRelease: unknown ocids


def source(known: set[str]):
    def get_release(ocid: str) -> dict[str, Any]:
        if ocid not in known:
            raise SourceRejected(f"unknown ocid {ocid!r}")
        return {"ocid": ocid}

    return get_release


def test_of_several_ocids_an_unknown_one_is_skipped_and_counted_in_order():
    unknown: list[str] = []
    ocids = [f"ocds-9t57fa-{n}" for n in range(10)]
    fetched = list(single_tender.releases(source(set(ocids) - {"ocds-9t57fa-3"}), ocids, unknown))

    assert [release["ocid"] for release in fetched] == [o for o in ocids if o != "ocds-9t57fa-3"]
    assert unknown == ["ocds-9t57fa-3"]


def test_a_single_unknown_ocid_or_all_of_several_fail_the_run():
    with pytest.raises(SourceRejected, match="unknown ocid 'ocds-9t57fa-1'"):
        list(single_tender.releases(source(set()), ["ocds-9t57fa-1"], []))
    with pytest.raises(SourceRejected, match="refused all 2 ocids, the first with: unknown ocid 'ocds-9t57fa-1'"):
        list(single_tender.releases(source(set()), ["ocds-9t57fa-1", "ocds-9t57fa-2"], []))


# Settings and the CLI


def test_event_sources_default_to_the_app_and_must_be_sources_an_app_may_send():
    assert StackConfig.from_values().event_sources == ("tender-app",)
    assert StackConfig.from_values(lambda key: "a,b" if key == "eventSources" else None).event_sources == ("a", "b")
    for bad in ([], ["aws.states"], ["with space"], ["x" * 257]):
        with pytest.raises(ValueError, match="eventSources"):
            StackConfig.from_values({"eventSources": bad}.get)


def test_the_cli_starts_one_tender_or_several():
    assert execution_input(parse_args(["start", "single-tender", "--ocid", "ocds-9t57fa-1"])) == {
        "ocid": "ocds-9t57fa-1"
    }
    assert execution_input(parse_args(["start", "single-tender", "--ocids", "ocds-9t57fa-1, ocds-9t57fa-2"])) == {
        "ocids": ["ocds-9t57fa-1", "ocds-9t57fa-2"]
    }
    published = ["start", "single-tender", "--ocid", "ocds-9t57fa-1", "--published-at", "2026-12-01T10:00:00+00:00"]
    assert execution_input(parse_args(published))["publishedAt"] == "2026-12-01T10:00:00+00:00"
