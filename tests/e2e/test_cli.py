"""`python -m local.cli`, run in-process: each command on this machine, and against a stack (AWS in moto)."""

import json
import re
from datetime import date

import boto3
import psycopg
import pytest
from moto import mock_aws

from local.cli import commands as cli
from local.engine import run as make_run
from tests.helpers.local_stack import expected_tenders


@pytest.fixture
def local_cli(database_url, sample_source, tmp_path, monkeypatch, capsys):
    """main(argv) on the test database and the session's sample source, keeping histories in tmp_path; returns
    (exit code, what it printed)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr(make_run, "EXECUTIONS_DIR", tmp_path)
    capsys.readouterr()

    def run(*argv: str) -> tuple[int, str]:
        if argv[0] == "start":
            argv = (*argv, "--ocds-url", sample_source.url, "--portal-url", sample_source.url)
        code = cli.main(list(argv))
        return code, capsys.readouterr().out

    return run


@pytest.mark.slow
def test_start_runs_a_workflow_to_the_end_and_runs_state_and_timeline_show_it(local_cli, database_url, sample_source):
    code, started = local_cli("start", "backfill", "--from", "2025-09-01", "--to", "2025-09-15", "--window-days", "7")

    assert code == 0, started
    assert "status:     SUCCESS (execution SUCCEEDED)" in started
    assert "window:     2025-09-01 .. 2025-09-15" in started
    with psycopg.connect(database_url) as conn:
        stored: dict[str, str] = dict(conn.execute("SELECT ocid, release_id FROM tenders").fetchall())
    expected = expected_tenders(sample_source, (date(2025, 9, 1), date(2025, 9, 15)))
    assert expected and stored == {ocid: release["id"] for ocid, release in expected.items()}
    arn = next(line.split()[-1] for line in started.splitlines() if line.startswith("execution:"))

    code, runs = local_cli("runs")
    assert code == 0
    header, _rule, row = runs.splitlines()
    assert header.split()[:4] == ["id", "workflow", "status", "window"]
    assert row.split()[:6] == ["1", "backfill", "SUCCESS", "2025-09-01", "..", "2025-09-15"]
    assert arn.rsplit(":", 1)[-1] in row

    code, state = local_cli("state")
    assert code == 0
    assert "etenders-za  2025-09-15" in state  # a fresh database: the backfill moved the cursor
    assert "2025-09-01 .. 2025-09-15  7            2025-09-15" in state

    code, timeline = local_cli("timeline", arn)
    assert code == 0
    lines = timeline.splitlines()
    assert lines[0].startswith("ExecutionSucceeded after ")
    steps = [line.split()[1] for line in lines[3:]]
    window = [
        "FetchReleases",
        "UpsertTenders",
        "PlanLookups",
        "AnythingToLookUp?",
        "WaitForPortal",
        "LookUpTenders",
        "StoreLookups",
        "PrepareChanges",
        "AnythingToAnnounce?",
        "PublishChanges",
        "RecordPublished",
        "NextWindow",
        "WindowsLeft?",
    ]
    assert steps == ["StartBackfill", "WindowsLeft?", *window, *window, "FinishJob", "BackfillSucceeded"]
    assert all(line.split()[-1] == "s" for line in lines[3:-1])  # each step that ended shows its duration

    # One Tenders Changed event a window, each listing its tenders.
    code, changes = local_cli("changes", arn.rsplit(":", 1)[-1])
    assert code == 0
    headers = [line for line in changes.splitlines() if line.startswith("Tenders Changed ")]
    assert headers == [f"Tenders Changed {arn}/2025-09-01/2025-09-08", f"Tenders Changed {arn}/2025-09-08/2025-09-15"]
    assert changes.count("backfill, 2025-09-01 .. 2025-09-08, sent ") == 1
    listed = [line.split()[1] for line in changes.splitlines() if line.startswith(("new ", "updated ", "enriched "))]
    assert len(listed) >= len(set(listed)) > 0 and all(ocid.startswith("ocds-9t57fa-") for ocid in listed)
    with pytest.raises(SystemExit, match="^changes failed: no run of execution no-such-execution in job_log$"):
        local_cli("changes", "no-such-execution")


@pytest.mark.slow
def test_start_takes_the_input_as_json(local_cli):
    code, output = local_cli("start", "sync", "--input", json.dumps({"from": "2025-09-01", "to": "2025-09-03"}))
    assert code == 0, output
    assert "window:     2025-09-01 .. 2025-09-03" in output


def test_a_rejected_input_is_refused_in_one_line_before_anything_is_synthesized_or_run(local_cli, monkeypatch):
    monkeypatch.setattr(cli, "_template", lambda source_given: pytest.fail("synthesized for an input refused"))
    for argv, refusal in [
        (
            ("--ocid", "134030"),
            "single-tender failed: InvalidInput: invalid single-tender input: ocid: ocid '134030' is not "
            "prefix-publisher-id shaped",
        ),
        ((), "single-tender failed: InvalidInput: invalid single-tender input: give 'ocid' (one tender) or 'ocids'"),
        (
            ("--input", '{"ocid": "ocds-9t57fa-1", "extra": 1}'),
            "single-tender failed: InvalidInput: invalid single-tender input: extra: not a field of this input",
        ),
    ]:
        with pytest.raises(SystemExit, match="^" + re.escape(refusal)):
            local_cli("start", "single-tender", *argv)

    _code, runs = local_cli("runs")
    assert runs.splitlines()[2:] == []  # nothing written


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (
            ["start", "sync", "--from", "2025-13-01"],
            "python -m local.cli start: --from: '2025-13-01' is not a date (YYYY-MM-DD)",
        ),
        (
            ["start", "sync", "--max-enrichment", "lots"],
            "python -m local.cli start: --max-enrichment: 'lots' is not a whole number",
        ),
        (["start", "sync", "--input", "{bad"], "python -m local.cli start: --input: not JSON (Expecting property name"),
        (
            ["start", "sync", "--ocds-url", "http://127.0.0.1:1"],
            "python -m local.cli start: give both --ocds-url and --portal-url, or neither",
        ),
        (
            ["start", "sync", "--portal-url", "http://127.0.0.1:1"],
            "python -m local.cli start: give both --ocds-url and --portal-url, or neither",
        ),
        (["runs", "--limit", "ten"], "python -m local.cli runs: --limit: 'ten' is not a whole number"),
        (["nope"], "python -m local.cli: command: invalid choice: 'nope'"),
    ],
)
def test_a_bad_flag_is_refused_in_one_line_naming_it(argv, refusal, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(refusal), line


@pytest.fixture
def no_aws_configuration(monkeypatch, tmp_path):
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_stack_errors_are_one_line_naming_the_fix(no_aws_configuration, monkeypatch):
    with pytest.raises(
        SystemExit, match=r"^--stack TenderSync: no AWS region: give --region \(or set AWS_DEFAULT_REGION\)$"
    ):
        cli.main(["--stack", "TenderSync", "runs"])
    with pytest.raises(SystemExit, match=r"^--stack TenderSync: no AWS credentials: configure them"):
        cli.main(["--stack", "TenderSync", "--region", "af-south-1", "runs"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with (
        mock_aws(),
        pytest.raises(SystemExit, match=r"^--stack TenderSyn: no such stack in af-south-1: give the stack's name"),
    ):
        cli.main(["--stack", "TenderSyn", "--region", "af-south-1", "state"])


def test_the_flags_must_fit_the_workflow(local_cli):
    with pytest.raises(SystemExit, match="--ocid does not apply to enrich-today"):
        local_cli("start", "enrich-today", "--max-enrichment", "5", "--ocid", "ocds-9t57fa-1")
    with pytest.raises(SystemExit, match="give --input or flags, not both"):
        local_cli("start", "sync", "--input", "{}", "--max-enrichment", "5")


def test_timeline_of_an_unknown_local_execution_says_where_it_looked(local_cli):
    with pytest.raises(SystemExit, match="no local execution"):
        local_cli("timeline", "arn:aws:states:us-east-1:123456789012:execution:Sync:nowhere")


@pytest.mark.slow
def test_against_a_stack_it_starts_by_the_outputs_and_reads_the_database_through_the_secret(
    database_url, monkeypatch, capsys
):
    """The deployed path, with AWS in moto (no CloudFormation there: the stack's outputs are given)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="af-south-1")
        definition = json.dumps({"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}})
        outputs = {
            output: sfn.create_state_machine(
                name=output, definition=definition, roleArn="arn:aws:iam::123456789012:role/r"
            )["stateMachineArn"]
            for output in cli.WORKFLOWS.values()
        }
        secrets = boto3.client("secretsmanager", region_name="af-south-1")
        outputs["DatabaseSecretArn"] = secrets.create_secret(Name="db", SecretString=database_url)["ARN"]
        monkeypatch.setattr(cli, "stack_outputs", lambda session, stack: outputs if stack == "TenderSync" else {})

        assert (
            cli.main(
                [
                    "--stack",
                    "TenderSync",
                    "--region",
                    "af-south-1",
                    "start",
                    "backfill",
                    "--from",
                    "2025-09-01",
                    "--to",
                    "2025-09-08",
                ]
            )
            == 0
        )
        arn = capsys.readouterr().out.split()[-1]
        [execution] = sfn.list_executions(stateMachineArn=outputs["BackfillStateMachineArn"])["executions"]
        assert execution["executionArn"] == arn
        assert json.loads(sfn.describe_execution(executionArn=arn)["input"]) == {
            "from": "2025-09-01",
            "to": "2025-09-08",
        }

        assert cli.main(["--stack", "TenderSync", "--region", "af-south-1", "timeline", arn]) == 0
        rows = capsys.readouterr().out.splitlines()[3:]
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in sfn.get_execution_history(executionArn=arn)["events"]
            if "stateEnteredEventDetails" in e
        ]
        assert entered and [row.split("  ")[1].strip() for row in rows] == entered

        assert cli.main(["--stack", "TenderSync", "--region", "af-south-1", "state"]) == 0
        assert capsys.readouterr().out.splitlines()[0].split()[:2] == ["source", "cursor"]
