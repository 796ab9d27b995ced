"""Reads releases from an OCDS publisher's API (eTenders' shape: /api/OCDSReleases)."""
import email.utils
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from aws_lambda_powertools import Logger

from tender_sync.errors import BadSourceData, ListingIncomplete, SourceRejected, SourceUnavailable
from tender_sync.normalize import parse_datetime

RELEASES_PATH = "/api/OCDSReleases"

logger = Logger(child=True)
Read = TypeVar("Read")


@dataclass(frozen=True)
class RequestPolicy:
    """How long one request to a source may take, and how it is retried.

    The first retry waits up to `backoff` seconds, each next one up to twice as long (full jitter), unless the
    source said how long in Retry-After; the waits of one request add up to at most `max_wait`, so a request
    gives up well inside its Lambda's timeout. The environment (SOURCE_TIMEOUT_SECONDS, SOURCE_ATTEMPTS,
    SOURCE_BACKOFF_SECONDS) can change the first three; tests keep the waits short with it.
    """

    timeout: float = 10.0
    attempts: int = 4
    backoff: float = 1.0
    max_wait: float = 15.0

    @classmethod
    def from_env(cls) -> "RequestPolicy":
        env = os.environ
        return cls(
            timeout=float(env.get("SOURCE_TIMEOUT_SECONDS", cls.timeout)),
            attempts=int(env.get("SOURCE_ATTEMPTS", cls.attempts)),
            backoff=float(env.get("SOURCE_BACKOFF_SECONDS", cls.backoff)),
        )

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
    read: Callable[[httpx.Response], Read],
    policy: RequestPolicy,
    not_found: str | None = None,
) -> Read:
    """The one place a request to a source is made: GET url and read the answer, retrying what may pass.

    Retried: timeouts, failed connections, 429 (after its Retry-After), 5xx, and an HTTP 200 whose body `read`
    refuses as BadSourceData (cut short, an error object instead of data). Not retried: the other 4xx
    (SourceRejected; not_found, when given, is its message for a 404). When the attempts or the wait budget run
    out, the last error is raised, saying how many attempts were made.
    """
    where = f"GET {url.raw_path.decode()}"
    waited = 0.0
    attempt = 1
    while True:
        try:
            response = _get(http, url, policy.timeout, where, not_found)
            try:
                return read(response)
            except BadSourceData as error:
                raise BadSourceData(f"{where}: {error}") from None
        except (SourceUnavailable, BadSourceData) as error:
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


def _get(http: httpx.Client, url: httpx.URL, timeout: float, where: str, not_found: str | None) -> httpx.Response:
    """One GET, with the source's failures mapped to typed errors."""
    try:
        response = http.get(url, timeout=timeout)
    except httpx.TimeoutException:
        raise SourceUnavailable(f"{where} timed out after {timeout:g} s") from None
    except httpx.TransportError as exc:
        raise SourceUnavailable(f"{where} failed: {type(exc).__name__}: {exc}") from None
    status = response.status_code
    if status == 429 or status >= 500:
        retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        said = f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""
        raise SourceUnavailable(f"{where} answered HTTP {status}{said}", retry_after=retry_after)
    if status == 404 and not_found is not None:
        raise SourceRejected(not_found)
    if not response.is_success:
        raise SourceRejected(f"{where} answered HTTP {status}")
    return response


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
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def decode_json(body: bytes, content_type: str | None) -> Any:
    """The JSON document in a response body, decoded with the charset its Content-Type names (UTF-8 by default)."""
    charset = _charset(content_type) or "utf-8"
    try:
        text = body.decode(charset)
    except LookupError:
        raise BadSourceData(f"response has an unknown charset {charset!r}") from None
    except UnicodeDecodeError as exc:
        raise BadSourceData(f"response is not valid {charset}: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadSourceData(
            f"response is not valid JSON ({exc.msg} at char {exc.pos} of {len(text)}; truncated?)"
        ) from None


def read_json(response: httpx.Response) -> Any:
    return decode_json(response.content, response.headers.get("content-type"))


def parse_release_package(body: bytes, content_type: str | None) -> dict:
    """A release package from a response body. An error object sent with HTTP 200 is BadSourceData."""
    return _release_package(decode_json(body, content_type))


