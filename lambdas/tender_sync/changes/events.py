"""The Tenders Changed event: its detail and its changes' lines as Pydantic models, and their JSON Schemas
(docs/schemas, written by `make schemas`)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tender_sync.models.jobs import Window

# The event's source and detail-type on the bus.
EVENT_SOURCE = "tender-sync"
DETAIL_TYPE = "Tenders Changed"
Change = Literal["new", "updated", "enriched"]


class ChangeCounts(BaseModel):
    new: int = Field(description="Tenders stored for the first time")
    updated: int = Field(description="Tenders stored with a newer release")
    enriched: int = Field(description="Tenders that gained their detailed category, and were neither new nor updated")


class ChangesObject(BaseModel):
    """Where the changes are: a JSON-lines object of TenderChange, one line per tender."""

    bucket: str
    key: str
    tenders: int = Field(description="Its number of lines")


class TendersChanged(BaseModel):
    """The detail of a `Tenders Changed` event: one stored window's changes, listed in S3 (a claim check).
    Delivered at least once: deduplicate on `id`. The changes object expires with the run's other artifacts
    (artifactExpiryDays): copy what you keep."""

    model_config = ConfigDict(title="TendersChanged")

    id: str = Field(description="The same for every delivery of this event: the execution and the window")
    source: str = Field(description="The publisher, as job_log and sync_state name it")
    workflow: str = Field(description="sync, enrich-today, backfill or single-tender")
    executionId: str = Field(description="The Step Functions execution that stored the window")
    window: Window | None = Field(description="The window stored; null for a single tender")
    recordedAt: datetime = Field(description="When the window was stored")
    counts: ChangeCounts
    changes: ChangesObject


class TenderChange(BaseModel):
    """One line of a changes object: a tender as it is stored now, and how the run changed it. No contact fields."""

    model_config = ConfigDict(title="TenderChange")

    ocid: str
    change: Change
    releaseDate: datetime
    title: str | None
    buyer: str | None
    detailedCategory: str | None
    province: str | None
    closeDate: datetime | None


class ToPublish(BaseModel):
    """PrepareChanges' output: the unsent events, as PublishChanges' PutEvents entries."""

    # For AnythingToAnnounce?: a Choice cannot count a list.
    count: int
    entries: list[dict[str, Any]]

    @property
    def ids(self) -> list[str]:
        return [entry["Detail"]["id"] for entry in self.entries]


def event_schema() -> dict[str, Any]:
    """The JSON Schema (draft 4, as EventBridge's schema registry takes it) of a whole `Tenders Changed` event."""
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": DETAIL_TYPE,
        "description": " ".join((TendersChanged.__doc__ or "").split()),
        "type": "object",
        "required": ["detail-type", "source", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string", "description": "EventBridge's id: different for each delivery"},
            "detail-type": {"type": "string", "enum": [DETAIL_TYPE]},
            "source": {"type": "string", "enum": [EVENT_SOURCE]},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": {"$ref": "#/definitions/TendersChanged"},
        },
        "definitions": _definitions(TendersChanged),
    }


def change_schema() -> dict[str, Any]:
    """The JSON Schema (draft 4) of one line of a changes object."""
    schema = TenderChange.model_json_schema()
    return {"$schema": "http://json-schema.org/draft-04/schema#", **schema}


def _definitions(model: type[BaseModel]) -> dict[str, Any]:
    """The model and the models it holds, as draft 4 names them (definitions, not $defs)."""
    schema = model.model_json_schema(ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs", {})
    return {**definitions, model.model_config["title"]: schema}
