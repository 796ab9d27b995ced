"""The console's pages as HTML: the overview (state machines, executions filtered and paged, alerts, schedules, the
forms to start each workflow, the database) and one execution (its graph beside the details of the state picked
in it, its events, its Map Runs and their child executions). Every value is escaped. A part that cannot be made
shows a marked placeholder saying why, and the rest of the page still shows; a payload too long to show whole is
cut, and says so. A page refreshes itself while an execution it shows is running."""

import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import BaseModel

from local.up.alerts import Alert
from local.up.console.database import Panel
from local.up.console.execution import NOT_REACHED, StateRun
from tender_sync.workflows import Workflow

REFRESH_SECONDS = 2
# The overview's executions, a page at a time (a schedule firing every few seconds makes thousands).
PAGE_SIZE = 50
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# The most of one payload shown (in characters): in the facts and a state's details, and in an event's details.
PAYLOAD_SHOWN = 20_000
EVENT_PAYLOAD_SHOWN = 2_000
# The newest events shown, and the newest runs of one state (a backfill's loop runs its states again and again).
EVENTS_SHOWN = 500
RUNS_SHOWN = 10
# A table cell longer than this is cut, the whole of it in its title.
CELL_SHOWN = 60


@dataclass
class Execution:
    """One execution, or one child execution of a Map Run (parent: the execution whose Map Run it is)."""

    arn: str
    name: str
    machine: str  # its state machine: the workflow's name, else the state machine's
    status: str
    started: datetime | None
    stopped: datetime | None = None
    trigger: str = ""
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    parent: str | None = None
    outside: bool = False  # run outside this make up: read from the history it saved in .local/executions/

    @property
    def duration(self) -> str:
        if self.started is None:
            return ""
        end = self.stopped or datetime.now(UTC)
        return f"{(end - self.started).total_seconds():.1f} s"


@dataclass
class StateMachine:
    label: str
    arn: str
    type: str
    executions: list[dict[str, Any]]  # as list-executions gives them


@dataclass
class Filters:
    machine: str = ""
    status: str = ""
    page: int = 1

    def url(self, **changes: Any) -> str:
        values = {"machine": self.machine, "status": self.status, "page": self.page} | changes
        return "/?" + urlencode({key: value for key, value in values.items() if value and value != 1})


# -- the page and its parts ----------------------------------------------------------------------------------------
def page(title: str, body: str, refresh: bool) -> str:
    """refresh: the page refreshes itself, in place (console.js) or, without scripts, as a whole."""
    meta = f'<noscript><meta http-equiv="refresh" content="{REFRESH_SECONDS}"></noscript>' if refresh else ""
    live = f' data-refresh="{REFRESH_SECONDS}"' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>{meta}'
        '<link rel="stylesheet" href="/static/console.css"><script src="/static/console.js" defer></script></head>'
        f'<body{live}><header><a href="/">tender sync, local stack</a>'
        f"{' <span class=live>refreshing</span>' if refresh else ''}</header>"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def guarded(what: str, render: Callable[[], str]) -> str:
    """A part of a page: what `render` makes of it, or a marked placeholder saying why it could not."""
    try:
        return render()
    except Exception as error:  # noqa: BLE001  # one part that cannot be shown must not take the page with it
        return unavailable(what, f"{type(error).__name__}: {error}")


def unavailable(what: str, why: str) -> str:
    return f'<p class="unavailable" data-part="{escape(what)}">Cannot show {escape(what)}: {cut(why, 500)}</p>'


