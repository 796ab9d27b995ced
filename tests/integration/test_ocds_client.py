"""OcdsClient against the sample eTenders source over real HTTP on 127.0.0.1."""

import socket
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from local.sample_source.faults import Faults
from local.sample_source.server import SampleSource
from tender_sync.errors import BadSourceData, ListingIncomplete, SourceRejected, SourceUnavailable
from tender_sync.source.ocds_client import OcdsClient
from tender_sync.source.requests import RequestPolicy

BUSY_DAY = date(2025, 9, 1)
QUICK = RequestPolicy(timeout=5.0, attempts=1)


class RecordingClient(httpx.Client):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.requested: list[httpx.URL] = []

    def send(self, request, **kwargs):
        self.requested.append(request.url)
        return super().send(request, **kwargs)


@pytest.fixture
def http():
    with RecordingClient() as client:
        yield client


def released_on(sample_source, first: date, last: date) -> list[dict[str, Any]]:
    return [r for r in sample_source.releases if first.isoformat() <= r["date"][:10] <= last.isoformat()]


def test_the_window_is_listed_one_day_at_a_time_and_a_full_day_is_asked_for_in_a_larger_page(sample_source, http):
    client = OcdsClient(sample_source.url, page_size=7, client=http)
    first, end = date(2025, 9, 1), date(2025, 10, 4)

    releases = list(client.iter_releases(first, end))

    assert [r["id"] for r in releases] == [r["id"] for r in sample_source.releases]
    days = [first + timedelta(days=n) for n in range((end - first).days)]
    # One request per day, asking for PageSize 7, then 14, 28... while the page comes back full.
    expected = []
    for day in days:
        size = 7
        expected.append((day.isoformat(), day.isoformat(), "1", str(size)))
        while len(sample_source.releases_listed_on(day)) >= size:
            size *= 2
            expected.append((day.isoformat(), day.isoformat(), "1", str(size)))
    assert [
        (u.params["dateFrom"], u.params["dateTo"], u.params["PageNumber"], u.params["PageSize"]) for u in http.requested
    ] == expected
    assert len(expected) > len(days)


def test_window_is_half_open(sample_source, http):
    client = OcdsClient(sample_source.url, page_size=1000, client=http)

    releases = list(client.iter_releases(date(2025, 9, 2), date(2025, 9, 4)))

    assert {r["date"][:10] for r in releases} == {"2025-09-02", "2025-09-03"}
    assert releases == released_on(sample_source, date(2025, 9, 2), date(2025, 9, 3))
    assert [(u.params["dateFrom"], u.params["dateTo"]) for u in http.requested] == [
        ("2025-09-02", "2025-09-02"),
        ("2025-09-03", "2025-09-03"),
    ]


def test_a_publisher_that_does_not_list_by_day_is_listed_in_one_listing(sample_source, http):
    client = OcdsClient(sample_source.url, list_by_day=False, client=http)

    releases = list(client.iter_releases(date(2025, 9, 2), date(2025, 9, 5)))

    assert releases == released_on(sample_source, date(2025, 9, 2), date(2025, 9, 4))
    assert [(u.params["dateFrom"], u.params["dateTo"]) for u in http.requested] == [("2025-09-02", "2025-09-04")]


def test_one_day_window_holds_that_day_only(sample_source, http):
    client = OcdsClient(sample_source.url, client=http)

    releases = list(client.iter_releases(date(2025, 9, 3), date(2025, 9, 4)))

    assert releases == released_on(sample_source, date(2025, 9, 3), date(2025, 9, 3))
    assert len(releases) > 0


def test_empty_window_makes_no_request(sample_source, http):
    client = OcdsClient(sample_source.url, client=http)

    assert list(client.iter_releases(date(2025, 9, 3), date(2025, 9, 3))) == []
    assert http.requested == []


def test_a_full_page_without_links_next_is_asked_for_again_larger(sample_source, http):
    day = date(2025, 9, 5)
    on_that_day = released_on(sample_source, day, day)
    client = OcdsClient(sample_source.url, page_size=len(on_that_day), client=http)

    assert list(client.iter_releases(day, day + timedelta(days=1))) == on_that_day
    assert [u.params["PageSize"] for u in http.requested] == [str(len(on_that_day)), str(2 * len(on_that_day))]


def test_get_release_returns_the_newest_release_of_an_updated_tender(sample_source, http):
    versions_by_ocid: dict[str, list[dict[str, Any]]] = {}
    for release in sample_source.releases:
        versions_by_ocid.setdefault(release["ocid"], []).append(release)
    ocid, versions = next((ocid, versions) for ocid, versions in versions_by_ocid.items() if len(versions) == 2)
    client = OcdsClient(sample_source.url, client=http)

    release = client.get_release(ocid)

    assert release == sample_source.latest_by_ocid()[ocid]
    assert release["date"] > versions[0]["date"]


