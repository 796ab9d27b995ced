"""The console's pages as HTML: the overview (state machines, executions, alerts, schedules, the forms to start each
workflow, the database) and one execution (its graph beside its events, each state's input and output, its Map
Runs). Every value is escaped; a page refreshes itself while an execution it shows is running."""

import json
import typing
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import Any

from pydantic import BaseModel

from local.up.alerts import Alert
from local.up.console.database import Panel
from local.up.console.execution import StateRun
from tender_sync.workflows import Workflow

REFRESH_SECONDS = 2
# The overview lists the newest executions only (a schedule firing every few seconds makes thousands).
SHOWN_EXECUTIONS = 50


@dataclass
class ExecutionRow:
    arn: str
    name: str
    workflow: str
    status: str
    trigger: str
    started: datetime
    stopped: datetime | None

    @property
    def duration(self) -> str:
        end = self.stopped or datetime.now(self.started.tzinfo)
        return f"{(end - self.started).total_seconds():.1f} s"


def page(title: str, body: str, refresh: bool) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>{meta}'
        '<link rel="stylesheet" href="/static/console.css"></head><body>'
        f'<header><a href="/">tender sync, local stack</a>{" <span class=live>refreshing</span>" if refresh else ""}'
        f"</header><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def table(columns: list[str], rows: list[list[str]], css: str = "") -> str:
    """A table of cells already made HTML."""
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return escape(f"{value:%Y-%m-%d %H:%M:%S}")
    return escape(str(value))


def status(value: str) -> str:
    return f'<span class="status {escape(value.lower())}">{escape(value)}</span>'


def execution_link(row: ExecutionRow) -> str:
    return f'<a href="/execution?arn={escape(row.arn)}">{escape(row.name)}</a>'


def overview(
    state_machines: list[tuple[Workflow[Any], str, int]],
    executions: list[ExecutionRow],
    alerts: list[Alert],
    schedules: list[tuple[str, str, str, datetime | None]],
    panels: list[Panel] | None,
    forms: str,
    refused: bool = False,
) -> str:
    """state_machines: (workflow, ARN, executions); schedules: (name, expression, workflow, next time). refused: a
    form's input was refused, and the page shows why: it does not refresh, so the reason and the values stay."""
    parts = []
    if alerts:
        parts.append(
            "<section><h2>Alerts</h2>"
            + table(
                ["at (UTC)", "status", "message"],
                [[cell(alert.at), status(alert.status), cell(alert.message)] for alert in reversed(alerts)],
                "alerts",
            )
            + "</section>"
        )
    parts.append(
        "<section><h2>State machines</h2>"
        + table(
            ["workflow", "state machine", "executions"],
            [
                [cell(workflow.name), f"<code>{cell(arn)}</code>", cell(count)]
                for workflow, arn, count in state_machines
            ],
        )
        + "</section>"
    )
    shown = f"<p>The newest {SHOWN_EXECUTIONS} of {len(executions)}.</p>" if len(executions) > SHOWN_EXECUTIONS else ""
    parts.append(
        "<section><h2>Executions</h2>"
        + shown
        + (
            table(
                ["execution", "workflow", "status", "trigger", "started (UTC)", "duration"],
                [
                    [
                        execution_link(row),
                        cell(row.workflow),
                        status(row.status),
                        cell(row.trigger),
                        cell(row.started),
                        cell(row.duration),
                    ]
                    for row in executions[:SHOWN_EXECUTIONS]
                ],
                "executions",
            )
            if executions
            else "<p>None yet: start one below, with the AWS CLI, or wait for a schedule.</p>"
        )
        + "</section>"
    )
    parts.append(
        "<section><h2>Schedules</h2>"
        + table(
            ["schedule", "expression", "starts", "next (UTC)"],
            [
                [cell(name), f"<code>{cell(expression)}</code>", cell(workflow), cell(next_time) or "never again"]
                for name, expression, workflow, next_time in schedules
            ],
        )
        + "</section>"
    )
    parts.append(f"<section><h2>Start a workflow</h2>{forms}</section>")
    parts.append("<section><h2>Database</h2>")
    if panels is None:
        parts.append("<p>Nothing yet: no workflow has run against this database.</p>")
    for panel in panels or []:
        parts.append(f"<h3>{escape(panel.title)}</h3>")
        parts.append(
            table(panel.columns, [[cell(value) for value in row] for row in panel.rows], "data")
            if panel.rows
            else "<p>none</p>"
        )
    parts.append("</section>")
    return page("Console", "".join(parts), refresh=not refused and any(row.status == "RUNNING" for row in executions))


def start_form(workflow: Workflow[Any], values: dict[str, str] | None = None, error: str | None = None) -> str:
    """A form for the workflow's input: one field per field of its input model, typed as the model types it."""
    fields = []
    for name, info in workflow.request.model_fields.items():
        field = info.alias or name
        kind = field_type(info.annotation)
        input_type = {date: "date", int: "number"}.get(kind, "text")
        value = (values or {}).get(field, "")
        required = " required" if info.is_required() else ""
        default = (
            ""
            if info.default is None or info.is_required() or info.default_factory
            else f' placeholder="{escape(str(info.default))}"'
        )
        fields.append(
            f"<label>{escape(field)}{' *' if required else ''} "
            f'<input name="{escape(field)}" type="{input_type}" value="{escape(value)}"{default}{required}></label>'
        )
    problem = f'<p class="error">{escape(error)}</p>' if error else ""
    return (
        f'<form class="start" method="post" action="/start" id="start-{escape(workflow.name)}" novalidate>'
        f'<h3>{escape(workflow.name)}</h3><input type="hidden" name="_workflow" value="{escape(workflow.name)}">'
        f'{"".join(fields)}<button type="submit">Start {escape(workflow.name)}</button>{problem}</form>'
    )