def table(columns: list[str], rows: list[list[str]], css: str = "") -> str:
    """A table of cells already made HTML."""
    head = "".join(f"<th>{escape(column).replace('_', '_<wbr>')}</th>" for column in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def cell(value: Any) -> str:
    return escape(plain(value))


def plain(value: Any) -> str:
    """A value as text: a time in UTC to the second, a list's items between commas, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return f"{moment:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def cut(text: str, shown: int = CELL_SHOWN) -> str:
    """Text as HTML, cut to `shown` characters (the whole of it in the title)."""
    if len(text) <= shown:
        return escape(text)
    return f'<span class="cut" title="{escape(text)}">{escape(text[:shown])}…</span>'


def status(value: str) -> str:
    return f'<span class="status {escape(value.lower())}">{escape(value)}</span>'


def execution_url(arn: str) -> str:
    return f"/execution?arn={quote(arn, safe='')}"


def execution_link(arn: str, text: str | None = None) -> str:
    """A link to an execution, shown by its name (the ARN's last part), the whole ARN in its title."""
    return f'<a href="{escape(execution_url(arn))}" title="{escape(arn)}">{escape(text or arn.rsplit(":", 1)[-1])}</a>'


def payload(text: str | None, shown: int = PAYLOAD_SHOWN) -> str:
    """A JSON payload (any JSON, or any text) as HTML, indented; cut past `shown` characters, saying so."""
    if text is None:
        return '<p class="none">none</p>'
    try:
        pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        pretty = text
    return pre(pretty, shown)


def pre(text: str, shown: int) -> str:
    if len(text) <= shown:
        return f'<pre class="payload">{escape(text)}</pre>'
    return (
        f'<p class="truncated">The first {shown:,} of {len(text):,} characters:</p>'
        f'<pre class="payload">{escape(text[:shown])}</pre>'
    )


# -- the overview --------------------------------------------------------------------------------------------------
def alerts_section(alerts: list[Alert]) -> str:
    if not alerts:
        return ""
    rows = [[cell(alert.at), status(alert.status), cell(alert.message)] for alert in reversed(alerts)]
    return "<section><h2>Alerts</h2>" + table(["at (UTC)", "status", "message"], rows, "alerts") + "</section>"


def state_machines_section(machines: list[StateMachine]) -> str:
    rows = [
        [
            f'<a href="{escape(Filters(machine.arn).url())}">{escape(machine.label)}</a>',
            cell(machine.type),
            cell(len(machine.executions)),
            f"<code>{cut(machine.arn)}</code>",
        ]
        for machine in machines
    ]
    return (
        "<section><h2>State machines</h2>"
        + table(["state machine", "type", "executions", "ARN"], rows, "state-machines")
        + "</section>"
    )


def executions_section(
    machines: list[StateMachine], filters: Filters, rows: list[Execution], total: int, note: str = ""
) -> str:
    """rows: the page of executions `filters` asks for, of `total`; note: shown above them (what could not be read
    of them)."""
    machine_options = "".join(
        f'<option value="{escape(m.arn)}"{" selected" if m.arn == filters.machine else ""}>{escape(m.label)}</option>'
        for m in machines
    )
    status_options = "".join(
        f"<option{' selected' if value == filters.status else ''}>{value}</option>" for value in STATUSES
    )
    form = (
        '<form class="filter" id="filter" method="get" action="/">'
        f'<label>state machine <select name="machine"><option value="">all</option>{machine_options}</select></label>'
        f'<label>status <select name="status"><option value="">any</option>{status_options}</select></label>'
        '<button type="submit">Filter</button></form>'
    )
    if not rows:
        listed = (
            "<p>None match.</p>"
            if filters.machine or filters.status or total
            else "<p>None yet: start one below, with the AWS CLI, or wait for a schedule.</p>"
        )
        return f"<section><h2>Executions</h2>{form}{listed}</section>"
    first = (filters.page - 1) * PAGE_SIZE + 1
    links = []
    if filters.page > 1:
        links.append(f'<a href="{escape(filters.url(page=filters.page - 1))}" rel="prev">newer</a>')
    if first + len(rows) - 1 < total:
        links.append(f'<a href="{escape(filters.url(page=filters.page + 1))}" rel="next">older</a>')
    paging = f'<p class="paging">{first}–{first + len(rows) - 1} of {total}, newest first {" ".join(links)}</p>'
    listed = table(
        ["execution", "state machine", "status", "trigger", "started (UTC)", "duration"],
        [
            [
                execution_link(row.arn) + (' <span class="outside">run outside make up</span>' if row.outside else ""),
                cell(row.machine),
                status(row.status),
                cut(row.trigger),
                cell(row.started),
                cell(row.duration),
            ]
            for row in rows
        ],
        "executions",
    )
    return f"<section><h2>Executions</h2>{form}{paging}{note}{listed}</section>"


def schedules_section(schedules: list[tuple[str, str, str, datetime | None]]) -> str:
    """schedules: (name, expression, what it starts, next time)."""
    rows = [
        [cell(name), f"<code>{cell(expression)}</code>", cell(starts), cell(next_time) or "never again"]
        for name, expression, starts, next_time in schedules
    ]
    return (
        "<section><h2>Schedules</h2>" + table(["schedule", "expression", "starts", "next (UTC)"], rows) + "</section>"
    )


def database_section(panels: list[Panel]) -> str:
    parts = ["<section><h2>Database</h2>"]
    if not panels:
        parts.append("<p>Nothing yet: no workflow has run against this database.</p>")
    for panel in panels:
        parts.append(f"<h3>{escape(panel.title)}</h3>")
        if panel.error:
            parts.append(unavailable(panel.title, panel.error))
        elif panel.rows:
            rows = [[data_cell(c, v) for c, v in zip(panel.columns, row, strict=True)] for row in panel.rows]
            parts.append(table(panel.columns, rows, "data"))
        else:
            parts.append("<p>none</p>")
    parts.append("</section>")
    return "".join(parts)


def data_cell(column: str, value: Any) -> str:
    """A database value as a table cell: an execution id links to its execution; a long value is cut."""
    if column == "execution_id" and isinstance(value, str) and value.startswith("arn:"):
        return execution_link(value)
    return cut(plain(value))


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


# -- one execution -------------------------------------------------------------------------------------------------
def facts(execution: Execution, alerts: list[Alert]) -> str:
    rows = [("state machine", cell(execution.machine))]
    if execution.parent:
        rows.append(("child of", f"{execution_link(execution.parent)} (a child execution of its Map Run)"))
    rows.append(("status", status(execution.status)))
    if execution.trigger:
        rows.append(("trigger", cut(execution.trigger)))
    rows += [
        ("started (UTC)", cell(execution.started)),
        ("duration", cell(execution.duration)),
        ("execution ARN", f"<code>{cell(execution.arn)}</code>"),
        ("input", f'<details id="execution-input"><summary>show</summary>{payload(execution.input)}</details>'),
    ]
    if execution.output is not None:
        rows.append(
            ("output", f'<details id="execution-output"><summary>show</summary>{payload(execution.output)}</details>')
        )
    if execution.error or execution.cause:
        rows.append(("error", pre(": ".join(str(part) for part in (execution.error, execution.cause) if part), 4000)))
    rows.extend(("alert", f'<span class="error">{cell(alert.message)}</span>') for alert in alerts)
    return '<dl class="facts">' + "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows) + "</dl>"


def actions(execution: Execution) -> str:
    """Stop it (while it runs), and start its state machine again with its input."""
    arn = f'<input type="hidden" name="arn" value="{escape(execution.arn)}">'
    stop = (
        f'<form method="post" action="/stop" id="stop">{arn}<button type="submit">Stop execution</button></form>'
        if execution.status == "RUNNING"
        else ""
    )
    again = (
        f'<form method="post" action="/restart" id="restart">{arn}'
        '<button type="submit">Start again with the same input</button></form>'
    )
    return f'<div class="actions">{stop}{again}</div>'


def outside_note(execution: Execution, map_runs: bool, drawn: bool) -> str:
    """What the page of an execution run outside this make up shows, and what its saved history cannot show.
    map_runs: it ran a Map; drawn: its graph is drawn from this make up's definition of its state machine."""
    parts = [
        f'<section class="outside-note"><p>Run outside this make up (by <code>make run</code>, the CLI\'s '
        f"<code>start</code>, or an earlier <code>make up</code>): read-only, from the history it saved in "
        f"<code>.local/executions/{escape(execution.name)}.json</code>. It cannot be stopped or started again from "
        "here, and the events it published are not kept with its history.</p>"
    ]
    if drawn:
        parts.append("<p>Its graph is drawn from this make up's definition of its state machine.</p>")
    if map_runs:
        parts.append(
            '<p id="map-runs">Its Map Runs\' child executions and item counts are not kept with its history: the '
            "states inside its Map are drawn uncoloured.</p>"
        )
    parts.append("</section>")
    return "".join(parts)


def map_runs_section(map_runs: list[dict[str, Any]], children: dict[str, list[Execution]]) -> str:
    """map_runs: as describe-map-run gives them, each with the Map state that ran it ("state"); children: each Map
    Run's child executions."""
    if not map_runs:
        return ""
    counts = ("total", "pending", "running", "succeeded", "failed", "aborted", "timedOut")
    parts = [
        '<section id="map-runs"><h2>Map Runs</h2>',
        table(
            [
                "map run",
                "Map state",
                "status",
                "total",
                "pending",
                "running",
                "succeeded",
                "failed",
                "aborted",
                "timed out",
            ],
            [
                [f"<code>{cut(str(run.get('mapRunArn', '')).rsplit(':', 1)[-1])}</code>", cell(run.get("state"))]
                + [status(str(run.get("status", "?")))]
                + [cell((run.get("itemCounts") or {}).get(key)) for key in counts]
                for run in map_runs
            ],
            "map-runs",
        ),
    ]
    for number, run in enumerate(map_runs, 1):
        mine = children.get(str(run.get("mapRunArn")), [])
        parts.append(f"<h3>Child executions of Map Run {number}</h3>")
        parts.append(
            table(
                ["#", "child execution", "status", "started (UTC)", "duration"],
                [
                    [cell(index), execution_link(child.arn), status(child.status), cell(child.started), child.duration]
                    for index, child in enumerate(mine)
                ],
                "children",
            )
            if mine
            else "<p>None recorded.</p>"
        )
    parts.append("</section>")
    return "".join(parts)


def published_section(published: list[dict[str, Any]]) -> str:
    """published: the events the execution put on the stack's buses (its Tenders Changed events)."""
    if not published:
        return ""
    rows = []
    for event in published:
        detail = mapping(event.get("detail"))
        window, counts, changes = (mapping(detail.get(key)) for key in ("window", "counts", "changes"))
        rows.append(
            [cell(event.get("detail-type")), f"<code>{cut(str(detail.get('id') or ''))}</code>"]
            + [cell(" .. ".join(str(value) for value in window.values()) or "none")]
            + [cell(counts.get(kind)) for kind in ("new", "updated", "enriched")]
            + [f"<code>{cut(str(changes.get('key') or ''))}</code>"]
        )
    return (
        "<section><h2>Events published</h2>"
        + table(
            ["detail-type", "id (deduplicate on)", "window", "new", "updated", "enriched", "changes object"],
            rows,
            "published",
        )
        + "</section>"
    )


def mapping(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


LEGEND = (
    '<p class="legend"><span class="succeeded">succeeded</span> <span class="failed">failed</span> '
    '<span class="caught">caught</span> <span class="running">running</span> '
    '<span class="not-reached">not reached</span> <span class="inside-map">in the Map\'s child executions</span> '
    '<span class="taken-edge">the way it went</span></p>'
)


def graph_section(graph: str, states: str) -> str:
    """The graph, and beside it the details of the state picked in it."""
    return (
        f'<div class="split"><div class="graph-pane"><h2>Graph</h2>{LEGEND}{graph}</div>'
        f'<aside class="state-panel"><h2>State</h2><p class="hint">Pick a state in the graph: its input, output '
        f"and error show here.</p>{states}</aside></div>"
    )


def state_details(states: dict[str, Any], runs: list[StateRun]) -> str:
    """Each state's details: its runs (the newest RUNS_SHOWN), each with its input, output and error."""
    parts = []
    for name in dict.fromkeys([*states, *(run.name for run in runs)]):
        kind = (states.get(name) or {}).get("Type", "?")
        mine = [run for run in runs if run.name == name]
        body = [] if mine else [f"<p>{status(NOT_REACHED.upper())}: not reached in this execution.</p>"]
        if len(mine) > RUNS_SHOWN:
            body.append(f'<p class="truncated">The newest {RUNS_SHOWN} of its {len(mine)} runs:</p>')
        for number, run in list(enumerate(mine, 1))[-RUNS_SHOWN:]:
            took = (
                f", {(run.exited - run.entered).total_seconds():.3f} s"
                if isinstance(run.exited, datetime) and isinstance(run.entered, datetime)
                else ""
            )
            heading = f"run {number}: " if len(mine) > 1 else ""
            body.append(f'<p class="run">{heading}{status(run.status.upper())}{escape(took)}</p>')
            if run.error:
                body.append(f'<h4>error</h4><p class="error">{cut(run.error, 4000)}</p>')
            body.append(f"<h4>input</h4>{payload(run.input)}")
            if run.exited is not None or run.output is not None:
                body.append(f"<h4>output</h4>{payload(run.output)}")
            if run.map_run:
                body.append('<p><a href="#map-runs">Its Map Run and child executions</a></p>')
        parts.append(
            f'<section class="state-detail" id="state-{escape(name)}" data-state="{escape(name)}">'
            f"<h3>{escape(name)} <small>({escape(str(kind))})</small></h3>{''.join(body)}</section>"
        )
    return "".join(parts)


def events_section(history: list[dict[str, Any]]) -> str:
    """The history, the newest EVENTS_SHOWN events, each row opening to its details."""
    if not history:
        return (
            '<section><h2>Events</h2><p class="unavailable" data-part="events">No events: this execution has no '
            "history to show.</p></section>"
        )
    shown = history[-EVENTS_SHOWN:]
    note = (
        f'<p class="truncated">The newest {len(shown)} of {len(history)} events.</p>'
        if len(shown) < len(history)
        else ""
    )
    first = history[0].get("timestamp")
    rows = []
    for event in shown:
        moment = event.get("timestamp")
        elapsed = (
            f"{(moment - first).total_seconds() * 1000:.0f} ms"
            if isinstance(moment, datetime) and isinstance(first, datetime)
            else ""
        )
        state = (event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}).get("name")
        rows.append(
            [
                cell(event.get("id")),
                f'<details id="event-{escape(str(event.get("id")))}"><summary>{escape(str(event.get("type")))}'
                f"</summary>{event_details(event)}</details>",
                cell(state),
                cell(elapsed),
            ]
        )
    return f"<section><h2>Events</h2>{note}{table(['#', 'type', 'state', 'elapsed'], rows, 'events')}</section>"


def event_details(event: dict[str, Any]) -> str:
    """An event's details: everything but its id, type and times; the payloads in it indented as JSON."""
    details = {key: value for key, value in event.items() if key not in ("id", "previousEventId", "type", "timestamp")}
    if not details:
        return '<p class="none">no details</p>'
    return pre(json.dumps(parsed(details), indent=2, ensure_ascii=False, default=str), EVENT_PAYLOAD_SHOWN)


def parsed(value: Any) -> Any:
    """A value with the JSON texts inside it (an event's input, output, parameters) parsed."""
    if isinstance(value, dict):
        return {key: parsed(item) for key, item in value.items()}
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
