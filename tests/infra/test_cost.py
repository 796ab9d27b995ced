"""`make cost` (local/bench/cost.py) against a hand calculation, and its S3 request counts against a real local run."""

import json
from collections import Counter
from pathlib import Path

import pytest

from local.bench import cost
from tender_sync.workflows import ALERTS
from tests.helpers.recorded_run import RecordedRun

PRICES = json.loads((Path(__file__).parents[2] / "local" / "bench" / "prices.json").read_text())
# The sync's $3.13 (its two secrets, the functions' and the owner's, $0.80 of it), and since alert processing, its
# alerts for 1,000 subscriptions, $4.20: $2.65 of SES emails (26,460 a month), the alerts key's $0.40, and $1.15 of
# alerts runs in batches of 5 (each child's emails paced at alertEmailsPerSecond 1 within its 30 s).
TARGET_PER_MONTH = 7.40


def _hand_calculation() -> dict[str, float]:
    """The default profile worked out by hand, at the prices of prices.json: 300 lookups a run, in PlanLookups'
    batches of 20 (lookupBatchSize; 300 over mapMaxConcurrency 3 would allow 100), so 15 Express children, each
    starting a lookup every 0.6 s (mapMaxConcurrency 3 / portalRequestsPerSecond 5)."""
    sfn, lam, s3, secrets = PRICES["step_functions"], PRICES["lambda"], PRICES["s3_standard"], PRICES["secrets_manager"]
    children, lookups_per_child, seconds_between = 15, 20, 0.6
    # Step Functions: 15 states on the way (StartJob, LeaseHeld?, FetchReleases, UpsertTenders, PlanLookups,
    # AnythingToLookUp?, WaitForPortal, LookUpTenders, StoreLookups, PrepareChanges, AnythingToAnnounce?,
    # PublishChanges, RecordPublished, FinishJob, SyncSucceeded) + 1 per child the Map starts.
    transitions = 15 + children
    # Express children: 15 requests, each paced through its 20 lookups, 12 s, billed at 64 MB.
    express_gb_seconds = children * lookups_per_child * seconds_between * 64 / 1024  # 11.25
    # Lambda (arm64): StartJob, FetchReleases, UpsertTenders, PlanLookups, StoreLookups, PrepareChanges,
    # RecordPublished and FinishJob once each, LookUpBatch once per child, billed for its paced time (20 x 0.6 s)
    # at 128 MB.
    requests = 8 + children
    gb_seconds = (
        0.25 * 1.0  # StartJob, 256 MB, 1 s
        + 1.0 * 10.0  # FetchReleases, 1024 MB, 10 s
        + 1.0 * 5.0  # UpsertTenders, 1024 MB, 5 s
        + 0.25 * 1.0  # PlanLookups, 256 MB, 1 s
        + 0.5 * 1.0  # StoreLookups, 512 MB, 1 s
        + 0.25 * 0.5  # PrepareChanges, 256 MB, 0.5 s
        + 0.125 * 0.2  # RecordPublished, 128 MB, 0.2 s
        + 0.25 * 0.5  # FinishJob, 256 MB, 0.5 s
        + children * 0.125 * lookups_per_child * seconds_between  # LookUpBatch, 128 MB, 12 s: 22.5
    )  # 38.775
    # S3 PUT: tenders.jsonl and quarantine.jsonl (FetchReleases), lookups.json (PlanLookups), one result per child,
    # the changes object (PrepareChanges); LIST: StoreLookups lists the results (one page). GET: UpsertTenders' 2,
    # the Map's ItemReader, StoreLookups' lookups.json and the 15 results.
    puts_and_lists = 2 + 1 + children + 1 + 1
    gets = 2 + 1 + 1 + children
    # Secrets Manager: the database functions on the way read the secret once each: StartJob, UpsertTenders,
    # PlanLookups, StoreLookups, PrepareChanges, RecordPublished, FinishJob.
    secret_reads = 7
    return {
        "Step Functions state transitions": transitions * sfn["standard_per_state_transition"],  # 0.00075
        "Step Functions Express requests": children * sfn["express_per_request"],  # 0.000015
        "Step Functions Express duration": express_gb_seconds * sfn["express_per_gb_second"],  # 0.0001875
        "Lambda requests": requests * lam["per_request"],  # 0.0000046
        "Lambda duration (arm64)": gb_seconds * lam["per_gb_second"]["arm64"],  # 0.000517
        "S3 PUT and LIST requests": puts_and_lists * s3["per_put_copy_post_list_request"],  # 0.0001
        "S3 GET requests": gets * s3["per_get_request"],  # 0.0000076
        # One Tenders Changed event.
        "EventBridge custom events": 1 * PRICES["eventbridge"]["per_custom_event"],  # 0.000001
        "Secrets Manager": secret_reads * secrets["per_api_call"],  # 0.000035
    }