def field_type(annotation: Any) -> Any:
    """A field's type without its None: date | None is a date."""
    kinds = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return kinds[0] if len(kinds) == 1 else annotation


def form_input(model: type[BaseModel], values: dict[str, str]) -> dict[str, Any]:
    """The execution input a form gives: its non-empty fields, whole numbers as numbers where the model wants an
    int (anything else is left as typed, for the model to refuse)."""
    result: dict[str, Any] = {}
    kinds = {info.alias or name: field_type(info.annotation) for name, info in model.model_fields.items()}
    for field, value in values.items():
        if field.startswith("_") or value.strip() == "":
            continue
        value = value.strip()
        if kinds.get(field) is int and value.lstrip("-").isdigit():
            result[field] = int(value)
        else:
            result[field] = value
    return result


def execution_page(
    row: ExecutionRow,
    description: dict[str, Any],
    graph: str,
    history: list[dict[str, Any]],
    runs: list[StateRun],
    map_runs: list[dict[str, Any]],
    alerts: list[Alert],
    published: list[dict[str, Any]],
) -> str:
    """published: the events the execution put on the stack's buses (its Tenders Changed events)."""
    started = history[0]["timestamp"] if history else row.started
    facts = [
        ("workflow", cell(row.workflow)),
        ("status", status(row.status)),
        ("trigger", cell(row.trigger)),
        ("started (UTC)", cell(row.started)),
        ("duration", cell(row.duration)),
        ("execution ARN", f"<code>{cell(row.arn)}</code>"),
        ("input", f"<details><summary>show</summary><pre>{cell(pretty(description.get('input')))}</pre></details>"),
    ]
    if description.get("output"):
        facts.append(
            ("output", f"<details><summary>show</summary><pre>{cell(pretty(description['output']))}</pre></details>")
        )
    if description.get("error") or description.get("cause"):
        facts.append(("error", f"<pre>{cell(description.get('error'))}: {cell(description.get('cause'))}</pre>"))
    facts.extend(("alert", f'<span class="error">{cell(alert.message)}</span>') for alert in alerts)
    parts = ['<dl class="facts">' + "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts) + "</dl>"]
    if map_runs:
        parts.append(
            "<h2>Map Runs</h2>"
            + table(
                ["map run", "status", "total", "pending", "running", "succeeded", "failed", "aborted", "timed out"],
                [
                    [f"<code>{cell(run['mapRunArn'].rsplit(':', 1)[-1])}</code>", status(run["status"])]
                    + [
                        cell(run["itemCounts"][key])
                        for key in ("total", "pending", "running", "succeeded", "failed", "aborted", "timedOut")
                    ]
                    for run in map_runs
                ],
                "map-runs",
            )
        )
    if published:
        parts.append(
            "<h2>Events published</h2>"
            + table(
                ["detail-type", "id (deduplicate on)", "window", "new", "updated", "enriched", "changes object"],
                [
                    [
                        cell(event["detail-type"]),
                        f"<code>{cell(event['detail'].get('id'))}</code>",
                        cell(" .. ".join((event["detail"].get("window") or {}).values()) or "none"),
                    ]
                    + [cell((event["detail"].get("counts") or {}).get(kind)) for kind in ("new", "updated", "enriched")]
                    + [f"<code>{cell((event['detail'].get('changes') or {}).get('key'))}</code>"]
                    for event in published
                ],
                "published",
            )
        )
    events = table(
        ["#", "type", "state", "elapsed"],
        [
            [
                cell(event["id"]),
                cell(event["type"]),
                cell((event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}).get("name")),
                cell(f"{(event['timestamp'] - started).total_seconds() * 1000:.0f} ms"),
            ]
            for event in history
        ],
        "events",
    )
    parts.append(
        '<div class="split"><div class="graph-pane"><h2>Graph</h2>'
        '<p class="legend"><span class="succeeded">succeeded</span> <span class="failed">failed</span> '
        '<span class="caught">caught</span> <span class="running">running</span> '
        '<span class="not-reached">not reached</span> <span class="inside-map">in the Map\'s child '
        "executions (see its Map Run)</span></p>"
        f'{graph}</div><div class="events-pane"><h2>Events</h2>{events}</div></div>'
    )
    parts.append("<h2>States</h2>")
    for name in dict.fromkeys(run.name for run in runs):
        mine = [run for run in runs if run.name == name]
        details = []
        for number, run in enumerate(mine, 1):
            took = f", {(run.exited - run.entered).total_seconds():.3f} s" if run.exited else ""
            heading = (
                f"run {number}: {status(run.status.upper())}{escape(took)}"
                if len(mine) > 1
                else f"{status(run.status.upper())}{escape(took)}"
            )
            details.append(
                f"<p>{heading}</p>"
                + (f'<p class="error">{cell(run.error)}</p>' if run.error else "")
                + f"<h4>input</h4><pre>{cell(pretty(run.input))}</pre>"
                + (f"<h4>output</h4><pre>{cell(pretty(run.output))}</pre>" if run.exited else "")
            )
        parts.append(
            f'<details id="state-{escape(name)}" class="state-runs"><summary>{escape(name)}</summary>'
            f"{''.join(details)}</details>"
        )
    return page(f"Execution {row.name}", "".join(parts), refresh=row.status == "RUNNING")


def pretty(text: str | None) -> str:
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text
