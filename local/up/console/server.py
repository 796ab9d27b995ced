"""The console's HTTP server on 127.0.0.1: GET / (the overview: ?machine=ARN&status=STATUS&page=N filter and page
its executions, with those run outside this make up whose histories are saved), GET /execution?arn=... (one
execution, one child execution of a Map Run, or one run outside this make up, by its ARN or name), POST /start (a
workflow's form: its input validated as its first step validates it, then started), POST /stop and POST /restart
(stop an execution; start its state machine again with its input) and the static files beside this module.

Every request is answered: a part of a page that cannot be read or drawn shows a placeholder saying why, and a
request that fails altogether gets an error page."""

import dataclasses
import functools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from botocore.exceptions import ClientError

from local.engine.stack import LocalStack
from local.up.alerts import ExecutionWatcher
from local.up.console import database, graph, pages
from local.up.console.execution import StateRun, outcomes, state_runs, taken
from local.up.console.map_children import Child, MapChildren
from local.up.console.pages import guarded
from local.up.console.saved import Saved, SavedExecutions, trigger_in
from local.up.endpoint import HOST
from local.up.schedules import Scheduler
from tender_sync.errors import DatabaseError, DatabaseUnavailable, InvalidDatabaseUrl, InvalidInput
from tender_sync.models.inputs import InputDefaults, parse_input
from tender_sync.settings import SyncSettings, from_mapping
from tender_sync.workflows import WORKFLOWS

STATIC = Path(__file__).parent / "static"
CONTENT_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
DATABASE_ERRORS = (DatabaseUnavailable, DatabaseError, InvalidDatabaseUrl)


