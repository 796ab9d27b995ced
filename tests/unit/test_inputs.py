"""Each workflow's execution input: unknown fields rejected, dates parsed, caps bounded, one-line reasons."""

from datetime import date, timedelta

import pytest

from tender_sync.errors import InvalidInput
from tender_sync.models.inputs import (
    BackfillRequest,
    CleanupRequest,
    EnrichTodayRequest,
    InputDefaults,
    SingleTenderRequest,
    SyncRequest,
    parse_input,
)
from tender_sync.storage.cursor import source_today
from tests.helpers import INPUT_DEFAULTS


def test_enrich_today_needs_a_cap_and_may_name_its_admin():
    request = parse_input(
        EnrichTodayRequest, {"maxEnrichment": 50, "adminUserId": "u-17"}, "enrich-today", INPUT_DEFAULTS
    )
    assert (request.maxEnrichment, request.triggered_by) == (50, "admin u-17")
    assert (
        parse_input(EnrichTodayRequest, {"maxEnrichment": 1}, "enrich-today", INPUT_DEFAULTS).triggered_by == "manual"
    )


def test_backfill_dates_are_parsed_and_its_window_size_defaults_to_the_deployments():
    defaults = InputDefaults(max_enrichment=300, window_days=5, ocid_prefix="ocds-9t57fa")
    request = parse_input(BackfillRequest, {"from": "2025-09-01", "to": "2025-10-01"}, "backfill", defaults)
    assert (request.date_from, request.date_to, request.windowDays, request.maxEnrichment) == (
        date(2025, 9, 1),
        date(2025, 10, 1),
        5,
        300,
    )


def test_a_backfill_may_reach_today_but_not_beyond():
    tomorrow = source_today() + timedelta(days=1)
    assert parse_input(
        BackfillRequest,
        {"from": "2025-09-01", "to": tomorrow.isoformat(), "windowDays": 31},
        "backfill",
        INPUT_DEFAULTS,
    )
    with pytest.raises(InvalidInput, match="is in the future"):
        parse_input(
            BackfillRequest,
            {"from": "2025-09-01", "to": (tomorrow + timedelta(days=1)).isoformat(), "windowDays": 31},
            "backfill",
            INPUT_DEFAULTS,
        )


@pytest.mark.parametrize(
    ("model", "value", "reason"),
    [
        (EnrichTodayRequest, {"maxEnrichment": 10_001}, "maxEnrichment: Input should be less than or equal to 10000"),
        (EnrichTodayRequest, {"maxEnrichment": "lots"}, "maxEnrichment: 'lots' is not a whole number"),
        (EnrichTodayRequest, {"maxEnrichment": 3, "adminUserId": ""}, "adminUserId: String should have at least 1"),
        (BackfillRequest, {"from": "2025-09-01"}, "to: required"),
        (BackfillRequest, {"from": "yesterday", "to": "2025-09-02"}, "from: 'yesterday' is not a date (YYYY-MM-DD)"),
        (
            BackfillRequest,
            {"from": "2025-09-01", "to": "2025-09-02", "windowDays": 32},
            "windowDays: Input should be less",
        ),
        (BackfillRequest, {"from": "2025-09-01", "to": "2025-09-01"}, "must be before 'to'"),
        (
            SingleTenderRequest,
            {"ocid": "ocds-9t57fa-1/../../x"},
            "ocid: ocid 'ocds-9t57fa-1/../../x' holds",
        ),
        (SingleTenderRequest, {"ocid": "ocds-b5fd17-1"}, "does not start with this source's prefix ocds-9t57fa-"),
        (SingleTenderRequest, {"ocid": "ocds-9t57fa-" + "9" * 200}, "is longer than 120 characters"),
        (SyncRequest, {"from": "2025-09-08", "to": "2025-09-01"}, "'from' (2025-09-08) must be before 'to'"),
        (SyncRequest, {"from": "2025-09-01", "to": "2025-10-03"}, "the window spans 32 days; a sync takes at most 31"),
        (SingleTenderRequest, {"ocid": "ocds-9t57fa-1", "ocids": []}, "ocids: not beside 'ocid'"),
        (CleanupRequest, [], "the input must be a JSON object, not list"),
        (SyncRequest, {"from": "2025-09-01"}, "give both 'from' and 'to'"),
    ],
)
def test_a_bad_input_is_refused_with_a_one_line_reason(model, value, reason):
    with pytest.raises(InvalidInput) as raised:
        parse_input(model, value, "some-workflow", INPUT_DEFAULTS)
    message = str(raised.value)
    assert message.startswith("invalid some-workflow input: ") and reason in message
    assert "\n" not in message


def test_no_input_at_all_is_an_empty_one():
    assert parse_input(CleanupRequest, None, "cleanup", INPUT_DEFAULTS) == CleanupRequest.model_validate(
        {}, context=INPUT_DEFAULTS
    )
    assert (
        parse_input(SingleTenderRequest, {"ocid": "ocds-9t57fa-134030"}, "single-tender", INPUT_DEFAULTS).ocid
        == "ocds-9t57fa-134030"
    )


def test_a_sync_window_past_tomorrow_is_refused_so_the_cursor_cannot_jump_ahead():
    yesterday, tomorrow = source_today() - timedelta(days=1), source_today() + timedelta(days=1)
    assert (
        parse_input(
            SyncRequest, {"from": yesterday.isoformat(), "to": tomorrow.isoformat()}, "sync", INPUT_DEFAULTS
        ).date_to
        == tomorrow
    )
    with pytest.raises(InvalidInput, match=r"'to' \(.*\) is in the future: at most " + tomorrow.isoformat()):
        parse_input(
            SyncRequest,
            {"from": yesterday.isoformat(), "to": (tomorrow + timedelta(days=29)).isoformat()},
            "sync",
            INPUT_DEFAULTS,
        )


@pytest.mark.parametrize("value", [[], "hello", 5, [{"maxEnrichment": 1}]])
def test_an_input_that_is_not_a_json_object_is_refused_in_one_line(value):
    for model, workflow in (
        (SyncRequest, "sync"),
        (BackfillRequest, "backfill"),
        (SingleTenderRequest, "single-tender"),
    ):
        with pytest.raises(InvalidInput, match=rf"^invalid {workflow} input: the input must be a JSON object, not "):
            parse_input(model, value, workflow, INPUT_DEFAULTS)
