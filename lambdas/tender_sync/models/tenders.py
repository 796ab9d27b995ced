"""A tender as it is stored: normalized from the newest OCDS release of its ocid."""

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

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
