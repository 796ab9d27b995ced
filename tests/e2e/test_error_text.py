"""What error text may carry, end to end: a database error reaches the execution history, the logs, job_log and
the quarantine as its SQLSTATE and primary message only (never PostgreSQL's DETAIL or CONTEXT, which quote row
data), and no error names any part of the database URL."""

import json
import logging
import re
from collections.abc import Callable

import psycopg
import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from local.engine.stack import LocalStack
from tender_sync.errors import DatabaseUnavailable, InvalidDatabaseUrl, describe_failure
from tender_sync.storage import database
from tests.helpers import not_none
from tests.helpers.local_stack import Sync

# The sample data's contact person values (tender details, from the feed or the portal).
CONTACT_VALUE = re.compile(r"contact\d+@example\.gov\.za|000-000-\d{4}|Contact Person \d+")
# A BEFORE INSERT trigger refusing the tenders whose contact email starts with contact1, its DETAIL quoting the
# row's details, contact person included, as a failing row's DETAIL does.
REFUSE_CONTACTS = """
CREATE FUNCTION refuse_contact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.details->'contactPerson'->>'email' LIKE 'contact1%' THEN
        RAISE EXCEPTION 'refused' USING ERRCODE = '{errcode}', DETAIL = NEW.details::text;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_contact BEFORE INSERT ON tenders FOR EACH ROW EXECUTE FUNCTION refuse_contact();
"""
MALFORMED_URL = "postgresql://tender_owner:hunter2@s3cr3t@db-7f3a.internal:5432/tenders_prod"
URL_PARTS = ("tender_owner", "hunter2", "s3cr3t", "db-7f3a", "tenders_prod")


@pytest.fixture
def logs(caplog) -> Callable[[], str]:
    """Everything logged, as the functions' JSON lines. Caught as records, at the root: the functions' own handler
    writes to the stdout of whichever test first imported them."""
    caplog.set_level(logging.INFO)
    # The functions log as "tender-sync", whose level the first stack that imported them set.
    caplog.set_level(logging.INFO, logger="tender-sync")
    formatter = LambdaPowertoolsFormatter()
    return lambda: "\n".join(formatter.format(record) for record in caplog.records)