def _alerts_hand_calculation() -> dict[str, tuple[float, float]]:
    """The alerts of the default profile worked out by hand: 1,000 subscriptions, half of them instant, half daily;
    9 in 10 deliveries are emails. Each service's cost per run (the alerts run the run's change event starts: 2% of
    the instant subscriptions matched, 10 deliveries, 9 emails and a webhook, in two batches of 5: 5 emails, and 4
    emails and the webhook) and its cost per month besides (the 720 runs of the hourly AlertsSchedule: 30 with the
    day's 500 digests, 450 emails and 50 webhooks, in 100 batches alike; 690 with nothing due; and the alerts key). A
    child sends an email every 5 s (ALERT_DELIVERY_CONCURRENCY 5 / alertEmailsPerSecond 1), a webhook in 0.5 s."""
    sfn, lam, s3, secrets = PRICES["step_functions"], PRICES["lambda"], PRICES["s3_standard"], PRICES["secrets_manager"]
    two_children = 5 * 5 + (4 * 5 + 0.5)  # 45.5 s: the event run's two children, and each pair of a digest run's
    digest_runs, empty_runs = 30, 720 - 30

    def monthly(digest_run: float, empty_run: float) -> float:
        return digest_runs * digest_run + empty_runs * empty_run

    return {
        # MatchAlerts, AnythingToDeliver?, DeliverAlerts, RecordDeliveries, AlertsSucceeded, and 1 per child; with
        # nothing due, MatchAlerts, AnythingToDeliver?, RecordDeliveries, AlertsSucceeded.
        "Alerts: Step Functions state transitions": (
            (5 + 2) * sfn["standard_per_state_transition"],
            monthly(5 + 100, 4) * sfn["standard_per_state_transition"],
        ),
        "Alerts: Step Functions Express requests": (
            2 * sfn["express_per_request"],
            monthly(100, 0) * sfn["express_per_request"],
        ),
        "Alerts: Step Functions Express duration": (
            two_children * 64 / 1024 * sfn["express_per_gb_second"],
            monthly(50 * two_children * 64 / 1024, 0) * sfn["express_per_gb_second"],
        ),
        # MatchAlerts, a DeliverBatch per child, RecordDeliveries.
        "Alerts: Lambda requests": (4 * lam["per_request"], monthly(2 + 100, 2) * lam["per_request"]),
        # MatchAlerts 512 MB 1 s, RecordDeliveries 256 MB 0.5 s; DeliverBatch 256 MB, its paced time.
        "Alerts: Lambda duration (arm64)": (
            (0.5 + 0.25 * two_children + 0.125) * lam["per_gb_second"]["arm64"],
            monthly(0.5 + 50 * 0.25 * two_children + 0.125, 0.5 + 0.125) * lam["per_gb_second"]["arm64"],
        ),
        # PUT: deliveries.json and each batch (MatchAlerts), each batch's result (DeliverBatch); LIST:
        # RecordDeliveries lists the results, even when there are none.
        "Alerts: S3 PUT and LIST requests": (
            (1 + 2 * 2 + 1) * s3["per_put_copy_post_list_request"],
            monthly(1 + 2 * 100 + 1, 1 + 1) * s3["per_put_copy_post_list_request"],
        ),
        # GET: the Map's ItemReader; per batch, DeliverBatch its batch, RecordDeliveries the batch and its result.
        "Alerts: S3 GET requests": (
            (1 + 3 * 2) * s3["per_get_request"],
            monthly(1 + 3 * 100, 0) * s3["per_get_request"],
        ),
        "Alerts: SES emails": (9 * PRICES["ses"]["per_email"], monthly(450, 0) * PRICES["ses"]["per_email"]),
        # MatchAlerts and RecordDeliveries read the database secret, each DeliverBatch the alerts key; and the alerts
        # key's $0.40 a month.
        "Alerts: Secrets Manager": (
            (2 + 2) * secrets["per_api_call"],
            monthly(2 + 100, 2) * secrets["per_api_call"] + secrets["per_secret_month"],
        ),
    }


