"""Migrations at deploy, least privilege at run time: the migrator applies what is missing as the schema's owner, a
first step refuses a schema that is behind in one line, and the deploy-time handler waits for the owner's URL."""

import boto3
import psycopg
import pytest
from moto import mock_aws

from local.engine.stack import LambdaContext
from tender_sync import aws, settings
from tender_sync.errors import SchemaBehind
from tender_sync.storage import migrations

REGION = "us-east-1"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:SyncStateMachine:run-1"


def migrate_handler(monkeypatch, owner_url: str) -> dict[str, object]:
    """MigrateSchema as the trigger runs it, its owner's secret holding owner_url."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="tender-sync-owner", SecretString=owner_url
        )
        monkeypatch.setenv("DATABASE_OWNER_SECRET_ARN", secret["ARN"])
        aws.client.cache_clear()
        aws._secrets.cache_clear()
        from tender_sync.handlers import migrate_schema

        migrate_schema.OWNER = settings.from_env(settings.OwnerSettings)
        try:
            return migrate_schema.handler({"RequestType": "Create"}, LambdaContext("MigrateSchema"))
        finally:
            aws._secrets.cache_clear()


def test_the_deploy_time_migration_applies_every_migration_once(monkeypatch, empty_database_url):
    url = psycopg.conninfo.make_conninfo(empty_database_url)
    owner_url = f"postgresql:///{psycopg.conninfo.conninfo_to_dict(url)['dbname']}?" + "&".join(
        f"{key}={value}" for key, value in psycopg.conninfo.conninfo_to_dict(url).items() if key != "dbname"
    )
    assert migrate_handler(monkeypatch, owner_url) == {"applied": migrations.versions(), "configured": True}
    assert migrate_handler(monkeypatch, owner_url) == {"applied": [], "configured": True}


def test_the_deploy_time_migration_waits_for_the_owners_url(monkeypatch):
    """The secret the stack generated holds a random string until the operator sets it: the deploy goes on."""
    assert migrate_handler(monkeypatch, "Xr8#generated-placeholder") == {"applied": [], "configured": False}


def test_a_schema_that_is_behind_is_named_by_its_first_missing_migration(empty_database_url):
    with psycopg.connect(empty_database_url) as conn:
        later = len(migrations.versions()) - 1
        with pytest.raises(
            SchemaBehind, match=rf"migration 001_tables is not applied \(nor {later} after it\); run `make migrate`"
        ):
            migrations.require_current(conn)
        migrations.migrate(conn)
        migrations.require_current(conn)
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (migrations.versions()[-1],))
        with pytest.raises(SchemaBehind, match=f"migration {migrations.versions()[-1]} is not applied;"):
            migrations.require_current(conn)


def test_a_first_step_on_a_schema_that_is_behind_fails_in_one_line_and_writes_nothing(monkeypatch, empty_database_url):
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    from tender_sync.handlers.start_job import handler

    with pytest.raises(SchemaBehind) as raised:
        handler({"input": {}, "executionId": EXECUTION}, LambdaContext("StartJob"))
    assert "\n" not in str(raised.value)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT to_regclass('job_log')").fetchone() == (None,)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("postgresql://u:p@ss@127.0.0.1:1/x", "InvalidDatabaseUrl: the database URL is malformed"),
        ("postgresql://u:secret@127.0.0.1:1/x?sslmode=disable", "DatabaseUnavailable: cannot connect to the database"),
    ],
)
def test_make_migrate_and_make_run_say_why_a_database_cannot_be_used_in_one_line(monkeypatch, capsys, url, error):
    """A password holding @, a refused port: one line, quoting no part of the URL."""
    from local import migrate
    from local.engine.database import migrated_database_url

    monkeypatch.setenv("DATABASE_URL", url)
    assert migrate.main([]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"migrate failed: {error}")
    with pytest.raises(SystemExit) as raised:
        migrated_database_url()
    assert str(raised.value).startswith(f"database: {error}")
    for shown in (line, str(raised.value)):
        assert "ss@127" not in shown and "secret" not in shown
