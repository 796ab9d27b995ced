"""The OCDS and portal clients against the sample source's faults, over real HTTP on 127.0.0.1."""

import email.utils
import json
import threading
import time
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from local.sample_source.faults import BROKEN_RELEASE_FAULTS, DATA_FAULTS, REQUEST_FAULTS, Faults
from local.sample_source.server import SampleSource
from tender_sync.errors import BadSourceData, SourceRejected, SourceUnavailable
from tender_sync.source.normalize import NormalizationError, normalize_release
from tender_sync.source.ocds_client import OcdsClient
from tender_sync.source.portal_client import PortalClient
from tender_sync.source.requests import RequestPolicy

WINDOW = (date(2025, 9, 1), date(2025, 9, 11))
# Short waits; attempts enough that a 30% fault rate never exhausts them on these seeds.
PATIENT = RequestPolicy(timeout=0.3, attempts=6, backoff=0.01)
BRIEF = RequestPolicy(timeout=0.3, attempts=3, backoff=0.01)
SAST = timezone(timedelta(hours=2))


def listed_in(source: SampleSource, start: date, end: date) -> list[dict[str, Any]]:
    return [r for n in range((end - start).days) for r in source.releases_listed_on(start + timedelta(days=n))]


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


@pytest.mark.parametrize("kind", REQUEST_FAULTS)
def test_a_listing_comes_out_whole_through_each_request_fault(kind, http):
    with SampleSource(faults=Faults(seed=7, rate=0.3, kinds=(kind,), slow_seconds=0.6, retry_after=0)) as source:
        releases = list(OcdsClient(source.url, client=http, policy=PATIENT).iter_releases(*WINDOW))

        assert releases == listed_in(source, *WINDOW)
        assert source.fault_counts()[kind] > 0


def test_iso_8859_1_bodies_are_read_with_their_charset(http):
    with SampleSource(faults=Faults(rate=1.0, kinds=("latin-1",))) as source:
        releases = list(OcdsClient(source.url, client=http, policy=BRIEF).iter_releases(*WINDOW))

        assert releases == listed_in(source, *WINDOW)
        text = json.dumps(releases, ensure_ascii=False)
        assert "é" in text and "’" in text  # one byte in ISO-8859-1, and one sent as a \u escape


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("429-retry-after", SourceUnavailable, r"answered HTTP 429 \(Retry-After 0 s\)"),
        ("429", SourceUnavailable, "answered HTTP 429"),
        ("500", SourceUnavailable, "answered HTTP 500"),
        ("502", SourceUnavailable, "answered HTTP 502"),
        ("503", SourceUnavailable, "answered HTTP 503"),
        ("slow", SourceUnavailable, "timed out after 0.3 s"),
        ("truncated", BadSourceData, r"response is not valid JSON \(.*truncated\?\)"),
        ("error-body", BadSourceData, 'response has no releases: {"message": "An error has occurred."}'),
    ],
)
def test_a_fault_that_does_not_pass_is_raised_typed_after_the_attempts(kind, error, message, http):
    with SampleSource(faults=Faults(rate=1.0, kinds=(kind,), slow_seconds=0.6, retry_after=0)) as source:
        client = OcdsClient(source.url, client=http, policy=BRIEF)

        with pytest.raises(
            error, match=r"^GET /api/OCDSReleases\?PageNumber=1&.*" + message + r".* \(attempt 3 of 3\)$"
        ):
            list(client.iter_releases(*WINDOW))
        assert source.fault_counts()[kind] == 3


def test_retry_after_is_honoured(http):
    with SampleSource(faults=Faults(rate=1.0, kinds=("429-retry-after",), retry_after=1)) as source:
        client = OcdsClient(source.url, client=http, policy=RequestPolicy(attempts=2, backoff=0.01))
        started = time.monotonic()

        with pytest.raises(SourceUnavailable, match=r"HTTP 429 \(Retry-After 1 s\) \(attempt 2 of 2\)"):
            list(client.iter_releases(*WINDOW))
        assert time.monotonic() - started >= 1.0


