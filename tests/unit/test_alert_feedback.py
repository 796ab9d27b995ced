"""SES's EventBridge events: which pause a subscription, and why."""

import copy
from typing import Any

import pytest

from tender_sync.alerts.feedback import paused_by

# As SES publishes them to EventBridge through a configuration set's event destination (the detail is the event
# record SES publishes to every destination).
MAIL = {
    "timestamp": "2025-09-01T08:40:02.012Z",
    "source": "alerts@tenders.example.org",
    "sendingAccountId": "123456789012",
    "messageId": "0100019a-EXAMPLE",
    "destination": ["reader@example.org"],
    "tags": {"ses:configuration-set": ["alerts"], "ses:from-domain": ["tenders.example.org"], "subscription": ["42"]},
}
BOUNCE = {
    "version": "0",
    "id": "a6e1b0ab-0000-0000-0000-000000000000",
    "detail-type": "Email Bounced",
    "source": "aws.ses",
    "account": "123456789012",
    "time": "2025-09-01T08:41:02Z",
    "region": "af-south-1",
    "resources": ["arn:aws:ses:af-south-1:123456789012:configuration-set/alerts"],
    "detail": {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "reader@example.org", "action": "failed", "status": "5.1.1"}],
            "timestamp": "2025-09-01T08:41:02.669Z",
            "feedbackId": "0100019a-EXAMPLE-000000",
        },
        "mail": MAIL,
    },
}
COMPLAINT = {
    **BOUNCE,
    "detail-type": "Email Complaint Received",
    "detail": {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "reader@example.org"}],
            "timestamp": "2025-09-01T09:00:00.000Z",
            "feedbackId": "0100019a-EXAMPLE-000001",
            "complaintFeedbackType": "abuse",
        },
        "mail": MAIL,
    },
}


def changed(event: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """The event with the value at path replaced (removed when value is ...)."""
    event = copy.deepcopy(event)
    parent = event
    for name in path[:-1]:
        parent = parent[name]
    if value is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return event


def test_a_permanent_bounce_pauses_its_subscription():
    assert paused_by(BOUNCE) == (42, "email bounced")


def test_a_complaint_pauses_its_subscription():
    assert paused_by(COMPLAINT) == (42, "email complaint")


@pytest.mark.parametrize(
    "event",
    [
        changed(BOUNCE, ["detail", "bounce", "bounceType"], "Transient"),
        changed(BOUNCE, ["detail", "bounce", "bounceType"], "Undetermined"),
        changed(BOUNCE, ["detail", "bounce"], ...),
        changed(BOUNCE, ["detail-type"], "Email Delivered"),
        changed(BOUNCE, ["source"], "tender-sync"),
        changed(BOUNCE, ["detail", "mail", "tags", "subscription"], ...),
        changed(BOUNCE, ["detail", "mail", "tags", "subscription"], []),
        changed(BOUNCE, ["detail", "mail", "tags", "subscription"], ["forty-two"]),
        changed(BOUNCE, ["detail", "mail", "tags", "subscription"], ["-1"]),
        changed(BOUNCE, ["detail", "mail", "tags"], ...),
        changed(COMPLAINT, ["detail", "mail"], ...),
        changed(COMPLAINT, ["detail"], "not an object"),
        changed(COMPLAINT, ["detail-type"], ...),
        {},
    ],
    ids=[
        "transient bounce",
        "undetermined bounce",
        "bounce without its bounce",
        "delivered",
        "another source",
        "no subscription tag",
        "empty subscription tag",
        "subscription not a number",
        "subscription negative",
        "no tags",
        "no mail",
        "detail not an object",
        "no detail-type",
        "empty",
    ],
)
def test_anything_else_pauses_nothing(event):
    assert paused_by(event) is None