def local_sync(template, database_url: str, sample_source) -> Sync:
    environment = {
        "DATABASE_URL": database_url,
        "OCDS_BASE_URL": sample_source.url,
        "PORTAL_BASE_URL": sample_source.url,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    return Sync(LocalStack(template, environment), template, database_url)


def refuse_contacts(database_url: str, errcode: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(REFUSE_CONTACTS.format(errcode=errcode))
        # The premise: the database's own error text quotes the contact person.
        with pytest.raises(psycopg.Error) as refused, conn.transaction():
            conn.execute(
                "INSERT INTO tenders (ocid, release_id, release_date, raw, details) VALUES ('x', 'x', now(), '{}', %s)",
                ('{"contactPerson": {"email": "contact10@example.gov.za"}}',),
            )
        assert "contact10@example.gov.za" in str(refused.value)


def assert_no_row_data(*texts: str) -> None:
    for text in texts:
        assert not CONTACT_VALUE.search(text)
        assert "DETAIL" not in text and "CONTEXT" not in text


@pytest.mark.slow
def test_rows_the_database_refuses_are_quarantined_with_one_line(template, database_url, sample_source, logs):
    refuse_contacts(database_url, errcode="check_violation")
    sync = local_sync(template, database_url, sample_source)
    with sync.local:
        execution = sync.run()

    assert execution.status == "SUCCEEDED", execution.cause
    reasons = [row["reason"] for row in sync.query("SELECT reason FROM quarantine")]
    # The refused rows are those whose release carried such a contact (the trigger refuses inserts only: the
    # portal's lookups of the older shape's tenders are stored after, by StoreLookups).
    stored = sync.query("SELECT raw->'tender'->'contactPerson'->>'email' AS email FROM tenders")
    assert reasons and set(reasons) == {"23514: refused"}
    assert not_none(execution.output)["upsert"]["quarantined"] == len(reasons)
    assert len(stored) + len(reasons) == not_none(execution.output)["fetch"]["tenders"]
    assert not [row for row in stored if (row["email"] or "").startswith("contact1")]
    [job] = sync.query("SELECT status, error FROM job_log")
    assert job == {"status": "SUCCESS", "error": None}
    logged = logs()
    assert "window stored" in logged
    assert_no_row_data(json.dumps(execution.history, default=str), logged, *reasons)


@pytest.mark.slow
def test_a_database_error_fails_the_run_with_its_sqlstate_and_primary_message_only(
    template, database_url, sample_source, logs
):
    refuse_contacts(database_url, errcode="P0001")
    sync = local_sync(template, database_url, sample_source)
    with sync.local:
        execution = sync.run()

    assert execution.status == "FAILED"
    [failed] = [e for e in execution.history if e["type"] == "LambdaFunctionFailed"]
    assert failed["lambdaFunctionFailedEventDetails"]["error"] == "DatabaseError"  # permanent: not retried
    assert execution.cause == "DatabaseError: P0001: refused"
    [job] = sync.query("SELECT status, error FROM job_log")
    assert job == {"status": "FAILED", "error": "DatabaseError: P0001: refused"}
    logged = logs()
    assert "DatabaseError: P0001: refused" in logged
    assert_no_row_data(json.dumps(execution.history, default=str), logged)


@pytest.mark.slow
def test_a_malformed_database_url_fails_the_run_naming_no_part_of_it(template, sample_source, logs):
    sync = local_sync(template, MALFORMED_URL, sample_source)
    with sync.local:
        execution = sync.run()

    # StartJob cannot connect, nor can FailJob record it: the run fails with FailJob's error, not retried.
    assert (execution.status, execution.error) == ("FAILED", "InvalidDatabaseUrl")
    assert "the database URL is malformed: percent-encode special characters such as @" in not_none(execution.cause)
    failed = [e["lambdaFunctionFailedEventDetails"] for e in execution.history if e["type"] == "LambdaFunctionFailed"]
    assert [f["error"] for f in failed] == ["InvalidDatabaseUrl", "InvalidDatabaseUrl"]
    everything = json.dumps(execution.history, default=str) + logs()
    assert not [part for part in URL_PARTS if part in everything]


@pytest.mark.parametrize(
    "url", [MALFORMED_URL, "postgresql://tender_owner:hunter2/s3cr3t@db-7f3a.internal/tenders_prod"]
)
def test_a_password_with_an_unescaped_at_or_slash_is_refused_before_connecting(url):
    with pytest.raises(InvalidDatabaseUrl) as raised:
        database.connection_string(url)
    assert not [part for part in URL_PARTS if part in str(raised.value)]


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1:1", "Connection refused"),
        ("db-7f3a.invalid", "failed to resolve host …"),
    ],
)
def test_a_connection_failure_names_no_part_of_the_url(monkeypatch, host, reason):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://tender_owner:hunter2@{host}/tenders_prod?sslmode=disable")
    monkeypatch.delenv("DATABASE_PROXY_ENDPOINT", raising=False)

    with pytest.raises(DatabaseUnavailable) as raised, database.connect():
        pass

    message = str(raised.value)
    assert message.startswith(f"cannot connect to the database: {reason}")
    assert not [part for part in (*URL_PARTS, "127.0.0.1") if part in message]


def test_a_failure_is_recorded_in_one_bounded_line():
    cause = json.dumps({"errorMessage": "x" * 2000 + "\nsecond line"})

    message = describe_failure({"Error": "SourceRejected", "Cause": cause})

    assert len(message) == 500 and message.startswith("SourceRejected: xxx") and message.endswith("…")