def _release_package(package: Any) -> dict:
    if not isinstance(package, dict):
        raise BadSourceData(f"response is a JSON {type(package).__name__}, not a release package")
    if "releases" not in package:
        raise BadSourceData(f"response has no releases: {_preview(package)}")
    if not isinstance(package["releases"], list):
        raise BadSourceData(f"response releases is a {type(package['releases']).__name__}, not a list")
    return package


class OcdsClient:
    def __init__(
        self,
        base_url: str,
        page_size: int = 1000,
        timeout: float | None = None,
        client: httpx.Client | None = None,
        policy: RequestPolicy | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.policy = policy or RequestPolicy.from_env()
        if timeout is not None:
            self.policy = replace(self.policy, timeout=timeout)
        self._http = client or httpx.Client()

    def iter_releases(self, date_from: date, date_to: date) -> Iterator[dict]:
        """Every release dated in the half-open window [date_from, date_to), one day at a time.

        The eTenders API pages unstably (a page may repeat releases of another and miss some), so the window is
        split into the narrowest windows the API takes, single days, each asked for in one large page.
        """
        day = date_from
        while day < date_to:
            yield from self._list_day(day)
            day += timedelta(days=1)

    def _list_day(self, day: date) -> Iterator[dict]:
        """One day's releases. A day whose first page comes back full cannot be split further: its next pages
        are followed, and the day counts as read only if no release comes back twice. The pages of one listing
        hold as many releases as the day has, so a release seen twice means another one was missed: the pages
        shifted under us, and ListingIncomplete fails the run before its cursor moves."""
        url = self._url(
            RELEASES_PATH,
            params={"PageNumber": 1, "PageSize": self.page_size, "dateFrom": day.isoformat(), "dateTo": day.isoformat()},
        )
        requested: set[httpx.URL] = set()
        seen: set[str] = set()
        while True:
            requested.add(url)
            package = fetch(self._http, url, _read_package, self.policy)
            releases = package["releases"]
            for release in releases:
                identity = _identity(release)
                if identity in seen:
                    raise ListingIncomplete(
                        f"the listing of {day} is not stable: release {identity[:100]} came back on two of its pages, "
                        f"so another was missed; the day holds more than PageSize {self.page_size} releases"
                    )
                seen.add(identity)
            yield from releases
            links = package.get("links")
            next_url = links.get("next") if isinstance(links, dict) else None
            if not next_url or len(releases) < self.page_size:
                return
            url = self._on_base_host(next_url)
            if url in requested:
                raise BadSourceData(f"links.next repeats a page already read: {next_url}")

    def get_release(self, ocid: str) -> dict:
        """The newest release of one ocid. The API may answer with a bare release or a package."""
        url = self._url(f"{RELEASES_PATH}/release/{quote(ocid, safe='')}")
        return fetch(
            self._http, url, lambda response: _newest_release(read_json(response), ocid), self.policy,
            not_found=f"unknown ocid {ocid!r}",
        )

    def _url(self, path: str, params: dict[str, Any] | None = None) -> httpx.URL:
        return httpx.URL(self.base_url + path, params=params)

    def _on_base_host(self, link: str) -> httpx.URL:
        """A link resolved against the base URL; refused unless it stays on the configured host."""
        base = httpx.URL(self.base_url)
        url = base.join(link)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise BadSourceData(f"links.next leaves the source host {base.host}: {link}")
        return url


def _read_package(response: httpx.Response) -> dict:
    return _release_package(read_json(response))


def _newest_release(document: Any, ocid: str) -> dict:
    if isinstance(document, dict) and "ocid" in document and "releases" not in document:
        return document
    releases = _release_package(document)["releases"]
    if not releases:
        raise SourceRejected(f"unknown ocid {ocid!r}: the package has no releases")
    return max(releases, key=_release_date)


def _identity(release: Any) -> str:
    """What tells two releases apart: the release id, or the whole release when it has none."""
    if isinstance(release, dict) and isinstance(release.get("id"), str) and release["id"]:
        return release["id"]
    return json.dumps(release, sort_keys=True)


def _charset(content_type: str | None) -> str | None:
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


def _release_date(release: Any) -> datetime:
    if not isinstance(release, dict):
        raise BadSourceData(f"release is a JSON {type(release).__name__}, not an object")
    try:
        return parse_datetime(release.get("date")) or datetime.min.replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise BadSourceData(f"release {release.get('ocid')}: {exc}") from None


def _preview(document: Any) -> str:
    text = json.dumps(document, ensure_ascii=False)
    return text if len(text) <= 200 else text[:200] + "..."
