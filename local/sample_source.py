"""A local eTenders-compatible source: the OCDS releases API and the portal's tender search, on 127.0.0.1.

Built from the 200 real portal rows in the shared sample data. Never deployed.

Tender k (k = 0 .. count-1) comes from portal row k % 200 (rows sorted by id), in cycle k // 200:
- id = row id + cycle * 1_000_000, ocid ocds-9t57fa-{id}; tender number = tender_No, suffixed /{cycle} after cycle 0;
- one release on day start + (k % days), at midnight labelled Z as eTenders publishes it;
- even k: the newer feed shape carrying the portal fields (category, province, briefing, contact...);
  odd k: the older shape without them, so enrichment needs the portal;
- k % 10 == 0: a second, newer release 2 days later: closing date 7 days later when k % 20 == 0,
  status "cancelled" when k % 20 == 10.
"""
import argparse
import bisect
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ocds"
PORTAL_ROWS_FILE = "etenders-za/portal_PaginatedTenderOpportunities_2025-09-18.json"
OCID_PREFIX = "ocds-9t57fa"
CYCLE_ID_OFFSET = 1_000_000
RELEASES_PATH = "/api/OCDSReleases"
RELEASE_PATH_PREFIX = "/api/OCDSReleases/release/"
PORTAL_SEARCH_PATH = "/Home/PaginatedTenderOpportunities"


def sample_data_dir() -> Path:
    """The shared OCDS sample data, unless OCDS_SAMPLE_DATA names another directory."""
    return Path(os.environ.get("OCDS_SAMPLE_DATA") or SHARED_DATA)


def load_portal_rows() -> list[dict]:
    """The 200 real portal rows, sorted by id."""
    document = json.loads((sample_data_dir() / PORTAL_ROWS_FILE).read_text(encoding="utf-8"))
    return sorted(document["data"], key=lambda row: row["id"])


@dataclass
class Reply:
    status: int
    document: Any


