"""Requests to a source: the one retrying, bounded request layer (fetch) and the client both source clients
(tender_sync.ocds_client, tender_sync.portal_client) are built on."""

import email.utils
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

import httpx
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tender_sync.errors import BadSourceData, SourceRejected, SourceUnavailable
from tender_sync.source.normalize import cut

MIB = 2**20
# What an invocation keeps of its time left after its requests: enough to report their failure.
SAFETY_MARGIN_SECONDS = 2.0

logger = Logger(child=True)
Read = TypeVar("Read")


@dataclass(frozen=True)
class RequestPolicy:
    """How long one request to a source may take, how large its answer may be, and how it is retried.

    A request must end within `timeout`, reading its whole body included (see _get), and its body may hold at
    most `max_body_bytes` once decompressed: 64 MiB by default, ample for the largest listing page asked for
    (eTenders' max_page_size, 10,000 releases of about 3 KB). The first retry waits up to `backoff` seconds, each
    next one up to twice as long (full jitter), unless the source said how long in Retry-After; the waits of one
    request add up to at most `max_wait`. With a `deadline` (for_invocation), each request is shrunk to end by it
    (within), so that a source that keeps failing ends as an error of the function, not as its timeout. The
    environment (SOURCE_TIMEOUT_SECONDS, SOURCE_ATTEMPTS, SOURCE_BACKOFF_SECONDS, SOURCE_MAX_BODY_BYTES) can
    change `timeout`, `attempts`, `backoff` and `max_body_bytes`; tests keep the waits short with it.
    """

    timeout: float = 10.0
    attempts: int = 4
    backoff: float = 1.0
    max_wait: float = 15.0
    max_body_bytes: int = 64 * MIB
    # time.monotonic() by which every request must have ended, or None.
    deadline: float | None = None

    @classmethod
    def from_env(cls) -> "RequestPolicy":
        env = os.environ
        return cls(
            timeout=float(env.get("SOURCE_TIMEOUT_SECONDS", cls.timeout)),
            attempts=int(env.get("SOURCE_ATTEMPTS", cls.attempts)),
            backoff=float(env.get("SOURCE_BACKOFF_SECONDS", cls.backoff)),
            max_body_bytes=int(env.get("SOURCE_MAX_BODY_BYTES", cls.max_body_bytes)),
        )

    @classmethod
    def for_invocation(cls, context: LambdaContext) -> "RequestPolicy":
        """The environment's policy for a Lambda invocation: every request ends within its time left, less
        SAFETY_MARGIN_SECONDS."""
        seconds_left = context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
        return replace(cls.from_env(), deadline=time.monotonic() + seconds_left)

    def within(self, seconds: float) -> "RequestPolicy":
        """This policy shrunk so that all its attempts and waits end within `seconds` (a Lambda's time left)."""
        timeout = min(self.timeout, seconds / (self.attempts + 1))
        return replace(self, timeout=timeout, max_wait=max(0.0, min(self.max_wait, seconds - self.attempts * timeout)))

    def wait_before_retry(self, attempt: int, waited: float, retry_after: float | None) -> float | None:
        """Seconds to wait before retrying after `attempt` failed, or None to give up."""
        if attempt >= self.attempts:
            return None
        wait = retry_after if retry_after is not None else random.uniform(0, self.backoff * 2 ** (attempt - 1))
        return wait if waited + wait <= self.max_wait else None


def fetch(
    http: httpx.Client,
    url: httpx.URL,
    read: Callable[[bytes, str | None], Read],
    policy: RequestPolicy,
    not_found: str | None = None,
    on_throttled: Callable[[], None] | None = None,
) -> Read:
    """The one place a request to a source is made: GET url and read the answer's body (with its Content-Type),
    retrying what may pass.

    Retried: timeouts, failed connections, 429 (after its Retry-After), 5xx, and an HTTP 200 whose body `read`
    refuses as BadSourceData (cut short, an error object instead of data). Not retried: the other 4xx
    (SourceRejected; not_found, when given, is its message for a 404) and a body over policy.max_body_bytes
    (BadSourceData). When the attempts or the wait budget run out, the last error is raised, saying how many
    attempts were made. on_throttled is told of each 429.
    """
    where = f"GET {cut(url.raw_path.decode(), 200)}"
    if policy.deadline is not None:
        policy = policy.within(policy.deadline - time.monotonic())
        if policy.timeout <= 0:
            raise SourceUnavailable(f"{where} not sent: no time left before the deadline")
    waited = 0.0
    attempt = 1
    while True:
        try:
            body, content_type = _get(http, url, policy, where, not_found)
            try:
                return read(body, content_type)
            except BadSourceData as error:
                raise BadSourceData(f"{where}: {error}") from None
        except _BodyTooLarge as error:
            # Asking again brings the same runaway body, megabytes each time: give up at once.
            raise BadSourceData(str(error)) from None
        except (SourceUnavailable, BadSourceData) as error:
            if on_throttled and getattr(error, "throttled", False):
                on_throttled()
            wait = policy.wait_before_retry(attempt, waited, getattr(error, "retry_after", None))
            if wait is None:
                raise type(error)(f"{error} (attempt {attempt} of {policy.attempts})") from None
            logger.info(
                "source request failed; retrying",
                extra={"error": str(error), "attempt": attempt, "waitSeconds": round(wait, 3)},
            )
            time.sleep(wait)
            waited += wait
            attempt += 1