@pytest.mark.slow
def test_default_profile_matches_the_hand_calculation(template_dict):
    """300 lookups every 30 minutes, and the alerts of 1,000 subscriptions, at the prices of
    local/bench/prices.json, worked out by hand."""
    profile = cost.Profile(
        runs_per_month=cost.runs_per_month(template_dict),
        alerts_runs_per_month=cost.runs_per_month(template_dict, ALERTS),
    )
    estimate = cost.estimate(template_dict, profile, cost.load_prices())
    by_service = {line.service: line.per_run for line in estimate.lines}

    runs = 30 * 24 * 2  # every 30 minutes, 30-day month
    assert profile.runs_per_month == runs == 1440
    assert profile.alerts_runs_per_month == 30 * 24  # cron(0 * * * ? *)
    assert estimate.batches == [20] * 15
    expected = _hand_calculation()
    assert by_service == pytest.approx(expected, rel=1e-9)
    alerts = _alerts_hand_calculation()
    assert {line.service: (line.per_run, line.per_month_fixed) for line in estimate.alert_lines} == {
        service: pytest.approx(costs, rel=1e-9) for service, costs in alerts.items()
    }
    sync_per_run = sum(expected.values())
    per_run = sync_per_run + sum(per_run for per_run, _ in alerts.values())
    assert sync_per_run == pytest.approx(0.0016177, abs=1e-7)
    assert estimate.per_run == pytest.approx(per_run) == pytest.approx(0.0029557, abs=1e-7)
    # Per month: per run x 1,440, plus the two secrets, the functions' and the owner's ($0.40 a month each), and the
    # alerts' monthly part.
    per_month = per_run * runs + 2 * PRICES["secrets_manager"]["per_secret_month"]
    per_month += sum(fixed for _, fixed in alerts.values())
    assert estimate.per_month() == pytest.approx(per_month) == pytest.approx(7.3255, abs=0.0005)
    # The sync alone, as before alert processing.
    assert sum(estimate.per_month(line) for line in estimate.lines) == pytest.approx(3.129, abs=0.0005)
    # Per 1,000 lookups: a run's cost over its 300 lookups, its alerts aside.
    assert (
        estimate.per_thousand_lookups == pytest.approx(sync_per_run / 300 * 1000) == pytest.approx(0.0053923, abs=1e-7)
    )


@pytest.mark.slow
def test_the_default_profile_stays_within_its_target(template_dict):
    profile = cost.Profile(
        runs_per_month=cost.runs_per_month(template_dict),
        alerts_runs_per_month=cost.runs_per_month(template_dict, ALERTS),
    )
    assert cost.estimate(template_dict, profile, cost.load_prices()).per_month() <= TARGET_PER_MONTH


