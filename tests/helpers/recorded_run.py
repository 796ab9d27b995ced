"""One whole sync on this machine, the alerts runs its change events start, a scheduled alerts run with nothing due,
then one run of each other workflow, recording every S3 request each function's handler made and every Lambda
invocation: what the infra tests hold the IAM grants, the cost model and the Maps' children against."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import httpx
import psycopg
from botocore.client import BaseClient

from infra.stack import synth_template
from local.engine.database import fresh_database
from local.engine.stack import LocalStack
from local.sample_source.server import SampleSource
from tender_sync.storage import migrations
from tender_sync.workflows import ALERTS, BACKFILL, CLEANUP, ENRICH_TODAY, SINGLE_TENDER, SYNC

# The alerts key the functions are given here (the AlertsKey secret's text on AWS).
ALERTS_KEY = "recorded-run-alerts-key"


@dataclass
class S3Call:
    function: str  # logical id of the function whose handler made the call
    operation: str
    params: dict[str, Any]


@dataclass
class Invocation:
    function: str  # logical id
    output: Any  # what the handler returned (for a handler error, Lambda's {errorType, errorMessage, ...})
    workflow_run: int  # 0: the sync; then the alerts runs and the other workflows' runs, in order


@dataclass
class AlertsRun:
    """One alerts execution: its output (MatchAlerts' plan in `alerts`, RecordDeliveries' counts in `recorded`)
    and the S3 requests its handlers made."""

    output: dict[str, Any]
    s3_calls: list[S3Call]


@dataclass
class RecordedRun:
    """One whole sync run on this machine, the alerts runs after it, then one run of each other workflow, with
    every S3 request each function's handler made.

    Every URL inside the source's releases and portal rows (document links and the like) points at
    `elsewhere`, a second server on this machine that counts the requests it gets. One email subscription, matching
    every tender, is there before the sync: its change event's alerts run sends it one email."""

    template: dict[str, Any]
    output: dict[str, Any]
    # The runs the sync's change events started, then a scheduled run, which finds nothing due.
    alerts_runs: list[AlertsRun]
    other_outputs: list[dict[str, Any]]  # enrich-today's, the backfill's, the single tender's and the cleanup's
    s3_calls: list[S3Call]  # the sync's
    other_s3_calls: list[S3Call]  # those of the other workflows' runs, after the alerts runs
    invocations: list[Invocation]  # every Lambda invocation of all those runs, in order
    listing_body: str  # a listing page as the source served it
    elsewhere_url: str
    elsewhere_requests: list[str]


