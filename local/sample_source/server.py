"""The sample source's HTTP server: the OCDS releases API (listing and detail) and the portal's tender search,
answering from the tenders of releases.py (the live data, or the fixed data) with the faults of faults.py.

The source knows its ground truth (releases_listed_on; for the fixed data also expected_tenders, broken) and
counts the faults it injected by kind (fault_counts).
"""

import bisect
import json
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from local.sample_source.faults import (
    BROKEN_RELEASE_FAULTS,
    DATA_FAULTS,
    ERROR_BODY,
    NO_DATE,
    POISON_FAULTS,
    QUARANTINED_POISON_FAULTS,
    STATUS_FAULTS,
    Faults,
    is_true,
)
from local.sample_source.releases import (
    TENDERS_A_DAY,
    UPDATE_AFTER,
    LiveTenders,
    PortalRow,
    Release,
    sample_tenders,
)

RELEASES_PATH = "/api/OCDSReleases"
RELEASE_PATH_PREFIX = "/api/OCDSReleases/release/"
PORTAL_SEARCH_PATH = "/Home/PaginatedTenderOpportunities"
# The fixed data's layout when none is given (releases.py): 200 tenders over September 2025.
FIXED_LAYOUT = (date(2025, 9, 1), 30, 200)
FIXED_ENVIRONMENT_VARIABLE = "SAMPLE_FIXED"


def serves_live_data() -> bool:
    """Whether a SampleSource made without saying serves the live data: unless SAMPLE_FIXED=1."""
    return not is_true(os.environ.get(FIXED_ENVIRONMENT_VARIABLE, ""))


@dataclass
class Reply:
    status: int
    document: Any