class Console:
    def __init__(
        self, local: LocalStack, database_url: str, watcher: ExecutionWatcher, scheduler: Scheduler, port: int
    ) -> None:
        self.local, self.database_url, self.watcher, self.scheduler = local, database_url, watcher, scheduler
        self.workflows = {local.state_machines[w.state_machine_id(local.template)]: w for w in WORKFLOWS.values()}
        # What a form's input leaves out, from the settings the local functions are given: the first steps fill it
        # in from the same.
        self.input_defaults = InputDefaults.of(from_mapping(SyncSettings, local.environment))
        self.children = MapChildren()
        self.saved = SavedExecutions()
        try:
            self._server = ThreadingHTTPServer((HOST, port), type("Handler", (RequestHandler,), {"console": self}))
        except OSError as error:
            raise SystemExit(
                f"--console-port {port}: cannot listen on {HOST}:{port} ({error.strerror}); choose another port"
            ) from None
        self.url = f"http://{HOST}:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="console", daemon=True)

    def start(self) -> None:
        self.children.start()
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self.children.stop()

    # -- the overview ------------------------------------------------------------------------------------------
    def state_machines(self) -> list[pages.StateMachine]:
        """Every state machine (the template's, and any made through the endpoint), with its executions."""
        result = []
        for listed in self.local.sfn.get_paginator("list_state_machines").paginate():
            for machine in listed["stateMachines"]:
                arn = machine["stateMachineArn"]
                executions = self.local.sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
                result.append(
                    pages.StateMachine(
                        self._label(arn),
                        arn,
                        machine.get("type", ""),
                        [execution for page in executions for execution in page["executions"]],
                    )
                )
        return result

    def _label(self, state_machine_arn: str) -> str:
        """A state machine's name here: its workflow's, else its own."""
        workflow = self.workflows.get(state_machine_arn)
        return workflow.name if workflow else state_machine_arn.rsplit(":", 1)[-1]

    def overview(self, filters: pages.Filters, refused: tuple[dict[str, str], str] | None = None) -> str:
        """refused: a form's values and why its input was refused, to show it again with the reason (the page then
        does not refresh, so the reason and the values stay)."""
        machines = functools.cache(self.state_machines)
        forms = "".join(
            pages.start_form(workflow, *refused)
            if refused and refused[0]["_workflow"] == workflow.name
            else pages.start_form(workflow)
            for workflow in WORKFLOWS.values()
        )
        body = [
            guarded("the alerts", lambda: pages.alerts_section(self.watcher.alerts)),
            guarded("the state machines", lambda: pages.state_machines_section(machines())),
            guarded("the executions", lambda: self._executions(machines(), filters)),
            guarded("the schedules", lambda: pages.schedules_section(self._schedules())),
            f"<section><h2>Start a workflow</h2>{forms}</section>",
            guarded("the database", lambda: pages.database_section(database.panels(self.database_url))),
        ]
        try:
            running = any(e["status"] == "RUNNING" for machine in machines() for e in machine.executions)
        except Exception:  # noqa: BLE001  # the executions part says why they cannot be listed; look again soon
            running = True
        return pages.page("Console", "".join(body), refresh=refused is None and running)

    def _executions(self, machines: list[pages.StateMachine], filters: pages.Filters) -> str:
        """This make up's executions, and those run outside it (whose histories are saved), by their state
        machine's ARN here ("" for a state machine not this make up's)."""
        here = [
            (
                machine.arn,
                pages.Execution(
                    arn=execution["executionArn"],
                    name=execution["name"],
                    machine=machine.label,
                    status=execution["status"],
                    started=execution["startDate"],
                    stopped=execution.get("stopDate"),
                ),
            )
            for machine in machines
            for execution in machine.executions
        ]
        names = {execution.name for _, execution in here}
        saved, unreadable = self.saved.listed(names)
        outside = [
            (self.local.state_machines.get(s.state_machine or "", ""), self._outside_execution(s)) for s in saved
        ]
        listed = sorted(
            (
                (machine, execution)
                for machine, execution in here + outside
                if filters.machine in ("", machine) and filters.status in ("", execution.status)
            ),
            key=lambda pair: pair[1].started or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        )
        rows = [
            execution for _, execution in listed[(filters.page - 1) * pages.PAGE_SIZE : filters.page * pages.PAGE_SIZE]
        ]
        triggers, note = self._triggers([row.arn for row in rows])
        for row in rows:
            row.trigger = triggers.get(row.arn) or row.trigger or ("" if row.outside else self._input_trigger(row.arn))
        if unreadable:
            note += pages.unavailable("some saved histories", "; ".join(unreadable))
        return pages.executions_section(machines, filters, rows, len(listed), note)

    def _outside_execution(self, saved: Saved) -> pages.Execution:
        """A saved execution, its state machine named as this make up names it."""
        machine = self.local.state_machines.get(saved.state_machine or "")
        return dataclasses.replace(
            saved.execution, machine=self._label(machine) if machine else saved.execution.machine
        )

    def _triggers(self, arns: list[str]) -> tuple[dict[str, str], str]:
        """Who started each execution, as job_log says; and, when it cannot be read, a placeholder saying why."""
        try:
            return database.triggers(self.database_url, arns), ""
        except DATABASE_ERRORS as error:
            return {}, pages.unavailable("the triggers job_log records", f"{type(error).__name__}: {error}")

    def _input_trigger(self, arn: str) -> str:
        """Before (or without) a job_log row: who the input says started it (any JSON may be an input)."""
        try:
            return trigger_in(self.local.sfn.describe_execution(executionArn=arn).get("input"))
        except ClientError:
            return ""

    def _schedules(self) -> list[tuple[str, str, str, datetime | None]]:
        return [
            (
                schedule.name,
                schedule.expression,
                self._label(self.local.state_machines[schedule.state_machine]),
                self.scheduler.next_times.get(schedule.name),
            )
            for schedule in self.scheduler.schedules
        ]

    # -- one execution -----------------------------------------------------------------------------------------
    def execution(self, arn: str) -> str | None:
        """Its page; None when there is no such execution."""
        child = self.children.get(arn)
        if child is not None:
            return self._child(child)
        try:
            description = self.local.sfn.describe_execution(executionArn=arn)
        except ClientError:
            return self._outside(arn)
        machine_arn = str(description.get("stateMachineArn", ""))
        triggers, _ = self._triggers([arn])
        execution = pages.Execution(
            arn=arn,
            name=str(description.get("name") or arn.rsplit(":", 1)[-1]),
            machine=self._label(machine_arn),
            status=str(description.get("status", "?")),
            started=description.get("startDate"),
            stopped=description.get("stopDate"),
            trigger=triggers.get(arn) or self._input_trigger(arn),
            input=description.get("input"),
            output=description.get("output"),
            error=description.get("error"),
            cause=description.get("cause"),
        )
        history = functools.cache(lambda: self.local.history(arn))
        runs = functools.cache(lambda: state_runs(history(), execution.status))
        definition = functools.cache(
            lambda: json.loads(self.local.sfn.describe_state_machine_for_execution(executionArn=arn)["definition"])
        )
        map_runs = functools.cache(lambda: self._map_runs(arn, runs()))
        above = [
            guarded("the actions", lambda: pages.actions(execution)),
            guarded("the execution's details", lambda: pages.facts(execution, self._alerts(arn))),
            guarded("the Map Runs", lambda: pages.map_runs_section(map_runs(), self._children(map_runs()))),
            guarded("the events published", lambda: pages.published_section(self.local.published_events(arn))),
        ]
        return self._page(execution, above, definition, history, runs, map_runs)

    def _outside(self, arn: str) -> str | None:
        """The page of an execution run outside this make up, from its saved history; None when none is saved."""
        found = self.saved.get(arn)
        if found is None:
            return None
        saved, history = found
        execution = self._outside_execution(saved)
        triggers, _ = self._triggers([execution.arn])
        execution.trigger = triggers.get(execution.arn) or execution.trigger
        runs = functools.cache(lambda: state_runs(history, execution.status))
        machine = self.local.state_machines.get(saved.state_machine or "")

        def definition() -> dict[str, Any]:
            if machine is None:
                raise LookupError(
                    f"this make up has no state machine {saved.state_machine} to draw it from"
                    if saved.state_machine
                    else "its history was saved without its ARN, which names its state machine"
                )
            return dict(json.loads(self.local.sfn.describe_state_machine(stateMachineArn=machine)["definition"]))

        above = [
            guarded(
                "what its saved history holds",
                lambda: pages.outside_note(execution, any(run.map_run for run in runs()), machine is not None),
            ),
            guarded("the execution's details", lambda: pages.facts(execution, [])),
        ]
        return self._page(execution, above, functools.cache(definition), lambda: history, runs, list)

    def _child(self, child: Child) -> str:
        history = functools.cache(child.history)
        runs = functools.cache(lambda: state_runs(history(), child.status))
        parent = functools.cache(
            lambda: json.loads(
                self.local.sfn.describe_state_machine_for_execution(executionArn=child.parent_arn)["definition"]
            )
        )
        execution = self._child_execution(child)
        above = [guarded("the execution's details", lambda: pages.facts(execution, []))]
        item_processor = functools.cache(lambda: parent()["States"][child.map_state]["ItemProcessor"])
        return self._page(execution, above, item_processor, history, runs, list)

    def _page(
        self,
        execution: pages.Execution,
        above: list[str],
        definition: Callable[[], dict[str, Any]],
        history: Callable[[], list[dict[str, Any]]],
        runs: Callable[[], list[StateRun]],
        map_runs: Callable[[], list[dict[str, Any]]],
    ) -> str:
        svg = guarded("the graph", lambda: self._graph(definition(), runs(), map_runs()))
        states = guarded("the states' details", lambda: pages.state_details(definition()["States"], runs()))
        body = [
            *above,
            pages.graph_section(svg, states),
            guarded("the events", lambda: pages.events_section(history())),
        ]
        return pages.page(f"Execution {execution.name}", "".join(body), refresh=execution.status == "RUNNING")

    def _graph(self, definition: dict[str, Any], runs: list[StateRun], map_runs: list[dict[str, Any]]) -> str:
        map_labels = {}
        for run in map_runs:
            counts = run.get("itemCounts") or {}
            map_labels[str(run.get("state"))] = (
                f"Map, {counts.get('succeeded', 0)} of {counts.get('total', 0)} items succeeded, "
                f"{counts.get('failed', 0)} failed"
            )
        return graph.svg(definition, outcomes(runs), map_labels, taken(runs))

    def _map_runs(self, arn: str, runs: list[StateRun]) -> list[dict[str, Any]]:
        """The execution's Map Runs as describe-map-run gives them, each with the Map state that ran it."""
        states = {run.map_run: run.name for run in runs if run.map_run}
        return [
            {**self.local.sfn.describe_map_run(mapRunArn=listed["mapRunArn"]), "state": states.get(listed["mapRunArn"])}
            for listed in self.local.sfn.list_map_runs(executionArn=arn)["mapRuns"]
        ]

    def _children(self, map_runs: list[dict[str, Any]]) -> dict[str, list[pages.Execution]]:
        return {
            run["mapRunArn"]: [self._child_execution(child) for child in self.children.of_map_run(run["mapRunArn"])]
            for run in map_runs
        }

    def _child_execution(self, child: Child) -> pages.Execution:
        return pages.Execution(
            arn=child.arn,
            name=child.name,
            machine=f"{self._label(child.state_machine_arn)} / {child.map_state}",
            status=child.status,
            started=child.started,
            stopped=child.stopped,
            input=child.execution_input(),
            output=child.output,
            error=child.error,
            cause=child.cause,
            parent=child.parent_arn,
        )

    def _alerts(self, arn: str) -> list[Any]:
        return [alert for alert in self.watcher.alerts if alert.execution_arn == arn]

    # -- what the forms do -------------------------------------------------------------------------------------
    def start_workflow(self, values: dict[str, str]) -> tuple[str | None, str]:
        """Starts the form's workflow: (its execution ARN, "") or (None, why its input was refused)."""
        workflow = WORKFLOWS[values["_workflow"]]
        execution_input = pages.form_input(workflow.request, values)
        try:
            parse_input(workflow.request, execution_input, workflow.name, self.input_defaults)
        except InvalidInput as refused:
            return None, f"{type(refused).__name__}: {refused}"
        return self.local.start(workflow.state_machine_id(self.local.template), execution_input), ""

    def stop_execution(self, arn: str) -> None:
        self.local.sfn.stop_execution(executionArn=arn, cause="stopped from the console")

    def start_again(self, arn: str) -> str:
        """Starts the execution's state machine again with its input; the new execution's ARN."""
        description = self.local.sfn.describe_execution(executionArn=arn)
        return str(
            self.local.sfn.start_execution(
                stateMachineArn=description["stateMachineArn"], name=str(uuid.uuid4()), input=description["input"]
            )["executionArn"]
        )


