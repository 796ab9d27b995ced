"""`make run` (local.engine.run.main) as a user meets it: a refused window and a failed run each end non-zero with a
plain summary and a one-line reason, never the interpreter's internals."""

from datetime import timedelta

import psycopg
import pytest

from local.engine import run
from tender_sync.storage.cursor import source_today

pytestmark = pytest.mark.slow

INTERPRETER_INTERNALS = ("FailureEventException", "Traceback", "stackTrace", "errorType")


@pytest.fixture
def make_run(database_url, sample_source, monkeypatch, capfd):
    monkeypatch.setenv("DATABASE_URL", database_url)
    source = ["--ocds-url", sample_source.url, "--portal-url", sample_source.url]

    def make_run(*argv: str) -> tuple[int, str, str]:
        capfd.readouterr()
        code = run.main([*source, *argv])
        captured = capfd.readouterr()
        return code, captured.out, captured.err

    return make_run


def cursor(database_url: str):
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT cursor FROM sync_state").fetchall()


def test_a_window_reaching_into_the_future_is_refused_and_the_cursor_stays(make_run, database_url):
    yesterday, far = source_today() - timedelta(days=1), source_today() + timedelta(days=30)

    code, out, err = make_run("--from", yesterday.isoformat(), "--to", far.isoformat())

    assert code == 1
    assert err.strip().splitlines() == [
        f"sync failed: InvalidInput: invalid sync input: input: Value error, 'to' ({far}) is in the future: "
        f"at most {source_today() + timedelta(days=1)} (the day after today in South Africa, exclusive)"
    ]
    assert not any(word in out + err for word in INTERPRETER_INTERNALS)
    assert cursor(database_url) == []


def test_a_failed_run_says_what_its_steps_did_and_why_in_one_line(make_run, database_url):
    with psycopg.connect(database_url) as conn:
        # Not a data error: the upsert cannot quarantine its way past it, so the run fails at UpsertTenders.
        conn.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                        $$ BEGIN RAISE EXCEPTION 'tenders are read-only today'; END $$""")
        conn.execute("CREATE TRIGGER read_only BEFORE INSERT ON tenders FOR EACH STATEMENT EXECUTE FUNCTION refuse()")

    code, out, err = make_run("--from", "2025-09-01", "--to", "2025-09-08")

    assert code == 1
    lines = dict(line.split(":", 1) for line in out.splitlines() if line[:1].isalpha() and ":" in line)
    assert lines["status"].strip() == "FAILED (execution FAILED)"
    assert lines["steps"].strip() == (
        "StartJob, LeaseHeld?, FetchReleases, UpsertTenders (failed), FailJob, SyncFailed"
    )
    assert lines["fetched"].strip() == "56 releases, 0 quarantined"
    assert "tenders are read-only today" in lines["reason"]
    assert err.strip().splitlines()[-1] == f"sync failed: {lines['reason'].strip()}"
    assert not any(word in out + err.strip().splitlines()[-1] for word in INTERPRETER_INTERNALS)
    assert cursor(database_url) == [(None,)]
