"""The change events' JSON Schemas in docs/schemas/ are current with their Pydantic models, and are valid draft 4,
as EventBridge's schema registry takes them; what the models produce validates against them."""

import json
from datetime import UTC, date, datetime
from typing import Any

import jsonschema
import pytest

from local.schemas import schemas, text
from tender_sync.changes.events import (
    DETAIL_TYPE,
    EVENT_SOURCE,
    ChangeCounts,
    ChangesObject,
    TenderChange,
    TendersChanged,
)
from tender_sync.models.jobs import Window


@pytest.mark.parametrize("path", list(schemas()), ids=lambda path: path.name)
def test_each_schema_file_is_current_and_valid_draft_4(path):
    assert path.read_text() == text(schemas()[path]), "run `make schemas` and commit docs/schemas/"
    jsonschema.Draft4Validator.check_schema(json.loads(path.read_text()))


def detail(window: Window | None) -> TendersChanged:
    return TendersChanged(
        id="arn:aws:states:af-south-1:1:execution:m:e/2025-09-01/2025-09-08",
        source="etenders-za",
        workflow="sync",
        executionId="arn:aws:states:af-south-1:1:execution:m:e",
        window=window,
        recordedAt=datetime(2025, 9, 8, 10, tzinfo=UTC),
        counts=ChangeCounts(new=1, updated=2, enriched=3),
        changes=ChangesObject(bucket="b", key="runs/m/e/changes/2025-09-01_2025-09-08.jsonl", tenders=6),
    )


@pytest.mark.parametrize("window", [Window(date_from=date(2025, 9, 1), date_to=date(2025, 9, 8)), None])
def test_an_event_as_the_state_machine_sends_it_validates(window):
    [event_path, _] = schemas()
    event: dict[str, Any] = {
        "version": "0",
        "id": "x",
        "detail-type": DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": "1",
        "time": "2025-09-08T10:00:00Z",
        "region": "af-south-1",
        "resources": [],
        "detail": detail(window).model_dump(mode="json"),
    }
    validator = jsonschema.Draft4Validator(
        json.loads(event_path.read_text()), format_checker=jsonschema.FormatChecker()
    )
    validator.validate(event)
    assert event["detail"]["window"] == (None if window is None else {"from": "2025-09-01", "to": "2025-09-08"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**event, "detail-type": "Something Else"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**event, "detail": {**event["detail"], "counts": {"new": "many"}}})


def test_a_change_line_validates_and_a_wrong_kind_does_not():
    [_, line_path] = schemas()
    validator = jsonschema.Draft4Validator(json.loads(line_path.read_text()))
    line = TenderChange(
        ocid="ocds-9t57fa-1",
        change="new",
        releaseDate=datetime(2025, 9, 1, tzinfo=UTC),
        title=None,
        buyer="Transnet",
        detailedCategory=None,
        province=None,
        closeDate=None,
    ).model_dump(mode="json")
    validator.validate(line)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**line, "change": "deleted"})