@dataclass
class Reply:
    code: int
    body: str | bytes
    content_type: str = "text/html; charset=utf-8"
    location: str | None = None


def error_page(code: int, title: str, why: str) -> Reply:
    return Reply(code, pages.page(title, f"<p>{escape(why)}</p>", False))


class RequestHandler(BaseHTTPRequestHandler):
    console: Console

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def _answer(self, route: Callable[[SplitResult], Reply]) -> None:
        try:
            reply = route(urlsplit(self.path))
        except Exception as error:  # noqa: BLE001  # every request gets an answer, saying what went wrong
            reply = error_page(HTTPStatus.INTERNAL_SERVER_ERROR, "Console error", f"{type(error).__name__}: {error}")
        self.send_response(reply.code)
        if reply.location:
            self.send_header("Location", reply.location)
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _get(self, url: SplitResult) -> Reply:
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        if url.path == "/":
            page = query.get("page", "1")
            filters = pages.Filters(
                machine=query.get("machine", ""),
                status=query.get("status", "") if query.get("status") in pages.STATUSES else "",
                page=int(page) if page.isdigit() and int(page) > 0 else 1,
            )
            return Reply(HTTPStatus.OK, self.console.overview(filters))
        if url.path == "/execution":
            arn = query.get("arn", "")
            body = self.console.execution(arn)
            if body is None:
                return error_page(HTTPStatus.NOT_FOUND, "Not found", f"No execution {arn}.")
            return Reply(HTTPStatus.OK, body)
        name = url.path.removeprefix("/static/")
        if url.path.startswith("/static/") and "/" not in name and (STATIC / name).is_file():
            path = STATIC / name
            return Reply(HTTPStatus.OK, path.read_bytes(), CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        return error_page(HTTPStatus.NOT_FOUND, "Not found", f"Nothing at {url.path}.")

    def _post(self, url: SplitResult) -> Reply:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        values = {name: given[0] for name, given in parse_qs(body, keep_blank_values=True).items()}
        if url.path == "/start":
            if values.get("_workflow") not in WORKFLOWS:
                return error_page(HTTPStatus.BAD_REQUEST, "Bad form", "The form names no workflow.")
            arn, refused = self.console.start_workflow(values)
            if arn is None:
                return Reply(HTTPStatus.BAD_REQUEST, self.console.overview(pages.Filters(), (values, refused)))
            return Reply(HTTPStatus.SEE_OTHER, "", location=pages.execution_url(arn))
        if url.path in ("/stop", "/restart"):
            arn = values.get("arn", "")
            try:
                if url.path == "/stop":
                    self.console.stop_execution(arn)
                else:
                    arn = self.console.start_again(arn)
            except ClientError as error:
                return error_page(HTTPStatus.BAD_REQUEST, "Refused", f"{arn}: {error}")
            return Reply(HTTPStatus.SEE_OTHER, "", location=pages.execution_url(arn))
        return error_page(HTTPStatus.NOT_FOUND, "Not found", "Only /start, /stop and /restart take a form.")

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: the terminal is for executions and alerts."""