class AnsweringServer(ThreadingHTTPServer):
    """A server on 127.0.0.1 that counts the requests it answered."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        super().__init__(("127.0.0.1", 0), handler)
        self.answered = 0


class RetryAfterDateOnce(BaseHTTPRequestHandler):
    """Answers its first request 429 with Retry-After as an HTTP date 2 s ahead, then a bare release."""

    def do_GET(self):
        assert isinstance(self.server, AnsweringServer)
        self.server.answered += 1
        if self.server.answered == 1:
            self.send_response(429)
            self.send_header("Retry-After", email.utils.formatdate(time.time() + 2, usegmt=True))
            body = b'{"message": "slow down"}'
        else:
            self.send_response(200)
            release = {"ocid": "ocds-9t57fa-1", "id": "ocds-9t57fa-1-2025-09-01", "date": "2025-09-01"}
            body = json.dumps(release).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def test_retry_after_given_as_an_http_date_is_honoured(http):
    with AnsweringServer(RetryAfterDateOnce) as server:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            client = OcdsClient(
                f"http://127.0.0.1:{server.server_address[1]}",
                client=http,
                policy=RequestPolicy(attempts=2, backoff=0.01),
            )
            started = time.monotonic()

            release = client.get_release("ocds-9t57fa-1")

            waited = time.monotonic() - started
        finally:
            server.shutdown()
    assert release["id"] == "ocds-9t57fa-1-2025-09-01"
    assert server.answered == 2
    # The date is to the second, so the wait is 1 to 2 s; with no Retry-After it would be the 0.01 s backoff.
    assert waited >= 0.9


def test_a_retry_after_beyond_the_wait_budget_gives_up_at_once(http):
    with SampleSource(faults=Faults(rate=1.0, kinds=("429-retry-after",), retry_after=60)) as source:
        client = OcdsClient(source.url, client=http, policy=RequestPolicy(attempts=4, backoff=0.01))

        with pytest.raises(SourceUnavailable, match=r"Retry-After 60 s\) \(attempt 1 of 4\)"):
            list(client.iter_releases(*WINDOW))
        assert source.fault_counts() == {"429-retry-after": 1}


def test_a_refusal_is_not_retried(sample_source):
    requests: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [requests.append]}) as http:
        client = OcdsClient(sample_source.url, client=http, policy=PATIENT)

        with pytest.raises(SourceRejected, match="unknown ocid"):
            client.get_release("ocds-9t57fa-1")
    assert len(requests) == 1


def test_unstable_paging_cannot_upset_a_day_read_in_one_page(http):
    with SampleSource(faults=Faults(seed=5, unstable_paging=True)) as source:
        releases = list(OcdsClient(source.url, client=http, policy=BRIEF).iter_releases(*WINDOW))

        assert sorted(r["id"] for r in releases) == sorted(r["id"] for r in listed_in(source, *WINDOW))
        assert releases != listed_in(source, *WINDOW)  # the order did change
        assert source.fault_counts()["unstable-paging"] == (WINDOW[1] - WINDOW[0]).days


def test_a_full_day_whose_pages_shift_is_read_whole_in_a_larger_page(http):
    day = date(2025, 9, 3)
    with SampleSource(faults=Faults(seed=5, unstable_paging=True)) as source:
        on_that_day = source.releases_listed_on(day)
        client = OcdsClient(source.url, page_size=len(on_that_day) // 3, client=http, policy=BRIEF)

        releases = list(client.iter_releases(day, day + timedelta(days=1)))

        assert sorted(r["id"] for r in releases) == sorted(r["id"] for r in on_that_day)


def test_releases_broken_on_purpose_are_exactly_those_that_cannot_be_normalized():
    source = SampleSource(faults=Faults(seed=3, broken=0.2))
    broken = {id(release) for _, release in source.broken}

    for release in source.releases:
        if id(release) in broken:
            with pytest.raises(NormalizationError, match="has no (ocid|date)"):
                normalize_release(release)
            continue
        tender = normalize_release(release)
        end = release["tender"]["tenderPeriod"]["endDate"]
        if end == "0001-01-01T00:00:00":
            assert tender.close_date is None
        else:  # a fake Z: South African wall-clock time
            assert end.endswith("Z") and tender.close_date == datetime.fromisoformat(end[:-1]).replace(tzinfo=SAST)
    counts = source.fault_counts()
    assert all(counts[kind] > 0 for kind in DATA_FAULTS)
    assert len(source.broken) == sum(counts[kind] for kind in BROKEN_RELEASE_FAULTS)
    assert set(source.expected_tenders()) <= {r.get("ocid") for r in source.releases}


@pytest.mark.parametrize("kind", REQUEST_FAULTS)
def test_portal_lookups_come_through_each_request_fault(kind, http):
    with SampleSource(faults=Faults(seed=11, rate=0.3, kinds=(kind,), slow_seconds=0.6, retry_after=0)) as source:
        portal = PortalClient(source.url, client=http, policy=PATIENT)

        for row in source.portal_rows[:20]:
            assert row["id"] in [found["id"] for found in portal.search(row["tender_No"].strip())]
        assert source.fault_counts()[kind] > 0
