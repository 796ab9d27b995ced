"""Shared fixtures: a real PostgreSQL (embedded, or DATABASE_URL), one fresh database per test; the sample source."""

import os
from collections.abc import Iterator

import psycopg
import pytest

# Source retries really sleep: keep their backoff short here (RequestPolicy in tender_sync.source.requests).
os.environ.setdefault("SOURCE_BACKOFF_SECONDS", "0.01")
# The tests' sample source, here and in the `make up` they start, serves the fixed data (September 2025) whatever
# the day; the tests of the live data ask for it (SampleSource(fixed=False)).
os.environ["SAMPLE_FIXED"] = "1"

from local.engine.database import fresh_database, local_database_url
from local.sample_source.server import SampleSource
from local.toolchain import ROOT
from tender_sync.storage import migrations
from tests.helpers import DEFAULT_CONFIG

# The settings the stack gives its functions (cdk.json's), for the tests that parse inputs or run handlers here.
for name, value in DEFAULT_CONFIG.settings_environment().items():
    os.environ.setdefault(name, value)

TEST_DATA_DIR = ROOT / ".local" / "test-pgdata"


@pytest.fixture(scope="session")
def server_url() -> str:
    return local_database_url(TEST_DATA_DIR)


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A new, empty database on the shared server, dropped after the test."""
    with fresh_database(server_url) as url:
        yield url


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A fresh database with the migrations applied."""
    with psycopg.connect(empty_database_url) as conn:
        migrations.migrate(conn)
    return empty_database_url


@pytest.fixture(scope="session")
def sample_source() -> Iterator[SampleSource]:
    """The default sample eTenders source (200 tenders, 220 releases over September 2025), on 127.0.0.1."""
    with SampleSource(fixed=True) as source:
        yield source
