"""Alerts' shapes: a subscription and its filters, the deliveries a run makes (the Map's items, in batches), and
what each delivery came to."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tender_sync.changes.events import Change

Channel = Literal["email", "webhook"]
Frequency = Literal["instant", "daily"]


class Filters(BaseModel):
    """What a subscription matches; each filter is optional, and one with none matches every tender."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(default_factory=list, description="Any of these detailed categories (exact)")
    provinces: list[str] = Field(default_factory=list, description="Any of these provinces (exact)")
    buyers: list[str] = Field(default_factory=list, description="Any of these, in the buyer's name (any case)")
    query: str | None = Field(default=None, description="websearch_to_tsquery('english', ...) over title, description")
    min_value: Decimal | None = Field(default=None, description="The tender's value at least this")


# A validation error names the fields, never their values: an address is personal data.
HIDE_INPUT = ConfigDict(hide_input_in_errors=True)


class NewSubscription(BaseModel):
    """A subscription as `alerts add` (or the product's app) asks for it."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    channel: Channel
    address: str = Field(description="An email address, or the webhook's HTTPS URL: personal data")
    filters: Filters = Field(default_factory=Filters)
    frequency: Frequency = "instant"
    updates: bool = Field(default=False, description="Also each later newer release of a tender already notified")


class Subscription(NewSubscription):
    """A stored subscription. Its signing secret is never read into it."""

    id: int
    paused_at: datetime | None
    paused_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class MatchedTender(BaseModel):
    """A tender in a delivery, as the webhook's body and the email list it."""

    ocid: str
    title: str | None
    description: str | None
    buyer: str | None
    detailedCategory: str | None
    province: str | None
    closeDate: datetime | None
    valueAmount: Decimal | None
    url: str
    change: Change


class Delivery(BaseModel):
    """One notification to one subscription: the same id (the webhook-id, the email's Message-ID) on every
    attempt."""

    model_config = HIDE_INPUT

    id: str
    subscription: int
    channel: Channel
    address: str
    # The webhook's signing secret, encrypted (tender_sync.alerts.secrets); None for email.
    secret: str | None = None
    # The change event's id, or digest/YYYY-MM-DD for a daily digest.
    event: str
    createdAt: datetime
    tenders: list[MatchedTender]


class DeliveryItem(BaseModel):
    """One Map item: the number of the batch one child sends. The batch itself, addresses and all, stays in S3,
    out of every execution's input."""

    batch: int


class DeliveryBatch(BaseModel):
    """The deliveries one child sends, one S3 object per batch (claim check)."""

    model_config = HIDE_INPUT

    batch: int
    deliveries: list[Delivery]


class DeliveryResult(BaseModel):
    """What one delivery came to. `error` names what failed, never the address. Not `attempted`: its batch ran
    out of time before it, and it is due again at once, its attempts unchanged."""

    id: str
    delivered: bool
    error: str | None = None
    attempted: bool = True


class DeliveryBatchResult(BaseModel):
    """What one child's deliveries came to, written to S3 as one object for RecordDeliveries."""

    batch: int
    results: list[DeliveryResult]


class DeliveryPlan(BaseModel):
    """The deliveries a run makes, in batches: the Map's items object, and where the results go."""

    bucket: str
    itemsKey: str
    batchesPrefix: str
    resultsPrefix: str
    batches: int
    deliveries: int