def test_get_release_of_an_unknown_ocid_is_rejected(sample_source, http):
    client = OcdsClient(sample_source.url, client=http)

    with pytest.raises(SourceRejected, match="unknown ocid 'ocds-9t57fa-1'"):
        client.get_release("ocds-9t57fa-1")


def test_a_refused_listing_request_is_rejected(sample_source, http):
    client = OcdsClient(sample_source.url, page_size=0, client=http)

    with pytest.raises(SourceRejected, match="GET /api/OCDSReleases.* answered HTTP 400"):
        list(client.iter_releases(date(2025, 9, 1), date(2025, 9, 2)))


def test_a_closed_port_is_unavailable(http):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = OcdsClient(f"http://127.0.0.1:{closed_port}", client=http)

    with pytest.raises(SourceUnavailable, match="GET /api/OCDSReleases\\?PageNumber=1.* failed: ConnectError"):
        list(client.iter_releases(date(2025, 9, 1), date(2025, 9, 2)))


def test_links_next_on_another_host_is_bad_source_data(sample_source):
    # The sample source builds links.next from the Host header, so a different Host puts the link elsewhere.
    with httpx.Client(headers={"Host": "ocds-api.example.org"}) as http:
        client = OcdsClient(sample_source.url, page_size=5, max_page_size=5, client=http)

        with pytest.raises(BadSourceData, match="links.next leaves the source host 127.0.0.1"):
            list(client.iter_releases(date(2025, 9, 1), date(2025, 9, 2)))


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, SourceUnavailable), (500, SourceUnavailable), (503, SourceUnavailable), (403, SourceRejected)],
)
def test_http_status_mapping(status, error):
    # A 403 is no fault the sample source injects, so these statuses come from an in-process transport.
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json={"error": "nope"}))
    client = OcdsClient("https://ocds-api.example.org", client=httpx.Client(transport=transport))

    with pytest.raises(error, match=f"GET /api/OCDSReleases/release/ocds-9t57fa-1 answered HTTP {status}"):
        client.get_release("ocds-9t57fa-1")


def test_get_release_accepts_a_bare_release():
    bare = {"ocid": "ocds-9t57fa-1", "id": "ocds-9t57fa-1-2025-09-01", "date": "2025-09-01T00:00:00Z"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=bare))
    client = OcdsClient("https://ocds-api.example.org", client=httpx.Client(transport=transport))

    assert client.get_release("ocds-9t57fa-1") == bare


def busy_day_source(faults: Faults, max_page_size: int | None = None) -> SampleSource:
    """2,500 tenders released on BUSY_DAY (and 250 updates two days later)."""
    return SampleSource(start=BUSY_DAY, days=1, count=2500, faults=faults, max_page_size=max_page_size)


def read_busy_day(source: SampleSource, http: httpx.Client, **client_options) -> list[dict[str, Any]]:
    client = OcdsClient(source.url, client=http, policy=QUICK, **client_options)
    return list(client.iter_releases(BUSY_DAY, BUSY_DAY + timedelta(days=1)))


def test_a_busy_day_whose_order_changes_on_every_request_is_read_in_one_larger_page(http):
    with busy_day_source(Faults(unstable_paging=True)) as source:
        releases = read_busy_day(source, http)

        assert sorted(r["id"] for r in releases) == sorted(r["id"] for r in source.releases_listed_on(BUSY_DAY))
        assert len(releases) == 2500
        assert [u.params["PageSize"] for u in http.requested] == ["1000", "2000", "4000"]


def test_a_busy_day_beyond_the_page_a_source_caps_at_is_the_union_of_passes(http):
    with busy_day_source(Faults(unstable_paging=True), max_page_size=1000) as source:
        releases = read_busy_day(source, http)

        assert sorted(r["id"] for r in releases) == sorted(r["id"] for r in source.releases_listed_on(BUSY_DAY))
        assert len(releases) == 2500
        first_pages = [u for u in http.requested if u.params["PageNumber"] == "1"]
        assert len(first_pages) > 3  # 1000 and 2000 served 1000 each, then a pass per further first page


def test_a_busy_day_in_a_steady_order_is_read_in_one_pass(http):
    with busy_day_source(Faults(), max_page_size=1000) as source:
        releases = read_busy_day(source, http)

        assert releases == source.releases_listed_on(BUSY_DAY)
        # PageSize 2000 comes back with 1000 and a links.next: the pass follows it, at the source's 1000 a page.
        assert [(u.params["PageNumber"], u.params["PageSize"]) for u in http.requested] == [
            ("1", "1000"),
            ("1", "2000"),
            ("2", "1000"),
            ("3", "1000"),
        ]


def test_a_day_whose_passes_keep_finding_new_releases_is_listing_incomplete(http):
    with busy_day_source(Faults(unstable_paging=True), max_page_size=1000) as source:
        with pytest.raises(
            ListingIncomplete,
            match=rf"the listing of {BUSY_DAY} kept shifting under its pages of 1000: \d+ releases seen in 2 passes",
        ):
            read_busy_day(source, http, max_passes=2)
