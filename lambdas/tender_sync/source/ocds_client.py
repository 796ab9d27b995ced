"""Reads releases from an OCDS publisher's API (eTenders' shape: /api/OCDSReleases), as its profile's access
quirks say."""

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from tender_sync.errors import BadSourceData, ListingIncomplete, SourceRejected
from tender_sync.source.normalize import cut, parse_datetime
from tender_sync.source.publishers import ETENDERS, Publisher
from tender_sync.source.requests import RequestPolicy, SourceClient, decode_json

RELEASES_PATH = "/api/OCDSReleases"


def parse_release_package(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A release package from a response body. An error object sent with HTTP 200 is BadSourceData."""
    return _release_package(decode_json(body, content_type))


def _release_package(package: Any) -> dict[str, Any]:
    if not isinstance(package, dict):
        raise BadSourceData(f"response is a JSON {type(package).__name__}, not a release package")
    if "releases" not in package:
        raise BadSourceData(f"response has no releases: {_preview(package)}")
    if not isinstance(package["releases"], list):
        raise BadSourceData(f"response releases is a {type(package['releases']).__name__}, not a list")
    return package


class OcdsClient(SourceClient):
    """An OCDS releases API (eTenders' shape), read as the publisher's access quirks say (see _list); keyword
    arguments named as those quirks override them (page_size=7)."""

    def __init__(
        self,
        base_url: str,
        publisher: Publisher = ETENDERS,
        timeout: float | None = None,
        client: httpx.Client | None = None,
        policy: RequestPolicy | None = None,
        **access: Any,
    ) -> None:
        super().__init__(base_url, timeout, client, policy)
        self.access = replace(publisher.access, **access)

    def iter_releases(self, date_from: date, date_to: date) -> Iterator[dict[str, Any]]:
        """Every release dated in the half-open window [date_from, date_to).

        The eTenders API pages unstably (a page may repeat releases of another and miss some), so for a publisher
        that lists by day the window is split into the narrowest windows the API takes, single days, each read in
        one page where it fits in one (see _list for how large a listing can be); another's window is one listing.
        """
        step = timedelta(days=1) if self.access.list_by_day else date_to - date_from
        first = date_from
        while first < date_to:
            yield from self._list(first, first + step - timedelta(days=1))
            first += step

    def _list(self, first: date, last: date) -> list[dict[str, Any]]:
        """The releases of the days first to last.

        A listing of up to max_page_size releases is read in one page: while the first page comes back full, it
        is asked for again twice as large; the first one that comes back short, without links.next, is the whole
        listing. A listing larger than that, or than the page a source caps its pages at, is read by following
        its pages, in passes (_read_in_passes).
        """
        size = self.access.page_size
        while True:
            url = self._first_page(first, last, size)
            package = self._fetch(url, parse_release_package)
            served = len(package["releases"])
            if served < size and not _next_link(package):
                return list(package["releases"])
            if 0 < served < size:
                # Short, yet with a links.next: the source caps its pages at `served`, larger asks cannot help.
                return self._read_in_passes(first, last, served, url, package)
            larger = min(size * 2, self.access.max_page_size)
            if larger <= size:
                return self._read_in_passes(first, last, size, url, package)
            size = larger

    def _read_in_passes(
        self, first: date, last: date, size: int, url: httpx.URL, package: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """A listing read by following its pages of `size` releases, from its first page (package, read from url).

        When the listing's order changes between requests, the pages of one pass overlap and miss releases, so
        the listing is read over, up to max_passes times, keeping the union of the passes (each release once, by
        id). A pass is served as many releases as the listing holds, so it is whole once the union holds that
        many: after one pass if the order holds still, whatever its size. If the order is reshuffled on every
        request, a pass misses a given release about one time in three, so 10 passes read 2,500 releases in
        pages of 1,000 whole 99 times in 100, 10,000 in pages of 1,000 three times in four, 20,000 one time in
        two. A listing not read whole ends as ListingIncomplete, and the run fails before its cursor moves.
        """
        union: dict[str, dict[str, Any]] = {}
        for number in range(1, self.access.max_passes + 1):
            if number > 1:
                url = self._first_page(first, last, size)
                package = self._fetch(url, parse_release_package)
            served = 0
            for releases in self._pages(url, package, size):
                served += len(releases)
                for release in releases:
                    union.setdefault(_identity(release), release)
            if len(union) >= served:
                return list(union.values())
        days = first if first == last else f"{first} to {last}"
        raise ListingIncomplete(
            f"the listing of {days} kept shifting under its pages of {size}: {len(union)} releases seen in "
            f"{self.access.max_passes} passes, while the last pass was served {served}"
        )

    def _pages(self, url: httpx.URL, package: dict[str, Any], size: int) -> Iterator[list[dict[str, Any]]]:
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
            package = self._fetch(url, parse_release_package)

    def get_release(self, ocid: str) -> dict[str, Any]:
        """The newest release of one ocid. The API may answer with a bare release or a package; a release of
        another ocid is BadSourceData."""
        url = self._url(f"{RELEASES_PATH}/release/{quote(ocid, safe='')}")
        return self._fetch(
            url,
            lambda body, content_type: _newest_release(decode_json(body, content_type), ocid),
            not_found=f"unknown ocid {ocid!r}",
        )

    def _first_page(self, first: date, last: date, size: int) -> httpx.URL:
        return self._url(
            RELEASES_PATH,
            params={"PageNumber": 1, "PageSize": size, "dateFrom": first.isoformat(), "dateTo": last.isoformat()},
        )

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


def _next_link(package: dict[str, Any]) -> str | None:
    links = package.get("links")
    link = links.get("next") if isinstance(links, dict) else None
    if link is not None and not isinstance(link, str):
        raise BadSourceData(f"links.next is a JSON {type(link).__name__}, not a URL")
    return link


def _newest_release(document: Any, ocid: str) -> dict[str, Any]:
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
        return str(release["id"])
    return json.dumps(release, sort_keys=True)


def _release_date(release: Any) -> datetime:
    if not isinstance(release, dict):
        raise BadSourceData(f"release is a JSON {type(release).__name__}, not an object")
    try:
        return parse_datetime(release.get("date")) or datetime.min.replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadSourceData(f"release {cut(str(release.get('ocid')))}: {exc}") from None


def _preview(document: Any) -> str:
    return cut(json.dumps(document, ensure_ascii=False), 200)
