"""The local PostgreSQL: DATABASE_URL when set, else an embedded server (pgserver) in a folder of ours; and fresh
databases on it."""

import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from local.toolchain import ROOT
from tender_sync.errors import DatabaseError, DatabaseUnavailable, InvalidDatabaseUrl, SchemaBehind
from tender_sync.runs import cleanup
from tender_sync.storage import database, migrations

DEFAULT_DATA_DIR = ROOT / ".local" / "pgdata"


def local_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """The URL to use, starting the embedded server (kept running until this process exits) if needed."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    with warnings.catch_warnings():  # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    return get_server(data_dir, cleanup_mode="stop").get_uri()


def migrated_database_url() -> str:
    """local_database_url's database with every migration applied: `make run`, `make up` and the CLI bring the
    database they use up to date themselves, as its owner. A schema already current is left alone, so a user that
    may only read and write (the functions' user, after `make migrate`) runs them too. Connected to as the functions
    connect: a database that cannot be reached ends the command with one line that quotes no part of the URL."""
    url = local_database_url()
    try:
        with database.connect(url) as conn:
            try:
                migrations.require_current(conn)
            except SchemaBehind:
                migrations.migrate(conn)
    except (DatabaseUnavailable, DatabaseError, InvalidDatabaseUrl) as error:
        raise SystemExit(f"database: {type(error).__name__}: {error}") from None
    return url


def close_stopped_jobs(url: str, execution_arns: list[str], reason: str) -> None:
    """What cleanup does for executions that ended without finishing their jobs, done at once for those stopped
    here: each one's job_log row left RUNNING closed FAILED with `reason` (its duration ending now), its lease and
    its claims on lookups freed. Other executions' rows are left alone."""
    stopped = set(execution_arns)
    with database.connect(url) as conn:
        cleanup.clean_up(conn, lambda arn: "ABORTED" if arn in stopped else "RUNNING", why=lambda status: reason)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server `server_url` reaches, dropped afterwards with whatever connections
    are still open to it."""
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
