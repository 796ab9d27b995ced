"""`make run` (local.engine.run.main) as a user meets it: a refused window and a failed run each end non-zero with a
plain summary and a one-line reason, never the interpreter's internals; and against the live sample source, its
own, each run fetches what was published since the one before."""

import os
import re
import signal
import subprocess
import sys
import time as clock
from datetime import date, datetime, time, timedelta

import psycopg
import pytest

from local.engine import run
from local.sample_source.server import SampleSource
from local.toolchain import ROOT
from tender_sync.source.publishers import SAST
from tender_sync.storage.cursor import source_today

pytestmark = pytest.mark.slow

INTERPRETER_INTERNALS = ("FailureEventException", "Traceback", "stackTrace", "errorType")


@pytest.fixture
def make_run(database_url, sample_source, monkeypatch, capfd, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr(run, "EXECUTIONS_DIR", tmp_path)
    source = ["--ocds-url", sample_source.url, "--portal-url", sample_source.url]

    def make_run(*argv: str) -> tuple[int, str, str]:
        capfd.readouterr()
        code = run.main([*source, *argv])
        captured = capfd.readouterr()
        return code, captured.out, captured.err

    return make_run


def summary_lines(out: str) -> dict[str, str]:
    return {
        name: value.strip()
        for name, value in (line.split(":", 1) for line in out.splitlines() if line[:1].isalpha() and ":" in line)
    }


def cursor(database_url: str):
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT cursor FROM sync_state").fetchall()


def test_a_window_reaching_into_the_future_is_refused_and_the_cursor_stays(make_run, database_url):
    yesterday, far = source_today() - timedelta(days=1), source_today() + timedelta(days=30)

    code, out, err = make_run("--from", yesterday.isoformat(), "--to", far.isoformat())

    assert code == 1
    assert err.strip().splitlines() == [
        f"sync failed: InvalidInput: invalid sync input: 'to' ({far}) is in the future: "
        f"at most {source_today() + timedelta(days=1)} (the day after today in South Africa, exclusive)"
    ]
    assert not any(word in out + err for word in INTERPRETER_INTERNALS)
    assert cursor(database_url) == []
    # Its execution is named, and its history kept for `make cli ARGS="timeline ..."`, as the CLI's are.
    execution = summary_lines(out)["execution"]
    assert execution.startswith("arn:aws:states:") and run.saved_history(execution)[-1]["type"] == "ExecutionFailed"


def test_a_failed_run_says_what_its_steps_did_and_why_in_one_line(make_run, database_url):
    with psycopg.connect(database_url) as conn:
        # Not a data error: the upsert cannot quarantine its way past it, so the run fails at UpsertTenders.
        conn.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                        $$ BEGIN RAISE EXCEPTION 'tenders are read-only today'; END $$""")
        conn.execute("CREATE TRIGGER read_only BEFORE INSERT ON tenders FOR EACH STATEMENT EXECUTE FUNCTION refuse()")

    code, out, err = make_run("--from", "2025-09-01", "--to", "2025-09-08")

    assert code == 1
    lines = summary_lines(out)
    assert lines["status"] == "FAILED (execution FAILED)"
    assert lines["steps"] == "StartJob, LeaseHeld?, FetchReleases, UpsertTenders (failed), FailJob, SyncFailed"
    assert lines["fetched"] == "56 releases, 0 quarantined"
    assert "tenders are read-only today" in lines["reason"]
    assert err.strip().splitlines()[-1] == f"sync failed: {lines['reason']}"
    assert not any(word in out + err.strip().splitlines()[-1] for word in INTERPRETER_INTERNALS)
    assert cursor(database_url) == [(None,)]


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (["--from", "2025-13-01", "--to", "2025-09-08"], "make run: --from: '2025-13-01' is not a date (YYYY-MM-DD)"),
        (["--max-enrichment", "lots"], "make run: --max-enrichment: 'lots' is not a whole number"),
        (["--from", "2025-09-01"], "make run: give both --from and --to, or neither"),
        (["--ocds-url", "http://127.0.0.1:1"], "make run: give both --ocds-url and --portal-url, or neither"),
        (["--portal-url", "http://127.0.0.1:1"], "make run: give both --ocds-url and --portal-url, or neither"),
    ],
)
def test_a_bad_flag_is_refused_in_one_line_naming_it(argv, refusal, capsys):
    with pytest.raises(SystemExit) as exited:
        run.main(argv)
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(refusal), line


def test_help_is_written_for_users(capsys):
    with pytest.raises(SystemExit):
        run.main(["--help"])
    text = capsys.readouterr().out
    assert "Run one sync on this machine" in text and "run_workflow" not in text


def test_ctrl_c_ends_the_run_plainly_and_closes_its_job_as_stopped(database_url, tmp_path):
    """make run, given SIGINT as a terminal's Ctrl-C sends it, mid-run: the run's end and summary printed, its
    job_log row FAILED as stopped, with the time it ran."""
    environment = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "local.engine.run", "--from", "2025-09-01", "--to", "2025-10-01"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = clock.monotonic() + 120
        while not running_jobs(database_url):
            assert process.poll() is None and clock.monotonic() < deadline, "the run never opened its job"
            clock.sleep(0.1)
        stopped_at = datetime.now().astimezone()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == 1, out + err
    lines = summary_lines(out)
    assert lines["status"] == "FAILED (execution ABORTED)"
    assert lines["reason"] == "stopped: Ctrl-C"
    assert err.strip().splitlines() == ["sync failed: stopped: Ctrl-C"]
    assert "Traceback" not in out + err
    with psycopg.connect(database_url) as conn:
        ((status, error, finished_at),) = conn.execute("SELECT status, error, finished_at FROM job_log").fetchall()
        lease = conn.execute("SELECT lease_holder FROM sync_state").fetchall()
    assert (status, error) == ("FAILED", "stopped: Ctrl-C")
    assert abs((finished_at - stopped_at).total_seconds()) < 30
    assert lease in ([], [(None,)])


def running_jobs(database_url: str) -> list[tuple[str]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT status FROM job_log WHERE status = 'RUNNING'").fetchall()


def test_runs_minutes_apart_each_fetch_what_the_live_source_published_since(database_url, monkeypatch, capfd):
    """Two runs from a cursor at today, 10 minutes apart on the live source's clock (injected, not slept through)."""
    today = source_today()
    now = [datetime.combine(today, time(12), SAST)]
    monkeypatch.setenv("DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO sync_state (source, cursor) VALUES ('etenders-za', %s)", (today,))

    with SampleSource(fixed=False, clock=lambda: now[0]) as live:

        def make_run(window_from: date) -> tuple[dict[str, str], set[str]]:
            """The run's summary, and the ocids the source had listed in its window."""
            capfd.readouterr()
            assert run.main(["--ocds-url", live.url, "--portal-url", live.url]) == 0
            days = (today + timedelta(days=1) - window_from).days
            listed = [r for n in range(days) for r in live.releases_listed_on(window_from + timedelta(days=n))]
            return summary_lines(capfd.readouterr().out), {r["ocid"] for r in listed}

        first, seen = make_run(today - timedelta(days=1))  # the cursor less overlapDays, to tomorrow
        now[0] += timedelta(minutes=10)
        second, listed = make_run(today)

    assert first["window"] == f"{today - timedelta(days=1)} .. {today + timedelta(days=1)} (to is exclusive)"
    assert upserted(first) == {"new": len(seen), "updated": 0, "unchanged": 0}
    assert first["changes"].startswith(f"{len(seen)} published")
    # Categories counted apart, by where they came from; together, what job_log counts as enriched.
    categories = re.fullmatch(
        r"(\d+) in the releases, (\d+) from lookups, \d+ not found, \d+ failed(, \d+ still due a lookup)?",
        first["categories"],
    )
    assert categories, first["categories"]
    with psycopg.connect(database_url) as conn:
        enriched = conn.execute("SELECT enriched FROM job_log ORDER BY id LIMIT 1").fetchall()
    assert enriched == [(int(categories[1]) + int(categories[2]),)]
    assert second["window"] == f"{today} .. {today + timedelta(days=1)} (to is exclusive)"
    assert len(listed - seen) == 2  # published at 12:05 and 12:10
    counts = upserted(second)
    assert counts["new"] == 2
    assert second["changes"].startswith(f"{counts['new'] + counts['updated']} published")


def upserted(summary: dict[str, str]) -> dict[str, int]:
    """The counts of the summary's `upserted` line: "N (a new, b updated, c unchanged)"."""
    counts = re.fullmatch(r"\d+ \((\d+) new, (\d+) updated, (\d+) unchanged\)", summary["upserted"])
    assert counts, summary["upserted"]
    return dict(zip(("new", "updated", "unchanged"), map(int, counts.groups()), strict=True))
