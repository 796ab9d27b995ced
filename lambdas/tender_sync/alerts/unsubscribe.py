"""The one-click unsubscribe endpoint (a Lambda function URL): each email's link, and the pages it answers with.
GET asks to confirm (a mail scanner that follows links must not unsubscribe anyone); POST, from that page's form or
from a mail client's one-click button (RFC 8058), pauses the subscription."""

import html
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from tender_sync.alerts import secrets

REASON = "unsubscribed"
HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    # The link carries its token: no page may frame this one, nor learn the URL from a referrer.
    "content-security-policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


def link(unsubscribe_url: str, subscription: int, key: bytes) -> str:
    """The subscription's unsubscribe link: the endpoint's URL, the subscription's id and its token."""
    return f"{unsubscribe_url}?{_query(subscription, secrets.unsubscribe_token(subscription, key))}"


def respond(event: dict[str, Any], key: bytes, pause: Callable[[int, str], bool]) -> dict[str, Any]:
    """The function URL's answer to a request (payload format 2.0). `pause(id, reason)` pauses the subscription,
    False when there is none (already deleted: it is gone all the same)."""
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    if method not in ("GET", "POST"):
        return _page(405, "Not allowed", "This address answers GET and POST only.", {"allow": "GET, POST"})
    subscription = _subscription(event.get("queryStringParameters") or {}, key)
    if subscription is None:
        return _page(
            403,
            "This link does not work",
            "It may have been copied incompletely. Use the link in a recent alert email.",
        )
    if method == "GET":
        action = html.escape(f"?{_query(subscription, secrets.unsubscribe_token(subscription, key))}")
        form = f'<form method="post" action="{action}"><button type="submit">Unsubscribe</button></form>'
        return _page(200, "Stop these alerts?", "You will get no more emails from this alert.", form=form)
    pause(subscription, REASON)
    return _page(200, "Unsubscribed", "You will get no more of these alerts.")


def _query(subscription: int, token: str) -> str:
    return urlencode({"s": subscription, "t": token})


def _subscription(parameters: dict[str, str], key: bytes) -> int | None:
    """The subscription the link names, when its token is the one made for it."""
    text, token = parameters.get("s", ""), parameters.get("t", "")
    # compare_digest takes ASCII text only.
    if not (text.isascii() and text.isdigit() and token.isascii()):
        return None
    subscription = int(text)
    return subscription if secrets.is_unsubscribe_token(subscription, token, key) else None


def _page(
    status: int, title: str, text: str, extra_headers: dict[str, str] | None = None, form: str = ""
) -> dict[str, Any]:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    )
    return {"statusCode": status, "headers": {**HEADERS, **(extra_headers or {})}, "body": body}