@pytest.mark.slow
def test_express_children_cost_less_than_standard(template_dict):
    """A Standard child pays one transition per state in it (one: LookUpBatch) on top of the one per child;
    an Express child a request and its paced duration instead. Batches of 20 make the two close. (The alerts are
    the same in both.)"""
    profile = cost.Profile()
    prices = cost.load_prices()
    express = cost.estimate(template_dict, profile, prices)
    standard = cost.estimate(template_dict, profile, prices, child_execution_type="STANDARD")
    assert express.child_execution_type == "EXPRESS"
    standard_transitions = next(line for line in standard.lines if line.service == "Step Functions state transitions")
    assert standard_transitions.usage == "45"  # 15 + 15 + 15
    assert not [line for line in standard.lines if line.service.startswith("Step Functions Express")]
    sfn = PRICES["step_functions"]
    saved = (
        15 * sfn["standard_per_state_transition"]
        - 15 * sfn["express_per_request"]
        - 11.25 * sfn["express_per_gb_second"]
    )
    assert standard.per_run - express.per_run == pytest.approx(saved) == pytest.approx(0.0001725, abs=1e-9)
    assert express.per_month() < standard.per_month()
    assert standard.per_month() - express.per_month() == pytest.approx(saved * 1440)  # about $0.25


@pytest.mark.slow
def test_the_report_prints_each_service_per_run_per_month_and_per_thousand_lookups(template_dict):
    lines = cost.report(template_dict, cost.Profile(), cost.load_prices())
    text = "\n".join(lines)
    assert "as of " + cost.load_prices()["date"] in text
    assert lines[0].startswith("Run profile: 300 lookups per run in 15 batches of up to 20, 1,440 runs per month")
    assert lines[1].startswith(
        "Alerts profile: 1,000 subscriptions, 50% of them daily digests, 90% of deliveries by email; each change "
        "event matches 2% of them: 10 deliveries (9 emails) a run; 720 scheduled alerts runs a month, one a day "
        "sending the day's 500 deliveries (450 emails)"
    )
    rows = {
        line.rsplit(None, 3)[0].strip(): line.split()[-3:]
        for line in lines
        if line.startswith(("Step", "Lambda", "S3", "Secrets", "Alerts: "))
    }
    assert rows["Step Functions state transitions"] == ["30", "0.00075", "1.08"]
    assert rows["Step Functions Express requests"] == ["15", "0.00001", "0.02"]
    assert rows["Lambda requests"] == ["23", "0.00000", "0.01"]
    assert rows["S3 PUT and LIST requests"] == ["20", "0.00010", "0.14"]
    assert rows["S3 GET requests"] == ["19", "0.00001", "0.01"]
    assert "11.25 GB-s" in next(line for line in lines if line.startswith("Step Functions Express duration"))
    assert "38.77 GB-s" in next(line for line in lines if line.startswith("Lambda duration (arm64)"))
    assert "7 reads, 2 secrets" in next(line for line in lines if line.startswith("Secrets Manager"))
    # The alerts, each service its own line: per month, the scheduled runs and the alerts key too.
    assert rows["Alerts: Step Functions state transitions"] == ["7", "0.00017", "0.40"]
    duration = next(line for line in lines if line.startswith("Alerts: Lambda duration (arm64)"))
    assert "12.00 GB-s" in duration and duration.split()[-2:] == ["0.00016", "0.46"]
    assert rows["Alerts: SES emails"] == ["9", "0.00090", "2.65"]
    assert "4 reads, 1 secret" in next(line for line in lines if line.startswith("Alerts: Secrets Manager"))
    assert lines[-3].split()[0] == "total" and lines[-3].split()[-2:] == ["0.00296", "7.33"]
    assert lines[-2].startswith("per 1,000 lookups: $0.00539")
    assert "with STANDARD enrichment Map children instead: $0.00313 per run, $7.57 per month" in lines[-1]


