"""A portal lookup's shapes: the tenders planned, in batches (the Map's items), and what each lookup found."""

from datetime import datetime
from typing import Any, Literal
from pydantic import BaseModel, ConfigDict


class LookupItem(BaseModel):
    """A tender due a portal lookup: the claim ticket the lookup works from."""

    model_config = ConfigDict(extra="forbid")

    ocid: str
    tenderNumber: str | None


class LookupBatch(BaseModel):
    """One Map item: the tenders one child looks up, one after another, at its share of the portal's rate."""

    batch: int
    tenders: list[LookupItem]


class LookupResult(BaseModel):
    """What one lookup found."""

    ocid: str
    status: Literal["enriched", "not_found", "failed"]
    detailed_category: str | None = None
    province: str | None = None
    details: dict[str, Any] | None = None
    error: str | None = None


class BatchResult(BaseModel):
    """What one child's lookups found, written to S3 as one object for StoreLookups."""

    batch: int
    results: list[LookupResult]
    lookups: int
    throttled: int
    startedAt: datetime
    finishedAt: datetime


class LookupPlan(BaseModel):
    """The tenders a run will look up, in batches: the Map's items object and where the results go."""

    bucket: str
    itemsKey: str
    resultsPrefix: str
    batches: int
    tenders: int
