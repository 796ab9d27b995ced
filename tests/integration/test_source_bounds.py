"""What a source may send is bounded: body size (after decompression), a request's whole time, JSON depth and
number length, and what an error message echoes. Over real HTTP, from canned servers on 127.0.0.1."""

import gzip
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tender_sync.errors import BadSourceData, SourceUnavailable
from tender_sync.source.ocds_client import OcdsClient
from tender_sync.source.requests import MIB, RequestPolicy

DAY = date(2025, 9, 1)
RELEASE = {"ocid": "ocds-9t57fa-1", "id": "ocds-9t57fa-1-2025-09-01", "date": "2025-09-01T00:00:00Z"}


@dataclass
class Canned:
    """The answer to every GET: a body, extra headers, and a pause before each byte when dripped."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    drip_seconds: float | None = None
    requests: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    canned: Canned

    def handle_error(self, request, client_address):
        """Quiet: a client that gave up on a dripped body closes the connection under it."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        canned = self.server.canned
        canned.requests += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(canned.body)))
        for name, value in canned.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if canned.drip_seconds is None:
            self.wfile.write(canned.body)
            return
        for byte in canned.body:
            time.sleep(canned.drip_seconds)
            self.wfile.write(bytes([byte]))

    def log_message(self, format, *args):
        """Quiet."""


@contextmanager
def serving(canned: Canned) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.canned = canned
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def package(releases: list[Any], **extra) -> bytes:
    return json.dumps({"uri": "x", "releases": releases, **extra}).encode()


def list_day(url: str, policy: RequestPolicy, **client_options) -> list[dict[str, Any]]:
    with httpx.Client() as http:
        client = OcdsClient(url, client=http, policy=policy, **client_options)
        return list(client.iter_releases(DAY, DAY + timedelta(days=1)))


def test_a_body_over_the_bound_is_bad_source_data_and_not_retried():
    canned = Canned(package([RELEASE] * 100))
    with serving(canned) as url:
        with pytest.raises(BadSourceData, match=r"GET /api/OCDSReleases\?.*: response body exceeds 1,000 bytes"):
            list_day(url, RequestPolicy(attempts=3, backoff=0.01, max_body_bytes=1000))
    assert canned.requests == 1


def test_a_gzip_bomb_is_bad_source_data_once_inflated_past_the_bound():
    bomb = gzip.compress(b'{"releases": [' + b" " * (16 * MIB) + b"]}")
    assert len(bomb) < MIB // 10  # only its inflated size is over the bound
    with serving(Canned(bomb, {"Content-Encoding": "gzip"})) as url:
        with pytest.raises(BadSourceData, match=r"response body exceeds 1 MiB \(after decompression\)$"):
            list_day(url, RequestPolicy(attempts=1, max_body_bytes=MIB))


def test_a_gzip_body_within_the_bound_is_read():
    with serving(Canned(gzip.compress(package([RELEASE])), {"Content-Encoding": "gzip"})) as url:
        assert list_day(url, RequestPolicy(attempts=1, max_body_bytes=MIB)) == [RELEASE]


def test_a_body_encoded_twice_is_refused_before_it_is_inflated():
    body = gzip.compress(gzip.compress(package([RELEASE])))
    with serving(Canned(body, {"Content-Encoding": "gzip, gzip"})) as url:
        with pytest.raises(BadSourceData, match="response is encoded more than once"):
            list_day(url, RequestPolicy(attempts=1))


def test_the_environment_sets_the_body_bound(monkeypatch):
    monkeypatch.setenv("SOURCE_MAX_BODY_BYTES", "1000")

    assert RequestPolicy.from_env().max_body_bytes == 1000


def test_a_body_dripped_a_byte_at_a_time_times_out_on_the_whole_request():
    timeout = 0.5
    # Each byte comes well within httpx's per-read timeout; the whole body would take about 10 s.
    with serving(Canned(package([RELEASE] * 5), drip_seconds=0.02)) as url:
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match=rf"GET /api/OCDSReleases\?.* timed out after {timeout:g} s"):
            list_day(url, RequestPolicy(timeout=timeout, attempts=1))
        assert time.monotonic() - started < 5 * timeout


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"releases": [' + b"7" * 5000 + b"]}", r"response holds a number too long to read: Exceeds the limit"),
        (b"[" * 5000 + b"]" * 5000, "response is nested too deep to read"),
    ],
    ids=["5000-digit integer", "5000 nested arrays"],
)
def test_json_python_cannot_read_is_bad_source_data(body, message):
    with serving(Canned(body)) as url:
        with pytest.raises(BadSourceData, match=message):
            list_day(url, RequestPolicy(attempts=1))


def test_get_release_answered_with_another_ocids_release_is_bad_source_data():
    other = {**RELEASE, "ocid": "ocds-9t57fa-2"}
    with serving(Canned(package([other]))) as url, httpx.Client() as http:
        client = OcdsClient(url, client=http, policy=RequestPolicy(attempts=1))

        with pytest.raises(
            BadSourceData, match="asked for ocid 'ocds-9t57fa-1', answered with a release of ocid \"ocds-9t57fa-2\""
        ):
            client.get_release("ocds-9t57fa-1")


LONG = "x" * 10_000
ONE_A_PAGE = {"page_size": 1, "max_page_size": 1}


@pytest.mark.parametrize(
    ("body", "client_options"),
    [
        (package([RELEASE]).replace(b'"releases"', b'"message": "' + LONG.encode() + b'", "r"'), {}),
        (package([RELEASE], links={"next": f"https://elsewhere.example/{LONG}"}), ONE_A_PAGE),
        (package([RELEASE], links={"next": f"/api/OCDSReleases?{LONG}"}), ONE_A_PAGE),
        (package([RELEASE], links={"next": f"/api/OCDSReleases?{LONG * 10}"}), ONE_A_PAGE),
    ],
    ids=["error body", "links.next off the host", "links.next repeated", "links.next too long for a URL"],
)
def test_a_source_value_echoed_in_an_error_is_cut(body, client_options):
    with serving(Canned(body)) as url:
        with pytest.raises(BadSourceData) as raised:
            list_day(url, RequestPolicy(attempts=1), **client_options)
    assert "xxx..." in str(raised.value) and len(str(raised.value)) < 500


def test_an_ocid_echoed_from_a_bare_release_is_cut():
    with serving(Canned(json.dumps({**RELEASE, "ocid": LONG}).encode())) as url, httpx.Client() as http:
        client = OcdsClient(url, client=http, policy=RequestPolicy(attempts=1))

        with pytest.raises(BadSourceData, match='answered with a release of ocid "xxx') as raised:
            client.get_release("ocds-9t57fa-1")
    assert len(str(raised.value)) < 500
