"""Reads releases from an OCDS publisher's API (eTenders' shape: /api/OCDSReleases)."""
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from tender_sync.errors import BadSourceData, SourceRejected, SourceUnavailable
from tender_sync.normalize import parse_datetime

RELEASES_PATH = "/api/OCDSReleases"


def fetch(http: httpx.Client, url: httpx.URL, timeout: float, not_found: str | None = None) -> httpx.Response:
    """The one place a request to a source is made: GET url, with the source errors mapped to typed errors.

    not_found, when given, is the SourceRejected message for a 404.
    """
    where = f"GET {url.raw_path.decode()}"
    try:
        response = http.get(url, timeout=timeout)
    except httpx.TimeoutException:
        raise SourceUnavailable(f"{where} timed out after {timeout:g} s") from None
    except httpx.TransportError as exc:
        raise SourceUnavailable(f"{where} failed: {type(exc).__name__}: {exc}") from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise SourceUnavailable(f"{where} answered HTTP {status}")
    if status == 404 and not_found is not None:
        raise SourceRejected(not_found)
    if not response.is_success:
        raise SourceRejected(f"{where} answered HTTP {status}")
    return response


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
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.timeout = timeout
        self._http = client or httpx.Client()

    def iter_releases(self, date_from: date, date_to: date) -> Iterator[dict]:
        """Every release dated in the half-open window [date_from, date_to), page after page."""
        if date_to <= date_from:
            return
        url = self._url(
            RELEASES_PATH,
            params={
                "PageNumber": 1,
                "PageSize": self.page_size,
                "dateFrom": date_from.isoformat(),
                # The API's dateTo is inclusive.
                "dateTo": (date_to - timedelta(days=1)).isoformat(),
            },
        )
        requested = set()
        while True:
            requested.add(url)
            package = self._get_package(url)
            releases = package["releases"]
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
        response = fetch(self._http, url, self.timeout, not_found=f"unknown ocid {ocid!r}")
        document = decode_json(response.content, response.headers.get("content-type"))
        if isinstance(document, dict) and "ocid" in document and "releases" not in document:
            return document
        releases = _release_package(document)["releases"]
        if not releases:
            raise SourceRejected(f"unknown ocid {ocid!r}: the package has no releases")
        return max(releases, key=_release_date)

    def _get_package(self, url: httpx.URL) -> dict:
        response = fetch(self._http, url, self.timeout)
        return parse_release_package(response.content, response.headers.get("content-type"))

    def _url(self, path: str, params: dict[str, Any] | None = None) -> httpx.URL:
        return httpx.URL(self.base_url + path, params=params)

    def _on_base_host(self, link: str) -> httpx.URL:
        """A link resolved against the base URL; refused unless it stays on the configured host."""
        base = httpx.URL(self.base_url)
        url = base.join(link)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise BadSourceData(f"links.next leaves the source host {base.host}: {link}")
        return url


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
