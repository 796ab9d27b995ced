"""RequestPolicy: how long a source request waits before each retry, and when it gives up."""

import time
from typing import cast

import httpx
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.errors import SourceUnavailable
from tender_sync.source.requests import SAFETY_MARGIN_SECONDS, RequestPolicy, decode_json, fetch
from tests.helpers import not_none


def test_backoff_doubles_with_full_jitter():
    policy = RequestPolicy(attempts=4, backoff=1.0, max_wait=100)

    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0)]:
        waits = [not_none(policy.wait_before_retry(attempt, 0.0, None)) for _ in range(200)]
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling / 2  # jittered across the whole range, not fixed


def test_retry_after_is_the_wait_when_the_source_gives_one():
    assert RequestPolicy(backoff=0.01).wait_before_retry(1, 0.0, 3.0) == 3.0


@pytest.mark.parametrize(
    ("attempt", "waited", "retry_after"),
    [(4, 0.0, None), (1, 0.0, 16.0), (2, 14.0, 2.0)],
    ids=["attempts used up", "Retry-After beyond the budget", "budget used up"],
)
def test_gives_up(attempt, waited, retry_after):
    assert RequestPolicy(attempts=4, max_wait=15.0).wait_before_retry(attempt, waited, retry_after) is None


def test_the_environment_sets_timeout_attempts_and_backoff(monkeypatch):
    monkeypatch.setenv("SOURCE_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("SOURCE_ATTEMPTS", "6")
    monkeypatch.setenv("SOURCE_BACKOFF_SECONDS", "0.5")

    assert RequestPolicy.from_env() == RequestPolicy(timeout=2.5, attempts=6, backoff=0.5)


def test_a_policy_fitted_to_the_time_left_ends_within_it():
    policy = RequestPolicy(timeout=10.0, attempts=4, backoff=1.0, max_wait=15.0).within(28.0)

    assert policy.attempts * policy.timeout + policy.max_wait <= 28.0
    assert policy.timeout > 0 and policy.attempts == 4


def test_a_policy_with_time_to_spare_is_left_as_it_is():
    policy = RequestPolicy(timeout=10.0, attempts=4, backoff=1.0, max_wait=15.0)
    assert policy.within(600.0) == policy


class Context:
    """The part of a Lambda context RequestPolicy reads: a fixed time left."""

    def __init__(self, seconds_left: float):
        self.seconds_left = seconds_left

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds_left * 1000)


def test_an_invocation_policy_ends_its_requests_before_the_invocation_does(monkeypatch):
    monkeypatch.setenv("SOURCE_ATTEMPTS", "6")
    before = time.monotonic()

    policy = RequestPolicy.for_invocation(cast(LambdaContext, Context(30.0)))

    assert policy.attempts == 6
    deadline = not_none(policy.deadline)
    assert before + 30.0 - SAFETY_MARGIN_SECONDS <= deadline <= time.monotonic() + 30.0 - SAFETY_MARGIN_SECONDS


def test_each_request_is_fitted_into_the_time_left_before_the_deadline():
    timeouts = []

    def answer(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return httpx.Response(200, json={})

    http = httpx.Client(transport=httpx.MockTransport(answer))
    policy = RequestPolicy(timeout=10.0, attempts=4, deadline=time.monotonic() + 5.0)

    fetch(http, httpx.URL("https://source.example.org/"), decode_json, policy)

    assert 0 < timeouts[0] <= 5.0 / 5


def test_a_request_past_the_deadline_is_not_sent():
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    policy = RequestPolicy(deadline=time.monotonic() - 1.0)

    with pytest.raises(SourceUnavailable, match="GET /late not sent: no time left before the deadline"):
        fetch(http, httpx.URL("https://source.example.org/late"), decode_json, policy)
    assert sent == []
