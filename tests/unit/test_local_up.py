"""The pure parts of `make up`: schedule expressions and their next times, the alert rule's matching and message,
what a history says of each state, and where the graph puts each state."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from local.up.alerts import check_literal, matches, transformed
from local.up.console.execution import CAUGHT, FAILED, RUNNING, SUCCEEDED, outcomes, state_runs
from local.up.console.graph import layout, rows_from, svg
from local.up.schedules import Schedule, parse_expression, scheduled_time, template_schedules
from tests.helpers import not_none

STARTED = datetime(2026, 3, 7, 10, 0, 20, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(30 minutes)", STARTED, STARTED + timedelta(minutes=30)),
        ("rate(1 day)", STARTED + timedelta(days=1, seconds=1), STARTED + timedelta(days=2)),
        ("cron(0 6 ? * MON-FRI *)", STARTED, datetime(2026, 3, 9, 6, 0, tzinfo=UTC)),
        ("cron(*/15 * * * ? *)", STARTED, datetime(2026, 3, 7, 10, 15, tzinfo=UTC)),
        ("cron(30 23 L * ? *)", STARTED, datetime(2026, 3, 31, 23, 30, tzinfo=UTC)),
        ("cron(0 12 ? * 6#3 *)", STARTED, datetime(2026, 3, 20, 12, 0, tzinfo=UTC)),
        ("cron(0 12 ? * 6L *)", STARTED, datetime(2026, 3, 27, 12, 0, tzinfo=UTC)),
        ("cron(0 9 1 JAN,JUL ? 2027)", STARTED, datetime(2027, 1, 1, 9, 0, tzinfo=UTC)),
        ("at(2026-03-07T11:00:00)", STARTED, datetime(2026, 3, 7, 11, 0, tzinfo=UTC)),
        ("at(2026-03-07T09:00:00)", STARTED, None),
    ],
)
def test_each_expression_fires_when_scheduler_would(expression, after, expected):
    assert parse_expression(expression).next_after(after, STARTED) == expected


def test_a_cron_expression_fires_in_its_time_zone():
    in_johannesburg = parse_expression("cron(0 8 * * ? *)", "Africa/Johannesburg")
    assert in_johannesburg.next_after(STARTED, STARTED) == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "zone", "reason"),
    [
        ("rate(0 minutes)", "UTC", "a rate is at least 1"),
        ("rate(5 weeks)", "UTC", "is not a schedule expression"),
        ("rate(1 minutes)", "UTC", "Scheduler wants 1 minute, or 2 and more minutes"),
        ("every 5 minutes", "UTC", "is not a schedule expression"),
        ("cron(0 6 * * *)", "UTC", "a cron expression has 6 fields, not 5"),
        ("cron(0 6 * * MON *)", "UTC", "one of day-of-month and day-of-week must be ?"),
        ("cron(0 25 * * ? *)", "UTC", "hours '25' is outside 0-23"),
        ("cron(0 6 ? * FUNDAY *)", "UTC", "day-of-week 'FUNDAY' is not a number or one of SUN MON"),
        ("cron(0 6 15W * ? *)", "UTC", "W (the nearest weekday) is not supported"),
        ("rate(1 hour)", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_a_bad_expression_is_refused_saying_what_is_wrong(expression, zone, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        parse_expression(expression, zone)


def test_a_templates_bad_schedule_is_refused_naming_the_schedule():
    template = {
        "Resources": {
            "SyncSchedule": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {"ScheduleExpression": "rate(5 mins)", "Target": {"Arn": {"Ref": "Sync"}, "Input": "{}"}},
            }
        }
    }
    with pytest.raises(ValueError, match=r"^schedule SyncSchedule: 'rate\(5 mins\)' is not a schedule expression"):
        template_schedules(template)


def test_the_target_input_gets_schedulers_context_attributes():
    schedule = Schedule(
        "SyncSchedule",
        "rate(30 minutes)",
        parse_expression("rate(30 minutes)"),
        "Sync",
        '{"maxEnrichment":300,"triggeredBy":"schedule","scheduledTime":"<aws.scheduler.scheduled-time>",'
        '"by":"<aws.scheduler.schedule-arn>"}',
    )
    given = schedule.target_input(datetime(2026, 3, 7, 10, 30, 0, 123000, tzinfo=UTC))

    assert given == {
        "maxEnrichment": 300,
        "triggeredBy": "schedule",
        "scheduledTime": "2026-03-07T10:30:00Z",
        "by": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/SyncSchedule",
    }
    assert scheduled_time(datetime(2026, 3, 7, 12, 30, tzinfo=timezone(timedelta(hours=2)))) == "2026-03-07T10:30:00Z"


RULE = {
    "source": ["aws.states"],
    "detail-type": ["Step Functions Execution Status Change"],
    "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": ["arn:sync", "arn:cleanup"]},
}


def event(status: str, machine: str = "arn:sync") -> dict[str, Any]:
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"status": status, "stateMachineArn": machine, "name": 'run "7"'},
    }


def test_the_rule_matches_executions_ending_badly_on_its_machines_only():
    assert [status for status in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED") if matches(RULE, event(status))] == [
        "FAILED",
        "TIMED_OUT",
        "ABORTED",
    ]
    assert not matches(RULE, event("FAILED", "arn:elsewhere"))
    with pytest.raises(ValueError, match="lists of literal values only, not status"):
        check_literal({"detail": {"status": [{"anything-but": "SUCCEEDED"}]}}, "Rule")


def test_the_targets_input_transformer_makes_the_message():
    target = {
        "InputTransformer": {
            "InputPathsMap": {"name": "$.detail.name", "status": "$.detail.status"},
            "InputTemplate": '"execution <name> ended <status>."',
        }
    }
    assert transformed(target, event("ABORTED")) == 'execution run "7" ended ABORTED.'
    assert json.loads(transformed({}, event("FAILED")))["detail"]["status"] == "FAILED"


def history(*events: tuple[str, str | None]) -> list[dict[str, Any]]:
    made = []
    for number, (kind, name) in enumerate(events, 1):
        entry = {"id": number, "type": kind, "timestamp": STARTED + timedelta(seconds=number)}
        if kind.endswith("StateEntered"):
            entry["stateEnteredEventDetails"] = {"name": name, "input": "{}"}
        elif kind.endswith("StateExited"):
            entry["stateExitedEventDetails"] = {"name": name, "output": "{}"}
        elif kind.endswith("Failed"):
            entry["lambdaFunctionFailedEventDetails"] = {"error": "SourceRejected", "cause": "unknown ocid"}
        made.append(entry)
    return made


def test_a_caught_failure_a_retried_one_and_the_fail_state_are_told_apart():
    events = history(
        ("TaskStateEntered", "Start"),
        ("LambdaFunctionFailed", None),
        ("LambdaFunctionSucceeded", None),
        ("TaskStateExited", "Start"),
        ("TaskStateEntered", "Fetch"),
        ("LambdaFunctionFailed", None),
        ("TaskStateExited", "Fetch"),
        ("TaskStateEntered", "FailJob"),
        ("TaskStateExited", "FailJob"),
        ("FailStateEntered", "Failed"),
        ("ExecutionFailed", None),
    )
    runs = state_runs(events, "FAILED")

    assert outcomes(runs) == {"Start": SUCCEEDED, "Fetch": CAUGHT, "FailJob": SUCCEEDED, "Failed": FAILED}
    assert runs[1].error == "SourceRejected: unknown ocid"
    assert outcomes(state_runs(events[:5], "RUNNING"))["Fetch"] == RUNNING
    assert outcomes(state_runs(events[:5], "ABORTED"))["Fetch"] == FAILED


DEFINITION: dict[str, Any] = {
    "StartAt": "Start",
    "States": {
        "Start": {"Type": "Task", "Next": "More?", "Catch": [{"Next": "FailJob"}]},
        "More?": {"Type": "Choice", "Choices": [{"Next": "Work"}], "Default": "Finish"},
        "Work": {
            "Type": "Map",
            "Next": "Store",
            "Catch": [{"Next": "FailJob"}],
            "ItemProcessor": {"StartAt": "Batch", "States": {"Batch": {"Type": "Task", "End": True}}},
        },
        "Store": {"Type": "Task", "Next": "More?"},
        "Finish": {"Type": "Succeed"},
        "FailJob": {"Type": "Task", "Next": "Failed"},
        "Failed": {"Type": "Fail"},
    },
}


def test_states_go_in_rows_below_what_leads_to_them_a_loops_way_back_aside():
    rows = rows_from(["Start"], DEFINITION["States"], set())
    assert rows == [["Start"], ["More?"], ["Work", "Finish"], ["Store"]]

    drawn = layout(DEFINITION)
    assert drawn.boxes["FailJob"].x > max(drawn.boxes[name].x for name in ("Start", "Work", "Finish"))
    assert drawn.boxes["Failed"].y > drawn.boxes["FailJob"].y
    assert list(not_none(drawn.boxes["Work"].inner).boxes) == ["Batch"]
    assert ("Start", "FailJob", "catch") in drawn.edges and ("Store", "More?", "next") in drawn.edges


def test_the_svg_colours_each_state_by_its_outcome():
    drawn = svg(
        DEFINITION,
        {"Start": SUCCEEDED, "More?": SUCCEEDED, "Work": CAUGHT, "FailJob": SUCCEEDED, "Failed": FAILED},
        {"Work": "Map, 1 of 2 items succeeded"},
    )

    assert 'data-state="Work" data-outcome="caught"' in drawn
    assert 'data-state="Finish" data-outcome="not-reached"' in drawn
    assert 'data-state="Batch" data-outcome="inside-map"' in drawn
    assert "Work: Map, 1 of 2 items succeeded" in drawn
