"""Shared fixtures: a real PostgreSQL (embedded, or DATABASE_URL), one fresh database per test."""
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from local import toolchain

toolchain.prepare()
# Source retries really sleep: keep their backoff short here (RequestPolicy in tender_sync.source_requests).
os.environ.setdefault("SOURCE_BACKOFF_SECONDS", "0.01")

from aws_cdk import App  # noqa: E402

from infra.config import SyncConfig  # noqa: E402
from tender_sync import db  # noqa: E402

# The settings the stack gives its functions (cdk.json's), for the tests that parse inputs or run handlers here.
for name, value in SyncConfig.from_context(App().node).settings_environment().items():
    os.environ.setdefault(name, value)

TEST_DATA_DIR = Path(__file__).resolve().parents[1] / ".local" / "test-pgdata"


@pytest.fixture(scope="session")
def server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pgserver

    TEST_DATA_DIR.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(TEST_DATA_DIR, cleanup_mode="stop").get_uri()


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A new, empty database on the shared server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A fresh database with the migrations applied."""
    with psycopg.connect(empty_database_url) as conn:
        db.migrate(conn)
    return empty_database_url
