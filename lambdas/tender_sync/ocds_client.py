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
from tender_sync.normalize import cut, parse_datetime

RELEASES_PATH = "/api/OCDSReleases"
MIB = 2**20

logger = Logger(child=True)
Read = TypeVar("Read")


@dataclass(frozen=True)
class RequestPolicy:
    """How long one request to a source may take, how large its answer may be, and how it is retried.

    A request must end within `timeout`, reading its whole body included (see _get), and its body may hold at
    most `max_body_bytes` once decompressed: 64 MiB by default, ample for the largest listing page asked for
    (OcdsClient.max_page_size, 10,000 releases of about 3 KB). The first retry waits up to `backoff` seconds, each
    next one up to twice as long (full jitter), unless the source said how long in Retry-After; the waits of one
    request add up to at most `max_wait`, so a request gives up well inside its Lambda's timeout. The environment
    (SOURCE_TIMEOUT_SECONDS, SOURCE_ATTEMPTS, SOURCE_BACKOFF_SECONDS, SOURCE_MAX_BODY_BYTES) can change all but
    `max_wait`; tests keep the waits short with it.
    """

    timeout: float = 10.0
    attempts: int = 4
    backoff: float = 1.0
    max_wait: float = 15.0
    max_body_bytes: int = 64 * MIB

    @classmethod
    def from_env(cls) -> "RequestPolicy":
        env = os.environ
        return cls(
            timeout=float(env.get("SOURCE_TIMEOUT_SECONDS", cls.timeout)),
            attempts=int(env.get("SOURCE_ATTEMPTS", cls.attempts)),
            backoff=float(env.get("SOURCE_BACKOFF_SECONDS", cls.backoff)),
            max_body_bytes=int(env.get("SOURCE_MAX_BODY_BYTES", cls.max_body_bytes)),
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
    read: Callable[[bytes, str | None], Read],
    policy: RequestPolicy,
    not_found: str | None = None,
) -> Read:
    """The one place a request to a source is made: GET url and read the answer's body (with its Content-Type),
    retrying what may pass.

    Retried: timeouts, failed connections, 429 (after its Retry-After), 5xx, and an HTTP 200 whose body `read`
    refuses as BadSourceData (cut short, an error object instead of data). Not retried: the other 4xx
    (SourceRejected; not_found, when given, is its message for a 404) and a body over policy.max_body_bytes
    (BadSourceData). When the attempts or the wait budget run out, the last error is raised, saying how many
    attempts were made.
    """
    where = f"GET {cut(url.raw_path.decode(), 200)}"
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
        raise SourceUnavailable(f"{where} answered HTTP {status}{said}", retry_after=retry_after)
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
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


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
    """An OCDS releases API (eTenders' shape). A day is first asked for in pages of page_size releases, then in
    pages up to max_page_size; a day larger than that is read over up to max_passes times (see _list_day)."""

    def __init__(
        self,
        base_url: str,
        page_size: int = 1000,
        timeout: float | None = None,
        client: httpx.Client | None = None,
        policy: RequestPolicy | None = None,
        max_page_size: int = 10_000,
        max_passes: int = 10,
    ):
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.max_page_size = max_page_size
        self.max_passes = max_passes
        self.policy = policy or RequestPolicy.from_env()
        if timeout is not None:
            self.policy = replace(self.policy, timeout=timeout)
        self._http = client or httpx.Client()

    def iter_releases(self, date_from: date, date_to: date) -> Iterator[dict]:
        """Every release dated in the half-open window [date_from, date_to), one day at a time.

        The eTenders API pages unstably (a page may repeat releases of another and miss some), so the window is
        split into the narrowest windows the API takes, single days, each read in one page where it fits in one
        (see _list_day for how large a day can be).
        """
        day = date_from
        while day < date_to:
            yield from self._list_day(day)
            day += timedelta(days=1)

    def _list_day(self, day: date) -> list[dict]:
        """One day's releases.

        A day of up to max_page_size releases (10,000 by default) is read in one page: while the first page
        comes back full, it is asked for again twice as large; the first one that comes back short, without
        links.next, is the whole day. A day larger than that, or than the page a source caps its pages at, is
        read by following its pages, in passes (_read_in_passes).
        """
        size = self.page_size
        while True:
            url = self._first_page(day, size)
            package = fetch(self._http, url, parse_release_package, self.policy)
            served = len(package["releases"])
            if served < size and not _next_link(package):
                return package["releases"]
            if 0 < served < size:
                # Short, yet with a links.next: the source caps its pages at `served`, larger asks cannot help.
                return self._read_in_passes(day, served, url, package)
            larger = min(size * 2, self.max_page_size)
            if larger <= size:
                return self._read_in_passes(day, size, url, package)
            size = larger

    def _read_in_passes(self, day: date, size: int, url: httpx.URL, package: dict) -> list[dict]:
        """A day read by following its pages of `size` releases, from its first page (package, read from url).

        When the listing's order changes between requests, the pages of one pass overlap and miss releases, so
        the day is read over, up to max_passes times, keeping the union of the passes (each release once, by
        id). A pass is served as many releases as the day holds, so the day is whole once the union holds that
        many: after one pass if the order holds still, whatever the day's size. If the order is reshuffled on
        every request, a pass misses a given release about one time in three, so 10 passes read 2,500 releases in
        pages of 1,000 whole 99 times in 100, 10,000 in pages of 1,000 three times in four, 20,000 one time in
        two. A day not read whole ends as ListingIncomplete, and the run fails before its cursor moves.
        """
        union: dict[str, dict] = {}
        for number in range(1, self.max_passes + 1):
            if number > 1:
                url = self._first_page(day, size)
                package = fetch(self._http, url, parse_release_package, self.policy)
            served = 0
            for releases in self._pages(url, package, size):
                served += len(releases)
                for release in releases:
                    union.setdefault(_identity(release), release)
            if len(union) >= served:
                return list(union.values())
        raise ListingIncomplete(
            f"the listing of {day} kept shifting under its pages of {size}: {len(union)} releases seen in "
            f"{self.max_passes} passes, while the last pass was served {served}"
        )

    def _pages(self, url: httpx.URL, package: dict, size: int) -> Iterator[list[dict]]:
        """The releases of each page of one pass, from its first page (package, read from url) on, as links.next
        leads; a page without links.next or shorter than `size` is the last."""
        requested = {url}
        while True:
            yield package["releases"]
            next_url = _next_link(package)
            if not next_url or len(package["releases"]) < size:
                return
            url = self._on_base_host(next_url)
            if url in requested:
                raise BadSourceData(f"links.next repeats a page already read: {cut(next_url)}")
            requested.add(url)
            package = fetch(self._http, url, parse_release_package, self.policy)

    def get_release(self, ocid: str) -> dict:
        """The newest release of one ocid. The API may answer with a bare release or a package; a release of
        another ocid is BadSourceData."""
        url = self._url(f"{RELEASES_PATH}/release/{quote(ocid, safe='')}")
        return fetch(
            self._http, url, lambda body, content_type: _newest_release(decode_json(body, content_type), ocid),
            self.policy, not_found=f"unknown ocid {ocid!r}",
        )

    def _first_page(self, day: date, size: int) -> httpx.URL:
        return self._url(
            RELEASES_PATH,
            params={"PageNumber": 1, "PageSize": size, "dateFrom": day.isoformat(), "dateTo": day.isoformat()},
        )

    def _url(self, path: str, params: dict[str, Any] | None = None) -> httpx.URL:
        return httpx.URL(self.base_url + path, params=params)

    def _on_base_host(self, link: str) -> httpx.URL:
        """A link resolved against the base URL; refused unless it stays on the configured host."""
        base = httpx.URL(self.base_url)
        try:
            url = base.join(link)
        except httpx.InvalidURL as exc:
            raise BadSourceData(f"links.next is not a valid URL ({exc}): {cut(link)}") from None
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise BadSourceData(f"links.next leaves the source host {base.host}: {cut(link)}")
        return url


def _next_link(package: dict) -> str | None:
    links = package.get("links")
    link = links.get("next") if isinstance(links, dict) else None
    if link is not None and not isinstance(link, str):
        raise BadSourceData(f"links.next is a JSON {type(link).__name__}, not a URL")
    return link


def _newest_release(document: Any, ocid: str) -> dict:
    if isinstance(document, dict) and "ocid" in document and "releases" not in document:
        release = document
    else:
        releases = _release_package(document)["releases"]
        if not releases:
            raise SourceRejected(f"unknown ocid {ocid!r}: the package has no releases")
        release = max(releases, key=_release_date)
    if release.get("ocid") != ocid:
        raise BadSourceData(f"asked for ocid {ocid!r}, answered with a release of ocid {_preview(release.get('ocid'))}")
    return release


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
        raise BadSourceData(f"release {cut(str(release.get('ocid')))}: {exc}") from None


def _preview(document: Any) -> str:
    return cut(json.dumps(document, ensure_ascii=False), 200)