class Elsewhere(ThreadingHTTPServer):
    """An HTTP server no source URL names: it records each request's path."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def point_urls_at(value: Any, url: str) -> Any:
    """`value` with every http(s) URL inside it (changed in place) pointing at `url`, its host and path kept as
    the path."""
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = point_urls_at(item, url)
    elif isinstance(value, list):
        value[:] = [point_urls_at(item, url) for item in value]
    elif isinstance(value, str) and value.startswith(("http://", "https://")):
        return f"{url}/{value.split('://', 1)[1]}"
    return value


@contextmanager
def recording_a_run(server_url: str) -> Iterator[RecordedRun]:
    """The recorded runs, on a fresh database of the server at `server_url`; `elsewhere` is shut down after."""
    template = synth_template()
    # The state machine runs one function at a time, but for the Map's LookUpBatch children: so each
    # S3 call (whatever client and thread made it) belongs to the one function running.
    running: dict[str, int] = {}
    lock = threading.Lock()
    calls: list[S3Call] = []
    invocations: list[Invocation] = []
    workflow_run = [0]
    make_api_call = BaseClient._make_api_call
    invoke = LocalStack._invoke

    def recording_invoke(local, function_name, qualifier, body, headers, response_headers):
        encoded = invoke(local, function_name, qualifier, body, headers, response_headers)
        logical_id = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        with lock:
            invocations.append(Invocation(logical_id, json.loads(encoded), workflow_run[0]))
        return encoded

    def recording_api_call(client, operation, params):
        if client.meta.service_model.service_name == "s3":
            with lock:
                assert len(running) <= 1, f"functions running at once: {running}"
                function = next(iter(running), None)
            if function:
                calls.append(S3Call(function, operation, dict(params)))
        return make_api_call(client, operation, params)

    @contextmanager
    def counted_as_running(function: str) -> Iterator[None]:
        with lock:
            running[function] = running.get(function, 0) + 1
        try:
            yield
        finally:
            with lock:
                running[function] -= 1
                if not running[function]:
                    del running[function]

    elsewhere = Elsewhere()
    try:
        with (
            fresh_database(server_url) as database_url,
            SampleSource(fixed=True) as source,
            mock.patch.object(BaseClient, "_make_api_call", recording_api_call),
            mock.patch.object(LocalStack, "_invoke", recording_invoke),
        ):
            with psycopg.connect(database_url) as conn:
                migrations.migrate(conn)
                conn.execute(
                    "INSERT INTO alert_subscriptions (channel, address) VALUES ('email', 'subscriber@example.org')"
                )
            point_urls_at(source.releases, elsewhere.url)
            point_urls_at(source.portal_rows, elsewhere.url)
            listing_body = httpx.get(
                f"{source.url}/api/OCDSReleases",
                params={"PageNumber": 1, "PageSize": 5, "dateFrom": "2025-09-01", "dateTo": "2025-09-30"},
            ).text
            environment = {
                "DATABASE_URL": database_url,
                "OCDS_BASE_URL": source.url,
                "PORTAL_BASE_URL": source.url,
                "ALERTS_KEY": ALERTS_KEY,
            }
            with LocalStack(template, environment, around_invoke=counted_as_running) as local:
                execution = local.execute(SYNC.state_machine_id(template), {"triggeredBy": "test"})
                sync_calls = len(calls)
                # As EventBridge would: each rule on the stack's bus starts its state machine with the event.
                alerts_inputs = [(machine, event) for event in execution.events for machine in local.rule_starts(event)]
                alerts_inputs.append((ALERTS.state_machine_id(template), {"triggeredBy": "schedule"}))
                alerts_executions, alerts_calls = [], []
                for machine, execution_input in alerts_inputs:
                    workflow_run[0] += 1
                    first_call = len(calls)
                    alerts_executions.append(local.execute(machine, execution_input))
                    alerts_calls.append(calls[first_call:])
                others_from = len(calls)
                # A tender of the older shape (the portal has its category), whose last lookup failed and is due
                # again: its single-tender run looks it up in the portal.
                ocid = next(r["ocid"] for r in source.releases if "category" not in r["tender"])
                others = []
                for workflow, execution_input in (
                    (ENRICH_TODAY, {"maxEnrichment": 5}),
                    (BACKFILL, {"from": "2025-09-08", "to": "2025-09-10", "windowDays": 1}),
                    (SINGLE_TENDER, {"ocid": ocid}),
                    (CLEANUP, {}),
                ):
                    if workflow is SINGLE_TENDER:
                        with psycopg.connect(database_url, autocommit=True) as conn:
                            assert (
                                conn.execute(
                                    """UPDATE tenders SET enrichment_status = 'failed', enrichment_error = 'an earlier lookup failed',
                                          enrichment_attempts = 1, enrichment_due_at = now() - interval '1 minute'
                                    WHERE ocid = %s""",
                                    (ocid,),
                                ).rowcount
                                == 1
                            )
                    workflow_run[0] += 1
                    others.append(local.execute(workflow.state_machine_id(template), execution_input))
        assert execution.status == "SUCCEEDED", execution.cause
        assert [run.status for run in alerts_executions] == ["SUCCEEDED"] * len(alerts_executions), [
            run.cause for run in alerts_executions
        ]
        assert [other.status for other in others] == ["SUCCEEDED"] * len(others), [o.cause for o in others]
        other_outputs = [other.output for other in others if other.output is not None]
        assert execution.output is not None and len(other_outputs) == len(others)
        assert other_outputs[2]["looked"]["lookups"] == 1  # the single tender's
        yield RecordedRun(
            template=template,
            output=execution.output,
            alerts_runs=[
                AlertsRun(run.output or {}, run_calls)
                for run, run_calls in zip(alerts_executions, alerts_calls, strict=True)
            ],
            other_outputs=other_outputs,
            s3_calls=calls[:sync_calls],
            other_s3_calls=calls[others_from:],
            invocations=invocations,
            listing_body=listing_body,
            elsewhere_url=elsewhere.url,
            elsewhere_requests=elsewhere.requests,
        )
    finally:
        elsewhere.shutdown()
