"""The shapes that travel between the steps and into the database."""
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EnrichmentStatus = Literal["pending", "enriched", "not_found", "failed"]


class Tender(BaseModel):
    """One tender, normalized from the newest OCDS release of its ocid."""

    ocid: str
    release_id: str
    release_date: datetime
    tender_number: str | None = None
    title: str | None = None
    description: str | None = None
    status: str | None = None
    main_category: str | None = None
    detailed_category: str | None = None
    province: str | None = None
    buyer_name: str | None = None
    close_date: datetime | None = None
    value_amount: Decimal | None = None
    currency: str | None = None
    enrichment_status: EnrichmentStatus = "pending"
    enrichment_error: str | None = None
    # Portal-style details: delivery location, briefing session, conditions, contact (personal data: never log).
    details: dict[str, Any] | None = None
    raw: dict[str, Any]


class EnrichmentItem(BaseModel):
    """A tender due a portal lookup: the claim ticket the lookup works from."""

    model_config = ConfigDict(extra="forbid")

    ocid: str
    tenderNumber: str | None


class EnrichmentBatch(BaseModel):
    """One Map item: the tenders one child looks up, one after another, at its share of the portal's rate."""

    batch: int
    tenders: list[EnrichmentItem]


class EnrichmentResult(BaseModel):
    """What one lookup found."""

    ocid: str
    status: Literal["enriched", "not_found", "failed"]
    detailed_category: str | None = None
    province: str | None = None
    details: dict[str, Any] | None = None
    error: str | None = None


class Window(BaseModel):
    """A half-open date window [date_from, date_to) of release dates; `from` and `to` in JSON, as an execution
    input gives them."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")


class BackfillPlan(BaseModel):
    """What a backfill works through: [rangeFrom, rangeTo) in windows of windowDays days, in order."""

    rangeFrom: date
    rangeTo: date
    windowDays: int


class BatchResult(BaseModel):
    """What one child's lookups found, written to S3 as one object for StoreEnrichment."""

    batch: int
    results: list[EnrichmentResult]
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
