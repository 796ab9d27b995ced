"""Where a webhook may point: an HTTPS URL whose host resolves only to public addresses, checked when it is added
and again at each delivery (DNS can change). On this machine only, WEBHOOK_ALLOW_LOOPBACK=1 also lets
http://127.0.0.1:PORT/ through, for development and tests; a deployed function never honours it."""

import ipaddress
import os
import socket
from urllib.parse import urlsplit

# Set in every Lambda function's environment by the Lambda service itself.
ON_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"


class WebhookRefused(ValueError):
    """A webhook target this stack will not call; the text names why, never the URL."""


def loopback_allowed() -> bool:
    """WEBHOOK_ALLOW_LOOPBACK=1, off Lambda."""
    return os.environ.get("WEBHOOK_ALLOW_LOOPBACK") == "1" and ON_LAMBDA not in os.environ


def addresses(url: str, allow_loopback: bool | None = None) -> tuple[str, str, int, list[str]]:
    """The URL's scheme, host, port and the addresses to connect to, each checked. WebhookRefused when it is not
    HTTPS, or when its host does not resolve, or resolves to any address that is not public."""
    allow_loopback = loopback_allowed() if allow_loopback is None else allow_loopback
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookRefused("the webhook URL is malformed") from None
    host = parts.hostname or ""
    if not host:
        raise WebhookRefused("the webhook URL has no host")
    if parts.username or parts.password:
        raise WebhookRefused("the webhook URL carries credentials")
    if parts.scheme == "http" and allow_loopback and _is_loopback_literal(host):
        return "http", host, port or 80, [host]
    if parts.scheme != "https":
        raise WebhookRefused("the webhook URL is not HTTPS")
    port = port or 443
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        raise WebhookRefused("the webhook's host does not resolve") from None
    for address in sorted(found):
        ip = ipaddress.ip_address(address.split("%")[0])
        if not _is_public(ip):
            raise WebhookRefused(f"the webhook's host resolves to {_kind(ip)} address")
    return "https", host, port, sorted(found)


def check(url: str, allow_loopback: bool | None = None) -> None:
    """WebhookRefused unless the URL is one a delivery may go to."""
    addresses(url, allow_loopback)


def _is_loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _is_public(ip.ipv4_mapped)
    return ip.is_global and not ip.is_multicast


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    for kind, flag in (
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a private", ip.is_private),
        ("a multicast", ip.is_multicast),
        ("a reserved", ip.is_reserved),
        ("an unspecified", ip.is_unspecified),
    ):
        if flag:
            return kind
    return "a non-public"
