"""The unsubscribe endpoint's answers to a Lambda function URL's requests (payload format 2.0)."""

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tender_sync.alerts import secrets, unsubscribe
from tests.helpers.alert_sending import KEY

URL = "https://abc.lambda-url.af-south-1.on.aws/"


def request(method: str, query: dict[str, str] | None, body: str | None = None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/",
        "requestContext": {"http": {"method": method, "path": "/"}},
        "queryStringParameters": query,
        "body": body,
        "isBase64Encoded": False,
    }


def linked(subscription: int) -> dict[str, str]:
    """The query string of the subscription's link, as the function URL parses it."""
    return dict(parse_qsl(urlsplit(unsubscribe.link(URL, subscription, KEY)).query))


class Pauses:
    def __init__(self, found: bool = True):
        self.found = found
        self.calls: list[tuple[int, str]] = []

    def __call__(self, subscription: int, reason: str) -> bool:
        self.calls.append((subscription, reason))
        return self.found


def test_the_link_is_the_endpoint_with_the_subscription_and_its_token():
    assert unsubscribe.link(URL, 42, KEY) == f"{URL}?s=42&t={secrets.unsubscribe_token(42, KEY)}"


def test_get_asks_to_confirm_with_a_form_that_posts_the_same_link():
    pauses = Pauses()

    answer = unsubscribe.respond(request("GET", linked(42)), KEY, pauses)

    assert answer["statusCode"] == 200
    assert answer["headers"]["content-type"] == "text/html; charset=utf-8"
    assert "Stop these alerts?" in answer["body"]
    token = secrets.unsubscribe_token(42, KEY)
    assert f'<form method="post" action="?s=42&amp;t={token}">' in answer["body"]
    assert "<button" in answer["body"]
    assert pauses.calls == []  # a link scanner's GET unsubscribes no one


def test_post_pauses_the_subscription_as_unsubscribed():
    pauses = Pauses()

    answer = unsubscribe.respond(request("POST", linked(42), "List-Unsubscribe=One-Click"), KEY, pauses)

    assert answer["statusCode"] == 200
    assert "You will get no more of these alerts" in answer["body"]
    assert pauses.calls == [(42, "unsubscribed")]


def test_post_for_a_subscription_that_is_gone_still_answers_200():
    answer = unsubscribe.respond(request("POST", linked(42)), KEY, Pauses(found=False))

    assert answer["statusCode"] == 200
    assert "You will get no more of these alerts" in answer["body"]


@pytest.mark.parametrize(
    "query",
    [
        None,
        {},
        {"s": "42"},
        {"s": "42", "t": "forged"},
        {"s": "43", "t": secrets.unsubscribe_token(42, KEY)},
        {"s": "4²", "t": secrets.unsubscribe_token(42, KEY)},
        {"s": "42", "t": "tökén"},
        {"s": "<script>alert(1)</script>", "t": "<b>"},
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_link_without_its_token_is_forbidden_and_echoes_nothing(query, method):
    pauses = Pauses()

    answer = unsubscribe.respond(request(method, query), KEY, pauses)

    assert answer["statusCode"] == 403
    assert answer["headers"]["content-type"] == "text/html; charset=utf-8"
    assert "<script>" not in answer["body"] and "<b>" not in answer["body"]
    assert pauses.calls == []


def test_a_token_from_another_key_is_forbidden():
    query = {"s": "42", "t": secrets.unsubscribe_token(42, b"another key")}

    assert unsubscribe.respond(request("POST", query), KEY, Pauses())["statusCode"] == 403


@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD", "OPTIONS"])
def test_other_methods_are_not_allowed(method):
    pauses = Pauses()

    answer = unsubscribe.respond(request(method, linked(42)), KEY, pauses)

    assert answer["statusCode"] == 405
    assert answer["headers"]["allow"] == "GET, POST"
    assert pauses.calls == []


def test_a_page_may_not_be_framed_nor_leak_its_link():
    headers = unsubscribe.respond(request("GET", linked(42)), KEY, Pauses())["headers"]

    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