@pytest.mark.slow
def test_a_run_with_nothing_to_look_up_skips_the_map(template_dict):
    """AnythingToLookUp? goes straight to the change event (PrepareChanges, AnythingToAnnounce?, PublishChanges,
    RecordPublished), then FinishJob: 12 states, no child, no result, nothing listed."""
    estimate = cost.estimate(template_dict, cost.Profile(lookups_per_run=0), cost.load_prices())
    usage = {line.service: line.usage for line in estimate.lines}
    assert estimate.child_execution_type == "none" and estimate.batches == []
    assert usage["Step Functions state transitions"] == "12"
    # StartJob, FetchReleases, UpsertTenders, PlanLookups, PrepareChanges, RecordPublished, FinishJob
    assert usage["Lambda requests"] == "7"
    # tenders.jsonl, quarantine.jsonl, lookups.json, the changes object
    assert usage["S3 PUT and LIST requests"] == "4"
    assert usage["S3 GET requests"] == "2"
    assert usage["EventBridge custom events"] == "1"
    assert usage["Secrets Manager"] == "6 reads, 2 secrets"
    assert "Step Functions Express requests" not in usage
    # Its change event still starts its alerts run.
    assert {line.service: line.usage for line in estimate.alert_lines}["Alerts: SES emails"] == "9"


@pytest.mark.parametrize(
    ("deliveries", "batches"),
    [(10, [(5, 0), (4, 1)]), (500, [(5, 0), (4, 1)] * 50), (21, [(5, 0), (5, 0), (4, 1), (5, 0), (0, 1)]), (0, [])],
)
def test_deliveries_are_matchalerts_batches(deliveries: int, batches: list[tuple[int, int]]):
    """At most 5 deliveries each (tender_sync.alerts.deliveries.BATCH_SIZE), 9 in 10 of them emails, the webhooks
    spread evenly."""
    assert cost.delivery_batches(deliveries) == batches


@pytest.mark.slow
def test_no_subscriptions_leave_the_alerts_runs_and_the_key(template_dict):
    """Each change event's alerts run, and the schedule's, find nothing to deliver: no child, no email."""
    estimate = cost.estimate(template_dict, cost.Profile(subscriptions=0), cost.load_prices())
    usage = {line.service: line.usage for line in estimate.alert_lines}
    assert usage["Alerts: Step Functions state transitions"] == "4"
    assert usage["Alerts: Step Functions Express requests"] == "0"
    assert usage["Alerts: SES emails"] == "0"
    assert usage["Alerts: Secrets Manager"] == "2 reads, 1 secret"
    by_service = {line.service: line for line in estimate.alert_lines}
    assert by_service["Alerts: SES emails"].per_month_fixed == 0


@pytest.mark.parametrize(
    ("lookups", "sizes"),
    [(300, [20] * 15), (301, [20] * 15 + [1]), (7, [2, 2, 2, 1]), (5, [1] * 5), (1, [1]), (0, [])],
)
def test_batches_are_planlookups_batches(lookups: int, sizes: list[int]):
    """At most lookupBatchSize (20) each, over at least mapMaxConcurrency (3) batches when there are enough."""
    assert cost.batch_sizes(lookups, 20, 5) == sizes


@pytest.mark.parametrize(
    ("expression", "runs"), [("rate(30 minutes)", 1440), ("rate(1 hour)", 720), ("rate(2 days)", 15)]
)
def test_runs_per_month_come_from_the_schedule(expression: str, runs: int):
    template = {
        "Resources": {"S": {"Type": "AWS::Scheduler::Schedule", "Properties": {"ScheduleExpression": expression}}}
    }
    assert cost.runs_per_month(template) == runs


@pytest.mark.parametrize(
    ("expression", "runs"),
    # Every hour; weekdays at 09:00 in the 30 days from Thursday 1 January 2026 (22 of them).
    [("cron(0 * * * ? *)", 720), ("cron(0 9 ? * MON-FRI *)", 22)],
)
def test_a_cron_schedule_is_counted_over_a_month(expression: str, runs: int):
    template = {
        "Resources": {"S": {"Type": "AWS::Scheduler::Schedule", "Properties": {"ScheduleExpression": expression}}}
    }
    assert cost.runs_per_month(template) == runs