class SampleSource:
    def __init__(
        self,
        start: date = FIXED_LAYOUT[0],
        days: int = FIXED_LAYOUT[1],
        count: int = FIXED_LAYOUT[2],
        portal_latency: float = 0.0,
        faults: Faults | None = None,
        max_page_size: int | None = None,
        fixed: bool | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """fixed: the fixed data, `count` tenders over `days` days from `start`, whatever the time; otherwise the
        live data, which keeps publishing (releases.py), as of `clock()` (the time now, unless given). None reads
        it from the environment: SAMPLE_FIXED=1 for the fixed data (as the tests set it).
        faults: None reads them from the environment (SAMPLE_FAULTS_*). Request faults follow `self.faults`
        as it is when each request arrives, so a test may change them between runs; data faults are made here.
        max_page_size: the most releases a listing page holds, whatever PageSize asks, as an API capping its
        page size does; None serves PageSize releases."""
        if fixed is None:
            fixed = not serves_live_data()
        if not fixed and (start, days, count) != FIXED_LAYOUT:
            raise ValueError("start, days and count lay out the fixed data: ask for the fixed data with them")
        self.portal_latency = portal_latency
        self.max_page_size = max_page_size
        self.faults = Faults.from_env() if faults is None else faults
        self.clock = clock or (lambda: datetime.now(UTC))
        self._url: str | None = None
        self._server: _Server | None = None
        self._lock = threading.Lock()
        self._requests_by_url: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()

        self.fixed = fixed
        self._live = None if fixed else LiveTenders()
        self._data_faults = self.faults
        # The fixed data's ground truth; empty for the live data, whose ground truth is releases_listed_on.
        self.portal_rows: list[PortalRow] = []
        self.releases: list[Release] = []
        # (kind, release) for every release broken on purpose: a correct sync quarantines exactly these.
        self.broken: list[tuple[str, Release]] = []
        # (kind, release) for every release poisoned on purpose and stored cleaned by a correct sync.
        self.poisoned: list[tuple[str, Release]] = []
        self._releases_by_day: dict[str, list[Release]] = {}
        self._latest_by_ocid: dict[str, Release] = {}
        # The tender numbers the portal search looks in: the fixed data's, or the live data's up to a day past
        # the newest a search has needed (made again when a search needs more).
        self._tender_numbers = _SubstringIndex([])
        if not fixed:
            return

        self.portal_rows, listed = sample_tenders(start, days, count)
        self.releases = [release for _, release in listed]
        self.broken = _break_releases(self.releases, self._data_faults, "", self._injected)
        self.poisoned = _poison_releases(self.releases, self._data_faults, "", self._injected, self.broken)
        for day, release in listed:
            self._releases_by_day.setdefault(day, []).append(release)
            if "ocid" in release:
                self._latest_by_ocid[release["ocid"]] = release  # sorted by day, so the last one is the newest
        self._tender_numbers = _SubstringIndex([row["tender_No"] for row in self.portal_rows])

    # -- ground truth --------------------------------------------------------------------------
    def latest_by_ocid(self) -> dict[str, Release]:
        """The newest release of each ocid, as the detail endpoint serves it."""
        return dict(self._latest_by_ocid)

    def expected_tenders(self) -> dict[str, Release]:
        """What a correct sync stores: per ocid, its newest release that was not broken on purpose."""
        broken = {id(release) for _, release in self.broken}
        expected: dict[str, Release] = {}
        for release in self.releases:
            if id(release) in broken:
                continue
            current = expected.get(release["ocid"])
            if current is None or (release["date"], release["id"]) > (current["date"], current["id"]):
                expected[release["ocid"]] = release
        return expected

    def releases_listed_on(self, day: date) -> list[Release]:
        """What the listing gives for `day` (as of clock(), for the live data)."""
        return self._listed_on(day, self.clock())

    def _listed_on(self, day: date, now: datetime) -> list[Release]:
        if self._live is None:
            return list(self._releases_by_day.get(day.isoformat(), []))
        listed = self._live.releases_on(day)
        # Drawn for the whole day, from the day: a release is damaged the same way whenever it is listed.
        releases = [release for _, release in listed]
        broken = _break_releases(releases, self._data_faults, f":{day}", Counter())
        _poison_releases(releases, self._data_faults, f":{day}", Counter(), broken)
        return [release for appears, release in listed if appears <= now]

    def _newest(self, ocid: str, now: datetime) -> Release | None:
        """The newest release of the ocid listed by now, as the detail endpoint serves it."""
        if self._live is None:
            return self._latest_by_ocid.get(ocid)
        k = self._live.tender_of(ocid)
        if k is None:
            return None
        first_day = self._live.appears(k).date()
        releases = [
            release
            for day in (first_day, first_day + UPDATE_AFTER)
            for release in self._listed_on(day, now)
            if release.get("ocid") == ocid
        ]
        return releases[-1] if releases else None

    def _numbers(self, count: int) -> "_SubstringIndex":
        """The index of tender numbers, holding at least the first `count` tenders'."""
        with self._lock:
            if self._live is not None and len(self._tender_numbers) < count:
                numbers = [self._live.tender_number(k) for k in range(count + TENDERS_A_DAY)]
                self._tender_numbers = _SubstringIndex(numbers)
            return self._tender_numbers

    def fault_counts(self) -> dict[str, int]:
        """Faults injected so far, by kind: the fixed data's data faults, and request faults as they were
        served."""
        with self._lock:
            return dict(self._injected)

    def _next_request(self, url: str) -> tuple[int, str | None]:
        """This request's number among the requests for url, and the request fault it gets, if any."""
        with self._lock:
            number = self._requests_by_url[url]
            self._requests_by_url[url] += 1
            faults = self.faults
            if not faults.rate or not faults.kinds:
                return number, None
            draw = random.Random(f"{faults.seed}:{url}:{number}")
            if draw.random() >= faults.rate:
                return number, None
            kind = draw.choice(faults.kinds)
            self._injected[kind] += 1
            return number, kind

    def _counted(self, kind: str) -> None:
        with self._lock:
            self._injected[kind] += 1

    @property
    def url(self) -> str:
        """Where it serves, once started (and still after it stops)."""
        if self._url is None:
            raise RuntimeError("the sample source has not been started")
        return self._url

    def start(self, port: int = 0) -> str:
        self._server = _Server(port, self)
        # A short poll interval: stop() waits up to one for the serving loop to notice.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sample-source", daemon=True
        ).start()
        self._url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self._url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "SampleSource":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def reply(self, path: str, query: dict[str, list[str]], base_url: str, order_seed: str = "") -> Reply:
        """The answer to one GET. base_url is where the client reached us, for absolute links; order_seed
        orders a listing when paging is unstable."""
        if path == RELEASES_PATH:
            return self._list_releases(query, base_url, order_seed)
        if path.startswith(RELEASE_PATH_PREFIX):
            return self._get_release(unquote(path[len(RELEASE_PATH_PREFIX) :]), base_url)
        if path == PORTAL_SEARCH_PATH:
            return self._search_portal(query)
        return Reply(HTTPStatus.NOT_FOUND, {"error": f"no such path {path}"})

    def _list_releases(self, query: dict[str, list[str]], base_url: str, order_seed: str) -> Reply:
        try:
            page_number = int(_param(query, "PageNumber"))
            page_size = int(_param(query, "PageSize"))
            date_from = date.fromisoformat(_param(query, "dateFrom"))
            date_to = date.fromisoformat(_param(query, "dateTo"))
        except (KeyError, ValueError) as exc:
            return Reply(HTTPStatus.BAD_REQUEST, {"error": f"invalid or missing parameter: {exc}"})
        if page_number < 1 or page_size < 1:
            return Reply(HTTPStatus.BAD_REQUEST, {"error": "PageNumber and PageSize must be at least 1"})
        if self.max_page_size is not None:
            page_size = min(page_size, self.max_page_size)

        now = self.clock()
        days = (date_to - date_from).days + 1
        matching = [release for n in range(days) for release in self._listed_on(date_from + timedelta(days=n), now)]
        if self.faults.unstable_paging and len(matching) > 1:
            matching = random.Random(order_seed).sample(matching, len(matching))
            self._counted("unstable-paging")
        offset = (page_number - 1) * page_size

        def page_url(number: int) -> str:
            parameters = {"PageNumber": number, "PageSize": page_size, "dateFrom": date_from, "dateTo": date_to}
            return f"{base_url}{RELEASES_PATH}?{urlencode(parameters)}"

        package = _package(page_url(page_number), matching[offset : offset + page_size], now)
        if offset + page_size < len(matching):
            package["links"]["next"] = page_url(page_number + 1)
        return Reply(HTTPStatus.OK, package)

    def _get_release(self, ocid: str, base_url: str) -> Reply:
        now = self.clock()
        release = self._newest(ocid, now)
        if release is None:
            return Reply(HTTPStatus.NOT_FOUND, {"error": f"unknown ocid {ocid}"})
        return Reply(HTTPStatus.OK, _package(f"{base_url}{RELEASE_PATH_PREFIX}{quote(ocid)}", [release], now))

    def _search_portal(self, query: dict[str, list[str]]) -> Reply:
        try:
            draw = int(_param(query, "draw", "1"))
            start = int(_param(query, "start", "0"))
            length = int(_param(query, "length", "10"))
        except ValueError as exc:
            return Reply(HTTPStatus.BAD_REQUEST, {"error": f"invalid parameter: {exc}"})
        if start < 0 or length < 0:
            return Reply(HTTPStatus.BAD_REQUEST, {"error": "start and length must not be negative"})
        time.sleep(self.portal_latency)
        total = len(self.portal_rows) if self._live is None else self._live.appeared_by(self.clock())
        matches = [
            i for i in self._numbers(total).positions_containing(_param(query, "search[value]", "")) if i < total
        ]
        page = matches[start : start + length]
        return Reply(
            HTTPStatus.OK,
            {
                "draw": draw,
                "recordsTotal": total,
                "recordsFiltered": len(matches),
                "data": [self.portal_rows[i] for i in page]
                if self._live is None
                else [self._live.portal_row(k) for k in page],
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, source: SampleSource) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.source = source

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout, a closed connection) is routine, not a server fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Keep-alive, and no Nagle delay between the headers and the body: scale tests make thousands of requests.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        source = self.server.source
        number, fault = source._next_request(self.path)
        if fault in STATUS_FAULTS:
            retry_after = {"Retry-After": str(source.faults.retry_after)} if fault == "429-retry-after" else {}
            self._send(STATUS_FAULTS[fault], _json_bytes({"message": f"HTTP {STATUS_FAULTS[fault]}"}), **retry_after)
            return
        url = urlsplit(self.path)
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        reply = source.reply(
            url.path, parse_qs(url.query), f"http://{host}", f"{source.faults.seed}:{self.path}:{number}"
        )
        if fault == "error-body":
            reply = Reply(HTTPStatus.OK, ERROR_BODY)
        charset = "ISO-8859-1" if fault == "latin-1" else "utf-8"
        body = _json_bytes(reply.document, charset)
        if fault == "truncated":
            body = body[: len(body) // 2]
        if fault == "slow":
            time.sleep(source.faults.slow_seconds)
        self._send(reply.status, body, charset=charset)

    def _send(self, status: int, body: bytes, charset: str = "utf-8", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"application/json; charset={charset}")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests make thousands of requests."""


class _SubstringIndex:
    """Case-insensitive contains-search over many short strings, in one C-speed scan of a joined text."""

    SEPARATOR = "\x00"

    def __init__(self, values: list[str]) -> None:
        lowered = [value.lower() for value in values]
        self._text = self.SEPARATOR.join(lowered)
        self._starts: list[int] = []
        offset = 0
        for value in lowered:
            self._starts.append(offset)
            offset += len(value) + 1

    def __len__(self) -> int:
        return len(self._starts)

    def positions_containing(self, needle: str) -> list[int]:
        """Indexes of the values containing needle, in order."""
        needle = needle.lower()
        if self.SEPARATOR in needle:
            return []
        if not needle:
            return list(range(len(self._starts)))
        found = []
        at = self._text.find(needle)
        while at != -1:
            index = bisect.bisect_right(self._starts, at) - 1
            found.append(index)
            # Continue after this value: one match per value.
            next_value = index + 1
            if next_value == len(self._starts):
                break
            at = self._text.find(needle, self._starts[next_value])
        return found


def _break_releases(
    releases: list[Release], faults: Faults, salt: str, injected: Counter[str]
) -> list[tuple[str, Release]]:
    """Break a share faults.broken of the releases in place, drawn from the seed and salt, counting each fault in
    `injected`: (kind, release) for those a correct sync quarantines."""
    if not faults.broken:
        return []
    draw = random.Random(f"{faults.seed}:releases{salt}")
    broken = []
    for release in releases:
        if draw.random() >= faults.broken:
            continue
        kind = draw.choice(DATA_FAULTS)
        if kind == "missing-ocid":
            del release["ocid"]
        elif kind == "missing-date":
            del release["date"]
        elif kind == "sentinel-date":
            release["date"] = NO_DATE
        else:
            release["tender"]["tenderPeriod"]["endDate"] = NO_DATE
        injected[kind] += 1
        if kind in BROKEN_RELEASE_FAULTS:
            broken.append((kind, release))
    return broken


def _poison_releases(
    releases: list[Release], faults: Faults, salt: str, injected: Counter[str], broken: list[tuple[str, Release]]
) -> list[tuple[str, Release]]:
    """Poison a share faults.poisoned of the releases not already broken, in place, each kind in turn: adds
    those a correct sync quarantines to `broken`, and returns (kind, release) for those it stores cleaned."""
    if not faults.poisoned:
        return []
    draw = random.Random(f"{faults.seed}:poison{salt}")
    already_broken = {id(release) for _, release in broken}
    poisoned = []
    for release in releases:
        if id(release) in already_broken or draw.random() >= faults.poisoned:
            continue
        kind = POISON_FAULTS[sum(injected[k] for k in POISON_FAULTS) % len(POISON_FAULTS)]
        tender = release["tender"]
        if kind == "nul-text":
            tender["description"] = tender["description"][:10] + "\x00" + tender["description"][10:]
            tender["documents"] = [
                {**document, "title": document["title"] + "\x00"} for document in tender["documents"]
            ]
        elif kind == "lone-surrogate":
            tender["description"] += " \ud83d"
        elif kind == "huge-amount":
            tender["value"]["amount"] = "1e999999"
        elif kind == "nan-amount":
            tender["value"]["amount"] = float("nan")
        else:
            release["ocid"] += "/../../runs"
        injected[kind] += 1
        if kind in QUARANTINED_POISON_FAULTS:
            broken.append((kind, release))
        else:
            poisoned.append((kind, release))
    return poisoned


def _json_bytes(document: Any, charset: str = "utf-8") -> bytes:
    text = json.dumps(document, ensure_ascii=False)
    # Characters the charset cannot hold (and lone surrogates, which no charset holds) travel as JSON \u
    # escapes, as such a publisher must send them.
    cannot_hold = "[\ud800-\udfff]" if charset == "utf-8" else "[^\x00-\xff]"
    return re.sub(cannot_hold, lambda match: json.dumps(match.group())[1:-1], text).encode(charset)


def _param(query: dict[str, list[str]], name: str, default: str | None = None) -> str:
    values = query.get(name)
    if values:
        return values[0]
    if default is None:
        raise KeyError(name)
    return default


def _package(uri: str, releases: list[Release], now: datetime) -> dict[str, Any]:
    return {
        "uri": uri,
        "version": "1.1",
        "publishedDate": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "publisher": {"name": "National Treasury (local sample)"},
        "releases": releases,
        "links": {},
    }
