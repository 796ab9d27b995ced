"""SES's bounces and complaints, as its configuration set publishes them to EventBridge: the subscriptions they
pause. Each alert email carries its subscription's id as the `subscription` tag (tender_sync.alerts.email), which
SES copies into the event's detail.mail.tags."""

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from tender_sync.alerts.email import TAG

SOURCE = "aws.ses"
BOUNCED = "Email Bounced"
COMPLAINED = "Email Complaint Received"
REASONS = {BOUNCED: "email bounced", COMPLAINED: "email complaint"}


class _Bounce(BaseModel):
    bounceType: str


class _Mail(BaseModel):
    tags: dict[str, list[str]] = Field(default_factory=dict)


class _Detail(BaseModel):
    bounce: _Bounce | None = None
    mail: _Mail


class _Event(BaseModel):
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: _Detail


def paused_by(event: dict[str, Any]) -> tuple[int, str] | None:
    """The subscription to pause and why: a permanent bounce or a complaint about one of its emails. None for any
    other event (a transient bounce, one without the tag, one not from SES)."""
    try:
        parsed = _Event.model_validate(event)
    except ValidationError:
        return None
    if parsed.source != SOURCE or parsed.detail_type not in REASONS:
        return None
    if parsed.detail_type == BOUNCED and (
        parsed.detail.bounce is None or parsed.detail.bounce.bounceType != "Permanent"
    ):
        return None
    values = parsed.detail.mail.tags.get(TAG) or [""]
    if not (values[0].isascii() and values[0].isdigit()):
        return None
    return int(values[0]), REASONS[parsed.detail_type]
