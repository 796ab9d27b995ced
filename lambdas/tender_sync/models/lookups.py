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
    """One Map item: the tenders one child looks up, one after another, at its share of the portal's rate, from
    firstLookupAt on. The children the Map runs at once start 1/portalRequestsPerSecond apart, so that their
    lookups interleave evenly instead of arriving together."""

    batch: int
    tenders: list[LookupItem]
    firstLookupAt: datetime | None = None


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
    """The tenders a run will look up, in batches: the Map's items object, where the results go, and the run's range
    of the portal's schedule: its lookups start at notBefore (the state machine waits until then) and end by
    notAfter, so that runs at once stay within the portal's rate together."""

    bucket: str
    itemsKey: str
    resultsPrefix: str
    batches: int
    tenders: int
    notBefore: datetime | None = None
    notAfter: datetime | None = None