def test_a_one_time_schedule_asks_for_runs_per_month():
    template = {
        "Resources": {
            "S": {"Type": "AWS::Scheduler::Schedule", "Properties": {"ScheduleExpression": "at(2026-03-01T09:00:00)"}}
        }
    }
    with pytest.raises(ValueError, match="--runs-per-month"):
        cost.runs_per_month(template)


@pytest.mark.slow
def test_the_model_counts_the_s3_requests_a_real_run_makes(recorded_run: RecordedRun):
    """A whole local sync: every S3 request its handlers made, against the model for the same batches, function
    by function; and its batches are the ones the model makes of its lookups."""
    lookups, batches = recorded_run.output["lookups"]["tenders"], recorded_run.output["lookups"]["batches"]
    assert batches > 1
    plan_environment = next(
        resource["Properties"]["Environment"]["Variables"]
        for resource in recorded_run.template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"]["Handler"] == "tender_sync.handlers.plan_lookups.handler"
    )
    batch_size, concurrency = int(plan_environment["LOOKUP_BATCH_SIZE"]), int(plan_environment["MAP_MAX_CONCURRENCY"])
    assert len(cost.batch_sizes(lookups, batch_size, concurrency)) == batches

    operations = [call.operation for call in recorded_run.s3_calls]
    multipart = {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}
    counted = cost.S3Requests(
        puts=sum(1 for op in operations if op == "PutObject" or op in multipart),
        lists=operations.count("ListObjectsV2"),
        # The Map's ItemReader GET happens inside the interpreter, not through a handler.
        gets=operations.count("GetObject") + cost.MAP_GETS,
    )
    assert counted == cost.s3_requests(batches)
    assert set(operations) <= {"PutObject", "GetObject", "ListObjectsV2"} | multipart

    handlers = {
        logical_id: resource["Properties"]["Handler"].split(".")[-2]
        for logical_id, resource in recorded_run.template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    by_function = Counter((handlers[call.function], call.operation) for call in recorded_run.s3_calls)
    assert by_function == Counter(
        {
            ("fetch_releases", "PutObject"): cost.FETCH_PUTS,
            ("upsert_tenders", "GetObject"): cost.UPSERT_GETS,
            ("plan_lookups", "PutObject"): cost.PLAN_PUTS,
            ("look_up_batch", "PutObject"): batches,
            ("store_lookups", "ListObjectsV2"): 1,
            ("store_lookups", "GetObject"): cost.STORE_GETS + batches,
            ("prepare_changes", "PutObject"): cost.CHANGES_PUTS,
        }
    )


@pytest.mark.slow
def test_the_model_counts_the_s3_requests_real_alerts_runs_make(recorded_run: RecordedRun):
    """The alerts run the local sync's change event started (one email, one batch), and a scheduled one with
    nothing due: every S3 request their handlers made, against the model, function by function."""
    handlers = {
        logical_id: resource["Properties"]["Handler"].split(".")[-2]
        for logical_id, resource in recorded_run.template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    assert [run.output["alerts"]["batches"] for run in recorded_run.alerts_runs] == [1, 0]
    for run in recorded_run.alerts_runs:
        batches = run.output["alerts"]["batches"]
        operations = [call.operation for call in run.s3_calls]
        counted = cost.S3Requests(
            puts=operations.count("PutObject"),
            lists=operations.count("ListObjectsV2"),
            # The Map's ItemReader GET happens inside the interpreter, not through a handler.
            gets=operations.count("GetObject") + (cost.MAP_GETS if batches else 0),
        )
        assert counted == cost.alerts_s3_requests(batches)
        by_function = Counter((handlers[call.function], call.operation) for call in run.s3_calls)
        assert +by_function == +Counter(
            {
                ("match_alerts", "PutObject"): cost.ALERTS_PLAN_PUTS + batches,
                ("deliver_batch", "GetObject"): batches,
                ("deliver_batch", "PutObject"): batches,
                ("record_deliveries", "GetObject"): 2 * batches,
                ("record_deliveries", "ListObjectsV2"): 1,
            }
        )