class SampleSource:
    def __init__(
        self,
        start: date = date(2025, 9, 1),
        days: int = 30,
        count: int = 200,
        portal_latency: float = 0.0,
    ):
        self.portal_latency = portal_latency
        self.url: str | None = None
        self._server: _Server | None = None

        base_rows = load_portal_rows()
        # Built once per real row: quoting document URLs is most of the cost of 50,000 releases.
        base_documents = [[_document(document) for document in row.get("supportDocument") or []] for row in base_rows]
        self.portal_rows: list[dict] = []
        self.releases: list[dict] = []
        for k in range(count):
            cycle, base = divmod(k, len(base_rows))
            row = _synthetic_row(base_rows[base], cycle)
            self.portal_rows.append(row)
            self.releases.extend(_releases_for(row, base_documents[base], k, start + timedelta(days=k % days)))
        self.releases.sort(key=lambda release: (release["date"], release["ocid"]))

        self._releases_by_day: dict[str, list[dict]] = {}
        self._latest_by_ocid: dict[str, dict] = {}
        for release in self.releases:
            self._releases_by_day.setdefault(release["date"][:10], []).append(release)
            self._latest_by_ocid[release["ocid"]] = release  # sorted by date, so the last one is the newest
        self._days = sorted(self._releases_by_day)
        self._tender_numbers = _SubstringIndex([row["tender_No"] for row in self.portal_rows])

    def latest_by_ocid(self) -> dict[str, dict]:
        return dict(self._latest_by_ocid)

    def start(self, port: int = 0) -> str:
        self._server = _Server(port, self)
        threading.Thread(target=self._server.serve_forever, name="sample-source", daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

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

    def reply(self, path: str, query: dict[str, list[str]], base_url: str) -> Reply:
        """The answer to one GET. base_url is where the client reached us, for absolute links."""
        if path == RELEASES_PATH:
            return self._list_releases(query, base_url)
        if path.startswith(RELEASE_PATH_PREFIX):
            return self._get_release(unquote(path[len(RELEASE_PATH_PREFIX) :]), base_url)
        if path == PORTAL_SEARCH_PATH:
            return self._search_portal(query)
        return Reply(HTTPStatus.NOT_FOUND, {"error": f"no such path {path}"})

    def _list_releases(self, query: dict[str, list[str]], base_url: str) -> Reply:
        try:
            page_number = int(_param(query, "PageNumber"))
            page_size = int(_param(query, "PageSize"))
            date_from = date.fromisoformat(_param(query, "dateFrom"))
            date_to = date.fromisoformat(_param(query, "dateTo"))
        except (KeyError, ValueError) as exc:
            return Reply(HTTPStatus.BAD_REQUEST, {"error": f"invalid or missing parameter: {exc}"})
        if page_number < 1 or page_size < 1:
            return Reply(HTTPStatus.BAD_REQUEST, {"error": "PageNumber and PageSize must be at least 1"})

        first = bisect.bisect_left(self._days, date_from.isoformat())
        last = bisect.bisect_right(self._days, date_to.isoformat())
        matching = [release for day in self._days[first:last] for release in self._releases_by_day[day]]
        offset = (page_number - 1) * page_size

        def page_url(number: int) -> str:
            parameters = {"PageNumber": number, "PageSize": page_size, "dateFrom": date_from, "dateTo": date_to}
            return f"{base_url}{RELEASES_PATH}?{urlencode(parameters)}"

        package = _package(page_url(page_number), matching[offset : offset + page_size])
        if offset + page_size < len(matching):
            package["links"]["next"] = page_url(page_number + 1)
        return Reply(HTTPStatus.OK, package)

    def _get_release(self, ocid: str, base_url: str) -> Reply:
        release = self._latest_by_ocid.get(ocid)
        if release is None:
            return Reply(HTTPStatus.NOT_FOUND, {"error": f"unknown ocid {ocid}"})
        return Reply(HTTPStatus.OK, _package(f"{base_url}{RELEASE_PATH_PREFIX}{quote(ocid)}", [release]))

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
        matches = self._tender_numbers.positions_containing(_param(query, "search[value]", ""))
        return Reply(
            HTTPStatus.OK,
            {
                "draw": draw,
                "recordsTotal": len(self.portal_rows),
                "recordsFiltered": len(matches),
                "data": [self.portal_rows[i] for i in matches[start : start + length]],
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, source: SampleSource):
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
        # Fault injection (429/5xx, slow or truncated bodies, error bodies, other charsets, page shuffles)
        # belongs here, between the reply and the bytes on the wire.
        url = urlsplit(self.path)
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        reply = self.server.source.reply(url.path, parse_qs(url.query), f"http://{host}")
        body = json.dumps(reply.document, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests make thousands of requests."""


class _SubstringIndex:
    """Case-insensitive contains-search over many short strings, in one C-speed scan of a joined text."""

    SEPARATOR = "\x00"

    def __init__(self, values: list[str]):
        lowered = [value.lower() for value in values]
        self._text = self.SEPARATOR.join(lowered)
        self._starts = []
        offset = 0
        for value in lowered:
            self._starts.append(offset)
            offset += len(value) + 1

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


def _param(query: dict[str, list[str]], name: str, default: str | None = None) -> str:
    values = query.get(name)
    if values:
        return values[0]
    if default is None:
        raise KeyError(name)
    return default


def _package(uri: str, releases: list[dict]) -> dict:
    return {
        "uri": uri,
        "version": "1.1",
        "publishedDate": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "publisher": {"name": "National Treasury (local sample)"},
        "releases": releases,
        "links": {},
    }


def _synthetic_row(row: dict, cycle: int) -> dict:
    if cycle == 0:
        return row
    tender_number = f"{row['tender_No']}/{cycle}"
    return {
        **row,
        "id": row["id"] + cycle * CYCLE_ID_OFFSET,
        "tender_No": tender_number,
        "actions": {**row["actions"], "tender_No": tender_number},
    }


def _releases_for(row: dict, documents: list[dict], k: int, day: date) -> list[dict]:
    ocid = f"{OCID_PREFIX}-{row['id']}"
    first = _release(row, documents, ocid, day, new_shape=k % 2 == 0)
    if k % 10 != 0:
        return [first]
    update = _release(row, documents, ocid, day + timedelta(days=2), new_shape=k % 2 == 0)
    if k % 20 == 0:
        closing = datetime.fromisoformat(row["closing_Date"]) + timedelta(days=7)
        update["tender"]["tenderPeriod"]["endDate"] = closing.isoformat() + "Z"
    else:
        update["tender"]["status"] = "cancelled"
    return [first, update]


def _release(row: dict, documents: list[dict], ocid: str, day: date, new_shape: bool) -> dict:
    department = {"id": str(row["departmentsID"]), "name": row["department"]}
    tender = {
        "id": str(row["id"]),
        "title": row["tender_No"],
        "status": "active",
        "mainProcurementCategory": _main_category(row["category"]),
        "description": row["description"],
        "value": {"amount": 0, "currency": "ZAR"},
        "documents": [dict(document) for document in documents],
        "tenderPeriod": {"startDate": row["date_Published"] + "Z", "endDate": row["closing_Date"] + "Z"},
        "tenderers": [],
        "procuringEntity": dict(department),
        "procurementMethodDetails": row["type"],
    }
    if new_shape:
        briefing_date = row["compulsory_briefing_session"]
        tender.update(
            {
                "category": row["category"],
                "province": row["province"],
                "deliveryLocation": row["delivery"],
                "specialConditions": row["conditions"],
                "briefingSession": {
                    "isSession": row["briefingSession"],
                    "compulsory": row["briefingCompulsory"],
                    "date": briefing_date + "Z" if briefing_date else None,
                    "venue": row["briefingVenue"],
                },
                "contactPerson": {
                    "name": row["contactPerson"],
                    "email": row["email"],
                    "telephoneNumber": row["telephone"],
                },
            }
        )
    return {
        "ocid": ocid,
        "id": f"{ocid}-{day.isoformat()}",
        "date": f"{day.isoformat()}T00:00:00Z",
        "tag": ["compiled"],
        "initiationType": "tender",
        "tender": tender,
        "planning": {"rationale": "", "budget": {"description": " - "}, "documents": []},
        "parties": [],
        "buyer": dict(department),
        "language": "en-za",
        "awards": [],
        "contracts": [],
    }


def _main_category(category: str) -> str:
    if category.startswith(("Construction", "Civil", "Building")):
        return "works"
    if category.startswith("Services"):
        return "services"
    return "goods"


def _document(document: dict) -> dict:
    blob_name = document["supportDocumentID"] + document["extension"]
    modified = document["dateModified"][:19] + "Z"
    return {
        "id": document["supportDocumentID"],
        "documentType": "basic",
        "title": document["fileName"],
        "description": document["fileName"],
        "url": f"https://www.etenders.gov.za/home/Download?blobName={blob_name}"
        f"&downloadedFileName={quote(document['fileName'])}",
        "datePublished": modified,
        "dateModified": modified,
        "format": document["extension"].lstrip("."),
        "language": "en",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a local eTenders-compatible OCDS API and portal.")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 9, 1), help="first release day")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--count", type=int, default=200, help="number of tenders")
    parser.add_argument("--portal-latency", type=float, default=0.0, help="seconds per portal search")
    arguments = parser.parse_args()
    source = SampleSource(arguments.start, arguments.days, arguments.count, arguments.portal_latency)
    url = source.start(arguments.port)
    print(f"Serving {len(source.releases)} releases of {arguments.count} tenders at {url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        source.stop()


if __name__ == "__main__":
    main()
