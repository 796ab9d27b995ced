"""Whole executions of the synthesized state machine on this machine, against the sample source."""
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import psycopg
import pytest

from infra.stack import synth_template
from local.engine.stack import LocalStack
from local.sample_source.server import SampleSource
from local.schemas import SCHEMAS_DIR
from tender_sync.changes.events import DETAIL_TYPE
from tender_sync.workflows import SYNC

EVENT_SCHEMA = json.loads((SCHEMAS_DIR / "tenders-changed.json").read_text())


@pytest.fixture(autouse=True)
def every_published_event_validates(monkeypatch):
    """Every Tenders Changed event any local run here publishes is checked against the schema in the repository."""
    validator = jsonschema.Draft4Validator(EVENT_SCHEMA, format_checker=jsonschema.FormatChecker())
    published_events = LocalStack.published_events

    def checked(local: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
        events = published_events(local, execution_arn)
        for event in events:
            if event["detail-type"] == DETAIL_TYPE:
                validator.validate(event)
        return events

    monkeypatch.setattr(LocalStack, "published_events", checked)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    # Lookups paced for tests, not for the real portal: pacing itself is tested in tests/integration/test_backlog.py.
    return synth_template(context={"portalRequestsPerSecond": 1000})


@pytest.fixture(scope="session")
def sample_source() -> Iterator[SampleSource]:
    with SampleSource() as source:
        yield source


class Sync:
    """The local stack wired to one test database, with helpers to run syncs and read the tables."""

    def __init__(self, local: LocalStack, template: dict[str, Any], database_url: str):
        self.local, self.database_url = local, database_url
        self.state_machine = SYNC.state_machine_id(template)

    def run(self, **execution_input: Any):
        return self.local.execute(self.state_machine, {"triggeredBy": "test", **execution_input})

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url) as conn:
            cursor = conn.execute(sql, params)
            return [dict(zip([c.name for c in cursor.description], row)) for row in cursor.fetchall()]


def local_sync(template, database_url: str, ocds_url: str, portal_url: str) -> LocalStack:
    environment = {"DATABASE_URL": database_url, "OCDS_BASE_URL": ocds_url, "PORTAL_BASE_URL": portal_url}
    return LocalStack(template, environment)


@pytest.fixture
def sync(template, database_url, sample_source) -> Iterator[Sync]:
    with local_sync(template, database_url, sample_source.url, sample_source.url) as local:
        yield Sync(local, template, database_url)
