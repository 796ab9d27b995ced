"""`make cost` (local/bench/cost.py) against a hand calculation, and its S3 request counts against a real local run."""
import pytest

from local.bench import cost
from tests.infra.conftest import RecordedRun


def test_default_profile_matches_the_hand_calculation(template_dict):
    """300 tenders every 30 minutes, at the prices of local/bench/prices.json, worked out by hand."""
    profile = cost.Profile(runs_per_month=cost.runs_per_month(template_dict))
    estimate = cost.estimate(template_dict, profile, cost.load_prices())
    by_service = {line.service: line.per_run for line in estimate.lines}

    runs = 30 * 24 * 2  # every 30 minutes, 30-day month
    assert profile.runs_per_month == runs == 1440
    # Step Functions: 8 states on the way (StartJob, LeaseHeld?, FetchReleases, AnythingNew?, EnrichTenders,
    # UpsertTenders, FinishJob, SyncSucceeded) + 1 per child execution the Map starts.
    transitions = 8 + 300
    # Express children: 300 requests, each 1.0 s (EnrichTender) billed at 64 MB.
    express_gb_seconds = 300 * 1.0 * 64 / 1024  # 18.75
    # Lambda: StartJob, FetchReleases, UpsertTenders, FinishJob once, EnrichTender 300 times (arm64).
    requests = 4 + 300
    gb_seconds = 0.25 * 1.0 + 1.0 * 10.0 + 300 * 0.25 * 1.0 + 1.0 * 5.0 + 0.25 * 0.5  # 90.375
    # S3: 3 PUTs by FetchReleases + 300 results + 1 LIST; GETs: the Map's items + UpsertTenders' 3 + 300 results.
    puts_and_lists = 3 + 300 + 1
    gets = 1 + 3 + 300
    # Secrets Manager: StartJob, UpsertTenders and FinishJob read the secret once each.
    secret_reads = 3
    expected = {
        "Step Functions state transitions": transitions * 0.000025,  # 0.0077
        "Step Functions Express requests": 300 * 0.000001,  # 0.0003
        "Step Functions Express duration": express_gb_seconds * 0.0000166667,  # 0.0003125
        "Lambda requests": requests * 0.0000002,  # 0.0000608
        "Lambda duration (arm64)": gb_seconds * 0.0000133334,  # 0.00120501
        "S3 PUT and LIST requests": puts_and_lists * 0.000005,  # 0.00152
        "S3 GET requests": gets * 0.0000004,  # 0.0001216
        "Secrets Manager": secret_reads * 0.000005,  # 0.000015
    }
    assert by_service == pytest.approx(expected, rel=1e-9)
    per_run = sum(expected.values())
    assert estimate.per_run == pytest.approx(per_run) == pytest.approx(0.011235, abs=1e-6)
    # Per month: per run x 1,440, plus the secret ($0.40 a month).
    assert estimate.per_month() == pytest.approx(per_run * runs + 0.40) == pytest.approx(16.58, abs=0.005)


def test_express_children_cost_materially_less_than_standard(template_dict):
    profile = cost.Profile()
    prices = cost.load_prices()
    express = cost.estimate(template_dict, profile, prices)
    standard = cost.estimate(template_dict, profile, prices, child_execution_type="STANDARD")
    assert express.child_execution_type == "EXPRESS"
    # Standard children add one transition per child state per item: 300 more at $0.000025.
    standard_transitions = next(line for line in standard.lines if line.service == "Step Functions state transitions")
    assert standard_transitions.usage == "608"
    assert standard.per_run - express.per_run == pytest.approx(300 * 0.000025 - 300 * 0.000001 - 18.75 * 0.0000166667)
    assert express.per_month() < 0.7 * standard.per_month()


def test_the_report_prints_each_service_per_run_and_per_month(template_dict):
    lines = cost.report(template_dict, cost.Profile(), cost.load_prices())
    text = "\n".join(lines)
    assert "as of " + cost.load_prices()["date"] in text
    assert lines[-2].split()[0] == "total" and lines[-2].split()[-2:] == ["0.01123", "16.58"]
    assert "with STANDARD Map children instead: $0.01812 per run, $26.50 per month" in lines[-1]


@pytest.mark.parametrize(
    ("expression", "runs"), [("rate(30 minutes)", 1440), ("rate(1 hour)", 720), ("rate(2 days)", 15)]
)
def test_runs_per_month_come_from_the_schedule(expression: str, runs: int):
    template = {"Resources": {"S": {"Type": "AWS::Scheduler::Schedule", "Properties": {"ScheduleExpression": expression}}}}
    assert cost.runs_per_month(template) == runs


def test_a_cron_schedule_asks_for_runs_per_month():
    template = {"Resources": {"S": {"Type": "AWS::Scheduler::Schedule", "Properties": {"ScheduleExpression": "cron(0 * * * ? *)"}}}}
    with pytest.raises(ValueError, match="--runs-per-month"):
        cost.runs_per_month(template)


def test_the_model_counts_the_s3_requests_a_real_run_makes(recorded_run: RecordedRun):
    """A whole local sync: every S3 request its handlers made, against the model for the same item count."""
    items = recorded_run.output["fetch"]["toEnrich"]
    assert items > 0
    operations = [call.operation for call in recorded_run.s3_calls]
    multipart = {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}
    counted = cost.S3Requests(
        puts=sum(1 for op in operations if op == "PutObject" or op in multipart),
        lists=operations.count("ListObjectsV2"),
        # The Map's ItemReader GET happens inside the interpreter, not through a handler.
        gets=operations.count("GetObject") + cost.MAP_GETS,
    )
    assert counted == cost.s3_requests(items)
    assert set(operations) <= {"PutObject", "GetObject", "ListObjectsV2"} | multipart
