"""`make cli ARGS="alerts ..."`, run in-process on a test database: subscriptions added (on a database no workflow has
touched), listed without their secrets, paused, resumed, removed, their secrets rotated; every value refused in one
line with nothing written; the alerts key from ALERTS_KEY, .local/alerts.key, or a deployed stack's secret."""

import os
import socket
import stat
import subprocess
import sys

import boto3
import psycopg
import pytest
from moto import mock_aws

from local import alerts_key
from local.cli import commands as cli
from local.toolchain import ROOT
from tender_sync import aws
from tender_sync.alerts import secrets
from tests.helpers import not_none
from tests.helpers.alerts import SERVICES

LOCAL_KEY = "the CLI tests' alerts key"


@pytest.fixture
def alerts_cli(empty_database_url, monkeypatch, capsys):
    """main(["alerts", ...]) on a fresh database (no migration applied yet); returns (exit code, what it printed)."""
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    monkeypatch.setenv("ALERTS_KEY", LOCAL_KEY)
    monkeypatch.delenv("WEBHOOK_ALLOW_LOOPBACK", raising=False)
    secrets.alerts_key.cache_clear()
    capsys.readouterr()

    def run(*argv: str) -> tuple[int, str]:
        code = cli.main(["alerts", *argv])
        return code, capsys.readouterr().out

    yield run
    secrets.alerts_key.cache_clear()


def stored_secret(url: str, subscription: int) -> str:
    with psycopg.connect(url) as conn:
        (sealed,) = not_none(
            conn.execute("SELECT signing_secret FROM alert_subscriptions WHERE id = %s", (subscription,)).fetchone()
        )
    return secrets.decrypt(sealed, secrets.alerts_key())


def printed(output: str, name: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.startswith(f"{name}:"))


def listed(run) -> list[str]:
    code, output = run("list")
    assert code == 0
    return output.splitlines()[2:]


def test_add_works_on_a_fresh_database_and_list_shows_filters_never_secrets(
    alerts_cli, empty_database_url, monkeypatch
):
    code, output = alerts_cli(
        "add",
        "--email",
        "buyer@example.org",
        "--category",
        SERVICES,
        "--province",
        "Gauteng",
        "--province",
        "Limpopo",
        "--buyer",
        "health",
        "--query",
        "security -cleaning",
        "--min-value",
        "250000",
        "--daily",
        "--updates",
    )
    assert (code, output) == (0, "id:      1\n")

    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "1")
    code, output = alerts_cli("add", "--webhook", "http://127.0.0.1:8080/hooks/tenders")
    assert code == 0
    assert printed(output, "id") == "2"
    secret = printed(output, "secret")
    assert secret.startswith("whsec_") and stored_secret(empty_database_url, 2) == secret

    code, output = alerts_cli("list")
    header, _rule, *rows = output.splitlines()
    assert header.split() == ["id", "channel", "address", "sends", "filters", "created", "(UTC)", "paused"]
    assert len(rows) == 2 and all(secret not in row and "whsec_" not in row for row in rows)
    assert rows[0].startswith("1   email    buyer@example.org")
    assert "daily, updates" in rows[0]
    assert (
        f"category='{SERVICES}' province='Gauteng' province='Limpopo' buyer='health' query='security -cleaning'"
        " min-value=250000" in rows[0]
    )
    assert "http://127.0.0.1:8080/hooks/tenders" in rows[1] and "instant" in rows[1] and "everything" in rows[1]


@pytest.mark.parametrize(
    ("argv", "refused"),
    [
        (["--email", "a@example.org", "--category", "Cleanin"], "--category: 'Cleanin' is not a portal category"),
        (["--email", "a@example.org", "--province", "Gautng"], "--province: 'Gautng' is not a portal province"),
        (["--email", "a@example.org", "--query", "a & ("], "--query: 'a & (' has no words to search for"),
        (["--email", "x@"], "--email: 'x@' is not an email address"),
        (["--webhook", "http://169.254.169.254/"], "--webhook: the webhook URL is not HTTPS"),
        (["--webhook", "https://169.254.169.254/"], "--webhook: the webhook's host resolves to a link-local address"),
        (["--webhook", "http://127.0.0.1:8080/"], "--webhook: the webhook URL is not HTTPS"),
        (["--email", "a@example.org", "--min-value", "lots"], "--min-value: 'lots' is not a number"),
        (["--email", "a@example.org", "--min-value", "nan"], "--min-value: 'nan' is not a number"),
        (["--email", "a@example.org", "--min-value", "-5"], "--min-value: must be at least 0"),
    ],
)
def test_a_value_refused_is_one_line_and_nothing_is_written(alerts_cli, argv, refused):
    with pytest.raises(SystemExit) as raised:
        alerts_cli("add", *argv)
    assert str(raised.value).startswith(refused) and "\n" not in str(raised.value)
    assert listed(alerts_cli) == []