class _BodyTooLarge(BadSourceData):
    """A body over the size bound; fetch raises it as a plain BadSourceData, without retrying."""


def _get(
    http: httpx.Client, url: httpx.URL, policy: RequestPolicy, where: str, not_found: str | None
) -> tuple[bytes, str | None]:
    """One GET, with the source's failures mapped to typed errors: the body, decompressed, and its Content-Type.

    httpx's timeout bounds each network read only, so a body dripped a byte at a time would never time out on
    it: the request must also end by a deadline policy.timeout from its start, checked as the body arrives. A
    read that stalls ends by httpx's timeout, so a body ends at most one timeout past the deadline. Headers are
    read inside httpx, so only its per-read timeout and h11's 16 KiB header limit bound them.
    """
    timed_out = f"{where} timed out after {policy.timeout:g} s"
    deadline = time.monotonic() + policy.timeout
    try:
        with http.stream("GET", url, timeout=policy.timeout) as response:
            _check_status(response, where, not_found)
            # httpx inflates each network read in one go, so every encoding layer multiplies what one read
            # becomes (about 1000 times for gzip): one layer keeps that bounded, a stack of them does not.
            if len(response.headers.get_list("content-encoding", split_commas=True)) > 1:
                raise BadSourceData(f"{where}: response is encoded more than once")
            chunks = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > policy.max_body_bytes:
                    raise _BodyTooLarge(
                        f"{where}: response body exceeds {_bytes(policy.max_body_bytes)} (after decompression)"
                    )
                if time.monotonic() > deadline:
                    raise SourceUnavailable(timed_out)
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("content-type")
    except httpx.TimeoutException:
        raise SourceUnavailable(timed_out) from None
    except httpx.TransportError as exc:
        raise SourceUnavailable(f"{where} failed: {type(exc).__name__}: {exc}") from None
    except httpx.DecodingError as exc:
        raise BadSourceData(f"{where}: response body cannot be decompressed: {exc}") from None


def _check_status(response: httpx.Response, where: str, not_found: str | None) -> None:
    status = response.status_code
    if status == 429 or status >= 500:
        retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        said = f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""
        raise SourceUnavailable(
            f"{where} answered HTTP {status}{said}", retry_after=retry_after, throttled=status == 429
        )
    if status == 404 and not_found is not None:
        raise SourceRejected(not_found)
    if not response.is_success:
        raise SourceRejected(f"{where} answered HTTP {status}")


def _bytes(count: int) -> str:
    return f"{count // MIB} MiB" if count % MIB == 0 else f"{count:,} bytes"


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: it is either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def decode_json(body: bytes, content_type: str | None) -> Any:
    """The JSON document in a response body, decoded with the charset its Content-Type names (UTF-8 by default)."""
    charset = _charset(content_type) or "utf-8"
    try:
        text = body.decode(charset)
    except LookupError:
        raise BadSourceData(f"response has an unknown charset {cut(repr(charset))}") from None
    except UnicodeDecodeError as exc:
        raise BadSourceData(f"response is not valid {charset}: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadSourceData(
            f"response is not valid JSON ({exc.msg} at char {exc.pos} of {len(text)}; truncated?)"
        ) from None
    except ValueError as exc:
        # The only other ValueError of json.loads: an integer longer than Python converts (4,300 digits).
        raise BadSourceData(f"response holds a number too long to read: {str(exc).partition(';')[0]}") from None
    except RecursionError:
        raise BadSourceData("response is nested too deep to read") from None


def _charset(content_type: str | None) -> str | None:
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


@lru_cache(maxsize=1)
def http_client() -> httpx.Client:
    """One HTTP client per container, so that warm invocations reuse its connections."""
    return httpx.Client()


class SourceClient:
    """A client of one source's HTTP API at base_url, its requests made by fetch() under `policy` (the
    environment's by default, its timeout replaced by `timeout` when given), with `client` (by default
    http_client())."""

    def __init__(
        self,
        base_url: str,
        timeout: float | None = None,
        client: httpx.Client | None = None,
        policy: RequestPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RequestPolicy.from_env()
        if timeout is not None:
            self.policy = replace(self.policy, timeout=timeout)
        self._http = client or http_client()
        # The 429s this client was answered (each one retried, after its Retry-After or a backoff).
        self.throttled = 0

    def _url(self, path: str, params: dict[str, Any] | None = None) -> httpx.URL:
        return httpx.URL(self.base_url + path, params=params)

    def _fetch(self, url: httpx.URL, read: Callable[[bytes, str | None], Read], not_found: str | None = None) -> Read:
        return fetch(self._http, url, read, self.policy, not_found, on_throttled=self._count_throttled)

    def _count_throttled(self) -> None:
        self.throttled += 1
