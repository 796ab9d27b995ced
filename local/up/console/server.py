"""The console's HTTP server on 127.0.0.1: GET / (the overview), GET /execution?arn=... (one execution),
POST /start (a workflow's form: its input validated as its first step validates it, then started) and the
static files beside this module."""

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from local.engine.stack import LocalStack
from local.up.alerts import ExecutionWatcher
from local.up.console import database, graph, pages
from local.up.console.execution import outcomes, state_runs
from local.up.endpoint import HOST
from local.up.schedules import Scheduler
from tender_sync.errors import InvalidInput
from tender_sync.models.inputs import InputDefaults, parse_input
from tender_sync.settings import SyncSettings, from_mapping
from tender_sync.workflows import WORKFLOWS

STATIC = Path(__file__).parent / "static"
CONTENT_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


class Console:
    def __init__(
        self, local: LocalStack, database_url: str, watcher: ExecutionWatcher, scheduler: Scheduler, port: int
    ) -> None:
        self.local, self.database_url, self.watcher, self.scheduler = local, database_url, watcher, scheduler
        self.workflows = {local.state_machines[w.state_machine_id(local.template)]: w for w in WORKFLOWS.values()}
        # What a form's input leaves out, from the settings the local functions are given: the first steps fill it
        # in from the same.
        self.input_defaults = InputDefaults.of(from_mapping(SyncSettings, local.environment))
        try:
            self._server = ThreadingHTTPServer((HOST, port), type("Handler", (RequestHandler,), {"console": self}))
        except OSError as error:
            raise SystemExit(
                f"--console-port {port}: cannot listen on {HOST}:{port} ({error.strerror}); choose another port"
            ) from None
        self.url = f"http://{HOST}:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="console", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    # -- what the pages show -----------------------------------------------------------------
    def executions(self) -> list[pages.ExecutionRow]:
        listed = []
        for arn, workflow in self.workflows.items():
            pages_ = self.local.sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
            listed += [(workflow, execution) for page in pages_ for execution in page["executions"]]
        triggers = database.triggers(self.database_url, [execution["executionArn"] for _, execution in listed])
        rows = [
            pages.ExecutionRow(
                arn=execution["executionArn"],
                name=execution["name"],
                workflow=workflow.name,
                status=execution["status"],
                trigger=triggers.get(execution["executionArn"]) or self._input_trigger(execution["executionArn"]),
                started=execution["startDate"],
                stopped=execution.get("stopDate"),
            )
            for workflow, execution in listed
        ]
        return sorted(rows, key=lambda row: row.started, reverse=True)

    def _input_trigger(self, arn: str) -> str:
        """Before (or without) a job_log row: who the input says started it."""
        execution_input = json.loads(self.local.sfn.describe_execution(executionArn=arn).get("input") or "{}")
        return str(execution_input.get("triggeredBy") or "")

    def overview(self, refused: tuple[dict[str, str], str] | None = None) -> str:
        """refused: a form's values and why its input was refused, to show it again with the reason."""
        executions = self.executions()
        state_machines = [
            (workflow, arn, sum(1 for row in executions if row.workflow == workflow.name))
            for arn, workflow in self.workflows.items()
        ]
        schedules = [
            (
                schedule.name,
                schedule.expression,
                self.workflows[self.local.state_machines[schedule.state_machine]].name,
                self.scheduler.next_times[schedule.name],
            )
            for schedule in self.scheduler.schedules
        ]
        forms = "".join(
            pages.start_form(workflow, *refused)
            if refused and refused[0]["_workflow"] == workflow.name
            else pages.start_form(workflow)
            for workflow in WORKFLOWS.values()
        )
        return pages.overview(
            state_machines,
            executions,
            self.watcher.alerts,
            schedules,
            database.panels(self.database_url),
            forms,
            refused=refused is not None,
        )

    def execution(self, arn: str) -> str | None:
        row = next((row for row in self.executions() if row.arn == arn), None)
        if row is None:
            return None
        description = self.local.sfn.describe_execution(executionArn=arn)
        definition = json.loads(self.local.sfn.describe_state_machine_for_execution(executionArn=arn)["definition"])
        history = self.local.history(arn)
        runs = state_runs(history, description["status"])
        map_runs = [
            {**self.local.sfn.describe_map_run(mapRunArn=run["mapRunArn"]), "mapRunArn": run["mapRunArn"]}
            for run in self.local.sfn.list_map_runs(executionArn=arn)["mapRuns"]
        ]
        map_labels = {}
        for name, state in definition["States"].items():
            if "ItemProcessor" in state:
                counts = map_runs[-1]["itemCounts"] if map_runs and outcomes(runs).get(name) else None
                map_labels[name] = (
                    (f"Map, {counts['succeeded']} of {counts['total']} items succeeded, {counts['failed']} failed")
                    if counts
                    else "Map"
                )
        svg = graph.svg(definition, outcomes(runs), map_labels)
        alerts = [alert for alert in self.watcher.alerts if alert.execution_arn == arn]
        published = self.local.published_events(arn)
        return pages.execution_page(row, description, svg, history, runs, map_runs, alerts, published)

    def start_workflow(self, values: dict[str, str]) -> tuple[str | None, str]:
        """Starts the form's workflow: (its execution ARN, "") or (None, why its input was refused)."""
        workflow = WORKFLOWS[values["_workflow"]]
        execution_input = pages.form_input(workflow.request, values)
        try:
            parse_input(workflow.request, execution_input, workflow.name, self.input_defaults)
        except InvalidInput as refused:
            return None, f"{type(refused).__name__}: {refused}"
        return self.local.start(workflow.state_machine_id(self.local.template), execution_input), ""


class RequestHandler(BaseHTTPRequestHandler):
    console: Console

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/":
            self._send(HTTPStatus.OK, self.console.overview())
        elif url.path == "/execution":
            arn = parse_qs(url.query).get("arn", [""])[0]
            body = self.console.execution(arn)
            if body is None:
                self._send(
                    HTTPStatus.NOT_FOUND, pages.page("Not found", f"<p>No execution {pages.cell(arn)}.</p>", False)
                )
            else:
                self._send(HTTPStatus.OK, body)
        elif (
            url.path.startswith("/static/")
            and (STATIC / url.path.removeprefix("/static/")).is_file()
            and "/" not in url.path.removeprefix("/static/")
        ):
            path = STATIC / url.path.removeprefix("/static/")
            self._send(HTTPStatus.OK, path.read_bytes(), CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        else:
            self._send(
                HTTPStatus.NOT_FOUND, pages.page("Not found", f"<p>Nothing at {pages.cell(url.path)}.</p>", False)
            )

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/start":
            self._send(HTTPStatus.NOT_FOUND, pages.page("Not found", "<p>Only /start takes a form.</p>", False))
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        values = {name: given[0] for name, given in parse_qs(body, keep_blank_values=True).items()}
        if values.get("_workflow") not in WORKFLOWS:
            self._send(HTTPStatus.BAD_REQUEST, pages.page("Bad form", "<p>The form names no workflow.</p>", False))
            return
        arn, refused = self.console.start_workflow(values)
        if arn is None:
            self._send(HTTPStatus.BAD_REQUEST, self.console.overview((values, refused)))
            return
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", f"/execution?arn={quote(arn)}")
        self.end_headers()

    def _send(self, code: int, body: str | bytes, content_type: str = "text/html; charset=utf-8") -> None:
        encoded = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(encoded)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: the terminal is for executions and alerts."""