def test_a_refusal_exits_1_with_one_line_on_stderr(empty_database_url):
    environment = {**os.environ, "DATABASE_URL": empty_database_url, "ALERTS_KEY": LOCAL_KEY}
    finished = subprocess.run(
        [sys.executable, "-m", "local.cli", "alerts", "add", "--email", "x@"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (finished.returncode, finished.stdout, finished.stderr) == (1, "", "--email: 'x@' is not an email address\n")


def test_pause_resume_rotate_and_remove(alerts_cli, empty_database_url, monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "1")
    first = printed(alerts_cli("add", "--webhook", "http://127.0.0.1:8080/hook")[1], "secret")
    alerts_cli("add", "--email", "a@example.org")

    assert alerts_cli("pause", "1", "--reason", "on holiday") == (0, "paused subscription 1\n")
    assert alerts_cli("pause", "2") == (0, "paused subscription 2\n")
    rows = listed(alerts_cli)
    assert rows[0].endswith(": on holiday") and rows[1].endswith(": paused from the command line")
    assert alerts_cli("resume", "1") == (0, "resumed subscription 1\n")
    assert not listed(alerts_cli)[0].endswith("on holiday")

    code, output = alerts_cli("rotate-secret", "1")
    second = printed(output, "secret")
    assert code == 0 and second.startswith("whsec_") and second != first
    assert stored_secret(empty_database_url, 1) == second
    with pytest.raises(SystemExit, match="subscription 2 is an email subscription: it has no secret"):
        alerts_cli("rotate-secret", "2")

    assert alerts_cli("remove", "1") == (0, "removed subscription 1\n")
    for action in ("remove", "pause", "resume"):
        with pytest.raises(SystemExit, match="subscription 1 does not exist"):
            alerts_cli(action, "1")
    with pytest.raises(SystemExit, match="subscription 1 does not exist"):
        alerts_cli("rotate-secret", "1")
    assert [row.split()[0] for row in listed(alerts_cli)] == ["2"]


def test_the_local_key_is_made_once_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("ALERTS_KEY", raising=False)
    path = tmp_path / "nested" / "alerts.key"
    made = alerts_key.local_alerts_key(path)
    assert len(made) == 64 and int(made, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert alerts_key.local_alerts_key(path) == made
    monkeypatch.setenv("ALERTS_KEY", "given")
    assert alerts_key.local_alerts_key(path) == "given"


def test_without_alerts_key_the_cli_uses_the_local_key_file(alerts_cli, empty_database_url, tmp_path, monkeypatch):
    monkeypatch.delenv("ALERTS_KEY")
    monkeypatch.setattr(alerts_key, "KEY_FILE", tmp_path / "alerts.key")
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "1")
    secret = printed(alerts_cli("add", "--webhook", "http://127.0.0.1:8080/hook")[1], "secret")
    assert os.environ["ALERTS_KEY"] == (tmp_path / "alerts.key").read_text().strip()
    assert stored_secret(empty_database_url, 1) == secret


def test_against_a_stack_the_key_is_the_stacks_secret(database_url, monkeypatch, capsys):
    """The deployed path, with AWS in moto: the database and the alerts key through the stack's secrets, never a
    local ALERTS_KEY; a loopback webhook is refused there."""
    region = "af-south-1"
    real_getaddrinfo = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("ALERTS_KEY", LOCAL_KEY)
    monkeypatch.setenv("ALERTS_KEY_SECRET_ARN", "")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "1")
    with mock_aws():
        aws.client.cache_clear()
        aws._secrets.cache_clear()
        secrets.alerts_key.cache_clear()
        manager = boto3.client("secretsmanager", region_name=region)
        outputs = {
            "DatabaseSecretArn": manager.create_secret(Name="db", SecretString=database_url)["ARN"],
            "AlertsKeySecretArn": manager.create_secret(Name="alerts", SecretString="the stack's key")["ARN"],
        }
        monkeypatch.setattr(cli, "stack_outputs", lambda session, stack: outputs if stack == "TenderSync" else {})
        stack = ["--stack", "TenderSync", "--region", region, "alerts"]
        try:
            assert cli.main([*stack, "add", "--webhook", "https://hooks.example.com/tenders"]) == 0
            secret = printed(capsys.readouterr().out, "secret")
            with pytest.raises(SystemExit, match="--webhook: the webhook URL is not HTTPS"):
                cli.main([*stack, "add", "--webhook", "http://127.0.0.1:8080/hook"])
        finally:
            aws._secrets.cache_clear()
            secrets.alerts_key.cache_clear()
    monkeypatch.setenv("ALERTS_KEY", "the stack's key")
    assert stored_secret(database_url, 1) == secret
    secrets.alerts_key.cache_clear()
