"""The shapes that travel between the steps and into the database."""
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
    """One Map item: the claim ticket for a tender that needs a portal lookup."""

    model_config = ConfigDict(extra="forbid")

    ocid: str
    tenderNumber: str | None


class EnrichmentResult(BaseModel):
    """What one enrichment found, written to S3 for UpsertTenders to merge."""

    ocid: str
    status: Literal["enriched", "not_found", "failed"]
    detailed_category: str | None = None
    province: str | None = None
    details: dict[str, Any] | None = None
    error: str | None = None


class Window(BaseModel):
    """A half-open date window [date_from, date_to) of release dates."""

    date_from: date
    date_to: date


class SyncRequest(BaseModel):
    """The sync state machine's execution input."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    maxEnrichment: int = Field(default=300, ge=0, le=10_000)
    triggeredBy: str = Field(default="manual", max_length=200)
    scheduledTime: str | None = None
    date_from: date | None = Field(default=None, alias="from")
    date_to: date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def window_is_whole(self) -> "SyncRequest":
        if (self.date_from is None) != (self.date_to is None):
            raise ValueError("give both 'from' and 'to', or neither")
        if self.date_from and self.date_to and self.date_from >= self.date_to:
            raise ValueError(f"'from' ({self.date_from}) must be before 'to' ({self.date_to}); 'to' is exclusive")
        return self

    def requested_window(self) -> "Window | None":
        if self.date_from is None or self.date_to is None:
            return None
        return Window(date_from=self.date_from, date_to=self.date_to)


def one_line(error: ValidationError) -> str:
    """A pydantic error as one line naming each bad field."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors(include_url=False)
    )
