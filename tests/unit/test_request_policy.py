"""RequestPolicy: how long a source request waits before each retry, and when it gives up."""
import pytest

from tender_sync.ocds_client import RequestPolicy


def test_backoff_doubles_with_full_jitter():
    policy = RequestPolicy(attempts=4, backoff=1.0, max_wait=100)

    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0)]:
        waits = [policy.wait_before_retry(attempt, 0.0, None) for _ in range(200)]
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
