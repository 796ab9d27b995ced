"""Typed errors. Step Functions matches Retry and Catch on these class names (the Lambda errorType)."""

import contextlib
import json
from typing import Any

# job_log.error and the enrichment errors hold one bounded line.
MAX_FAILURE_CHARS = 500


class SourceUnavailable(Exception):
    """Transient: the source timed out, throttled (429) or failed (5xx). Worth retrying.

    retry_after: the seconds the source asked us to wait (its Retry-After), when it said; throttled: it answered 429.
    """

    def __init__(self, message: str, retry_after: float | None = None, throttled: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled


class SourceRejected(Exception):
    """Permanent: the source refused the request (a 4xx other than 429). Not retried."""


class BadSourceData(Exception):
    """Permanent: the source answered with a body that is not what the API promises."""


class ListingIncomplete(Exception):
    """Permanent for this run: the window's listing could not be read completely; the cursor must not move."""


class InvalidInput(ValueError):
    """Permanent: the execution input is not valid."""


class DatabaseUnavailable(Exception):
    """Transient: the database could not be reached or dropped the connection."""


class DatabaseError(Exception):
    """Permanent: the database refused a statement (tender_sync.db.describe_database_error says why)."""


class SchemaBehind(Exception):
    """Permanent: the database lacks a migration this code needs; `make migrate` (or a deploy) applies it."""


class ServiceUnreachable(Exception):
    """Permanent: an AWS service could not be reached within seconds (in a VPC: no endpoint, no NAT route)."""


class ArtifactMissing(Exception):
    """Permanent: a run's artifact in S3 is gone (they expire after artifactExpiryDays): the run cannot go on, and a
    new run does the work again."""


class InvalidDatabaseUrl(ValueError):
    """Permanent: the database URL cannot be parsed as it is meant; retrying will not change it."""


# What Step Functions retries: our transient errors, by class name (the Lambda errorType). Every other error of
# ours is permanent: the step fails at once, and FailJob records why.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (SourceUnavailable, DatabaseUnavailable)


def error_names(errors: tuple[type[Exception], ...]) -> list[str]:
    """The names Retry and Catch match these errors by."""
    return [error.__name__ for error in errors]


def describe_failure(error: dict[str, Any]) -> str:
    """One line from a Step Functions Catch result {Error, Cause}; a Lambda's Cause is JSON with errorMessage."""
    name = error.get("Error") or "UnknownError"
    cause = error.get("Cause") or ""
    with contextlib.suppress(ValueError, AttributeError):  # a Cause that is not a Lambda's JSON is kept as it is
        cause = json.loads(cause).get("errorMessage", cause)
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    message = f"{name}: {first_line}" if first_line else name
    return message if len(message) <= MAX_FAILURE_CHARS else message[: MAX_FAILURE_CHARS - 1] + "…"
