"""Webhook deliveries, signed as Standard Webhooks (standardwebhooks.com) signs them. Each request goes to an
address the target's check passed at that moment (DNS can change between the check and the request): the
connection is pinned to that IP, with the hostname for TLS's SNI and certificate check. No redirects, no retries
(a later run retries), one timeout. Errors name what failed, never the URL or its host."""

import base64
import hashlib
import hmac
import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from tender_sync.alerts import secrets, targets
from tender_sync.alerts.models import Delivery, DeliveryResult

EVENT_TYPE = "tenders.matched"
TIMEOUT_SECONDS = 5.0


def body(delivery: Delivery) -> bytes:
    """The request's JSON body: the delivery's tenders, values as JSON numbers and times as ISO 8601."""
    payload = {
        "type": EVENT_TYPE,
        "timestamp": delivery.createdAt,
        "data": {
            "subscription": delivery.subscription,
            "event": delivery.event,
            "tenders": [tender.model_dump() for tender in delivery.tenders],
        },
    }
    return json.dumps(payload, default=_json_value, separators=(",", ":")).encode()


def _json_value(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        # An amount as a number: whole ones exactly; others as the nearest float, exact to 15 digits.
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def headers(delivery_id: str, timestamp: int, body: bytes, secret: str) -> dict[str, str]:
    """The request's headers: webhook-id, webhook-timestamp (unix seconds) and webhook-signature, the HMAC-SHA256
    of "id.timestamp.body" with the secret (whsec_ and base64)."""
    key = base64.b64decode(secret.removeprefix(secrets.WEBHOOK_SECRET_PREFIX))
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "content-type": "application/json",
        "user-agent": "tender-sync",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }


def send(
    delivery: Delivery,
    key: bytes,
    now: datetime,
    allow_loopback: bool | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> DeliveryResult:
    """One attempt at the delivery, signed at `now`: delivered on a 2xx answer, else failed with what went wrong.
    allow_loopback as targets.addresses takes it (None: the environment decides)."""
    if delivery.secret is None:
        return DeliveryResult(id=delivery.id, delivered=False, error="the webhook has no signing secret")
    try:
        secret = secrets.decrypt(delivery.secret, key)
        scheme, host, port, ips = targets.addresses(delivery.address, allow_loopback)
    except ValueError as error:  # WebhookRefused, or a secret that does not open: neither names the URL
        return DeliveryResult(id=delivery.id, delivered=False, error=str(error))
    content = body(delivery)
    request_headers = headers(delivery.id, int(now.timestamp()), content, secret)
    request_headers["host"] = _host_header(scheme, host, port)
    parts = urlsplit(delivery.address)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool = _pool(scheme, host, port, _preferred(ips), timeout)
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=content,
            headers=request_headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
        )
        status = response.status
        response.close()
    except HTTPError as error:
        return DeliveryResult(id=delivery.id, delivered=False, error=_describe(error, timeout))
    finally:
        pool.close()
    if 200 <= status < 300:
        return DeliveryResult(id=delivery.id, delivered=True)
    return DeliveryResult(id=delivery.id, delivered=False, error=f"HTTP {status}")


def _pool(scheme: str, host: str, port: int, ip: str, timeout: float) -> HTTPConnectionPool:
    if scheme == "http":  # only a loopback literal, in development (targets.addresses)
        return HTTPConnectionPool(ip, port, timeout=Timeout(total=timeout), maxsize=1)
    return HTTPSConnectionPool(
        ip,
        port,
        timeout=Timeout(total=timeout),
        maxsize=1,
        cert_reqs="CERT_REQUIRED",
        server_hostname=host,
        assert_hostname=host,
    )


def _preferred(ips: list[str]) -> str:
    """An IPv4 address when there is one: a Lambda function often has no route over IPv6."""
    return next((ip for ip in ips if ":" not in ip), ips[0])


def _host_header(scheme: str, host: str, port: int) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port == {"http": 80, "https": 443}[scheme] else f"{name}:{port}"


def _describe(error: HTTPError, timeout: float) -> str:
    """The failure in a few words: urllib3's own texts name the pool's host, so none of them is used."""
    if isinstance(error, NewConnectionError):
        return "connection refused" if isinstance(error.__cause__, ConnectionRefusedError) else "could not connect"
    if isinstance(error, Urllib3Timeout):
        return f"timed out after {timeout:g} s"
    if isinstance(error, SSLError):
        return "TLS handshake failed"
    if isinstance(error, ProtocolError):
        return "the connection closed without an answer"
    return f"the request failed ({type(error).__name__})"
