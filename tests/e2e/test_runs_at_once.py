"""Runs at once share the portal: three workflows started together look each tender up once, each run in its own
range of the portal's schedule, and together within portalRequestsPerSecond."""

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from infra.stack import synth_template
from local.engine.stack import Execution
from local.sample_source.server import SampleSource
from tender_sync.workflows import BACKFILL, SINGLE_TENDER, SYNC
from tests.helpers import DEFAULT_CONFIG
from tests.helpers.local_stack import local_sync

pytestmark = pytest.mark.slow

WEEK = {"from": "2025-09-01", "to": "2025-09-08"}
NEXT_WEEK = {"from": "2025-09-08", "to": "2025-09-15"}


class RecordingPortal:
    """The sample portal behind a proxy that records when each search arrives, and what it searched for."""

    def __init__(self, upstream: str) -> None:
        self.searches: list[tuple[float, str]] = []
        lock = threading.Lock()
        searches = self.searches

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                with lock:
                    searches.append((time.monotonic(), query.get("search[value]", [""])[0]))
                reply = httpx.get(upstream + self.path, timeout=10)
                self.send_response(reply.status_code)
                self.send_header("Content-Type", reply.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator["RecordingPortal"]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def plans(execution: Execution) -> list[dict[str, Any]]:
    """What each PlanLookups of the execution planned."""
    return [
        json.loads(event["stateExitedEventDetails"]["output"])["lookups"]
        for event in execution.history
        if event.get("stateExitedEventDetails", {}).get("name") == "PlanLookups"
    ]


# Lookups start 1/portalRequestsPerSecond apart: one second holds that many, and the next starts a second after
# the first, give or take this machine's timing (the proxy's clock, threads waking a few ms early or late).
JITTER_SECONDS = 0.05


def most_in_one_second(times: list[float]) -> int:
    """The most lookups that started within any one second."""
    times = sorted(times)
    window = 1.0 - JITTER_SECONDS
    return max((sum(1 for other in times[i:] if other < start + window) for i, start in enumerate(times)), default=0)


@pytest.fixture(scope="module")
def paced_template() -> dict[str, Any]:
    """cdk.json's stack: its portalRequestsPerSecond, not the faster pace the other local runs take."""
    return synth_template()


def test_three_runs_at_once_look_each_tender_up_once_within_the_portals_rate(paced_template, database_url):
    template, rate = paced_template, DEFAULT_CONFIG.portal_requests_per_second
    with SampleSource() as source, RecordingPortal(source.url).running() as portal:
        ocid = next(r["ocid"] for r in source.releases if WEEK["from"] <= r["date"][:10] < WEEK["to"])
        with local_sync(template, database_url, source.url, portal.url) as local:
            # Started together: a single tender of the sync's week (both want it looked up), the sync, and a
            # backfill of the next week (its own tenders, but the same portal).
            started = [
                local.start(SINGLE_TENDER.state_machine_id(template), {"ocid": ocid}),
                local.start(SYNC.state_machine_id(template), {"triggeredBy": "test", **WEEK}),
                local.start(BACKFILL.state_machine_id(template), {**NEXT_WEEK, "windowDays": 7}),
            ]
            executions = [local.wait(arn) for arn in started]
    assert [e.status for e in executions] == ["SUCCEEDED"] * 3, [e.cause for e in executions]

    searched = [tender_number for _, tender_number in portal.searches]
    assert searched, "nothing was looked up"
    # No tender looked up twice.
    assert len(searched) == len(set(searched))
    # Each run that looked anything up had its own range of the portal's schedule, one after another. (A sync plans
    # the whole backlog: which run gets which tenders depends on who plans first.)
    ranges = sorted((p["notBefore"], p["notAfter"]) for e in executions for p in plans(e) if p["tenders"])
    assert ranges
    for (_, earlier_end), (later_start, _) in itertools.pairwise(ranges):
        assert earlier_end <= later_start
    # Together, at the portal's rate: the runs' lookups one after another, not all at once. Each child keeps to its
    # own grid of slots, 1/rate apart from its neighbours'; children that start late may each make one lookup off
    # their grid first, so a second can hold up to mapMaxConcurrency - 1 more than the rate.
    times = [at for at, _ in portal.searches]
    assert len(times) / (max(times) - min(times) + 1 / rate) <= rate * 1.05
    assert most_in_one_second(times) <= rate + DEFAULT_CONFIG.map_max_concurrency - 1
