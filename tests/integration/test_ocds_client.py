"""OcdsClient against the sample eTenders source over real HTTP on 127.0.0.1."""
import math
import socket
from datetime import date, timedelta

import httpx
import pytest

from tender_sync.errors import BadSourceData, SourceRejected, SourceUnavailable
from tender_sync.ocds_client import OcdsClient


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


def released_on(sample_source, first: date, last: date) -> list[dict]:
    return [r for r in sample_source.releases if first.isoformat() <= r["date"][:10] <= last.isoformat()]


def test_the_window_is_listed_one_day_at_a_time_and_a_full_day_reads_on(sample_source, http):
    client = OcdsClient(sample_source.url, page_size=7, client=http)
    first, end = date(2025, 9, 1), date(2025, 10, 4)

    releases = list(client.iter_releases(first, end))

    assert [r["id"] for r in releases] == [r["id"] for r in sample_source.releases]
    days = [first + timedelta(days=n) for n in range((end - first).days)]
    # One request per day, and one more per further page of a day holding more than a page.
    pages = [max(1, math.ceil(len(sample_source.releases_listed_on(day)) / 7)) for day in days]
    assert len(http.requested) == sum(pages) > len(days)
    assert [(u.params["dateFrom"], u.params["dateTo"]) for u in http.requested if u.params["PageNumber"] == "1"] == [
        (day.isoformat(), day.isoformat()) for day in days]


def test_window_is_half_open(sample_source, http):
    client = OcdsClient(sample_source.url, page_size=1000, client=http)

    releases = list(client.iter_releases(date(2025, 9, 2), date(2025, 9, 4)))

    assert {r["date"][:10] for r in releases} == {"2025-09-02", "2025-09-03"}
    assert releases == released_on(sample_source, date(2025, 9, 2), date(2025, 9, 3))
    assert [(u.params["dateFrom"], u.params["dateTo"]) for u in http.requested] == [
        ("2025-09-02", "2025-09-02"), ("2025-09-03", "2025-09-03")]


def test_one_day_window_holds_that_day_only(sample_source, http):
    client = OcdsClient(sample_source.url, client=http)

    releases = list(client.iter_releases(date(2025, 9, 3), date(2025, 9, 4)))

    assert releases == released_on(sample_source, date(2025, 9, 3), date(2025, 9, 3))
    assert len(releases) > 0


def test_empty_window_makes_no_request(sample_source, http):
    client = OcdsClient(sample_source.url, client=http)

    assert list(client.iter_releases(date(2025, 9, 3), date(2025, 9, 3))) == []
    assert http.requested == []


def test_a_full_last_page_stops_when_links_next_is_absent(sample_source, http):
    day = date(2025, 9, 5)
    on_that_day = released_on(sample_source, day, day)
    client = OcdsClient(sample_source.url, page_size=len(on_that_day), client=http)

    assert list(client.iter_releases(day, day + timedelta(days=1))) == on_that_day
    assert len(http.requested) == 1


def test_get_release_returns_the_newest_release_of_an_updated_tender(sample_source, http):
    versions_by_ocid: dict[str, list[dict]] = {}
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
        client = OcdsClient(sample_source.url, page_size=5, client=http)

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
