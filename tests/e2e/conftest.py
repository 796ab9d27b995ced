"""Whole executions of the synthesized state machine on this machine, against the sample source."""

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from infra.stack import synth_template
from local.engine.stack import LocalStack
from local.sample_source.server import SampleSource
from tender_sync.changes.events import DETAIL_TYPE
from tests.helpers.local_stack import EVENT_SCHEMA, Sync, local_sync


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


@pytest.fixture
def sync(template: dict[str, Any], database_url: str, sample_source: SampleSource) -> Iterator[Sync]:
    with local_sync(template, database_url, sample_source.url, sample_source.url) as local:
        yield Sync(local, template, database_url)
