"""`python -m local.cli` (`make cli ARGS="..."`): start any workflow, list recent runs, show one execution's step
timeline, show the sync state.

On this machine by default: `start` runs the execution to completion in the local engine (embedded PostgreSQL
unless DATABASE_URL is set; the sample source unless both source URLs are given) and prints its result, keeping
its history in .local/executions/ for `timeline`. With --stack NAME, against that deployed stack: its outputs
name the state machines, and the database is read through DATABASE_URL, else the stack's secret."""
import argparse
import json
import os
import sys
import time
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from local import toolchain

toolchain.prepare()

import boto3  # noqa: E402
import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from local.engine.database import local_database_url  # noqa: E402
from local.engine.run import Progress, job_row, local_stack, state_machine_id, summary  # noqa: E402
from local.toolchain import ROOT  # noqa: E402
from tender_sync.db import connection_string  # noqa: E402

EXECUTIONS_DIR = ROOT / ".local" / "executions"
# Each workflow and the stack output naming its state machine.
WORKFLOWS = {
    "sync": "SyncStateMachineArn",
    "enrich-today": "EnrichTodayStateMachineArn",
    "backfill": "BackfillStateMachineArn",
    "single-tender": "SingleTenderStateMachineArn",
    "cleanup": "CleanupStateMachineArn",
}
# The `start` flags each workflow takes, as (option dest, input field).
INPUT_FLAGS = {
    "sync": [("date_from", "from"), ("date_to", "to"), ("max_enrichment", "maxEnrichment")],
    "enrich-today": [("max_enrichment", "maxEnrichment"), ("admin_user_id", "adminUserId")],
    "backfill": [("date_from", "from"), ("date_to", "to"), ("window_days", "windowDays"), ("max_enrichment", "maxEnrichment")],
    "single-tender": [("ocid", "ocid")],
    "cleanup": [],
}
ALL_FLAGS = {dest for flags in INPUT_FLAGS.values() for dest, _ in flags}
# Workflows whose input says who started them.
TRIGGERED_BY = {"sync", "cleanup"}
RUNS_SQL = """
SELECT id, workflow, status, window_from, window_to, fetched, enriched, enrichment_failed, upserted, started_at,
       extract(epoch FROM finished_at - started_at) AS seconds, execution_id, error
  FROM job_log {where} ORDER BY id DESC LIMIT %s
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", help="a deployed stack, e.g. TenderSync (default: run on this machine)")
    parser.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="start a workflow (locally: run it to the end and print its result)")
    start.add_argument("workflow", choices=WORKFLOWS)
    start.add_argument("--input", type=json.loads, help="the execution input as JSON, instead of the flags")
    start.add_argument("--from", dest="date_from", type=date.fromisoformat, help="sync, backfill: first day")
    start.add_argument("--to", dest="date_to", type=date.fromisoformat, help="sync, backfill: end day, exclusive")
    start.add_argument("--window-days", type=int, help="backfill: days per window")
    start.add_argument("--max-enrichment", type=int, help="sync, enrich-today, backfill: cap on portal lookups")
    start.add_argument("--admin-user-id", help="enrich-today: who asked for it")
    start.add_argument("--ocid", help="single-tender: the tender's ocid")
    start.add_argument("--ocds-url", help="locally: OCDS API base URL (default: the sample source)")
    start.add_argument("--portal-url", help="locally: eTenders portal base URL (default: the sample source)")
    start.add_argument("--wait", action="store_true", help="with --stack: wait for the execution and print its result")

    runs = commands.add_parser("runs", help="recent runs, from job_log")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--workflow", choices=WORKFLOWS)

    timeline = commands.add_parser("timeline", help="one execution's steps: entered, exited, duration")
    timeline.add_argument("execution_arn")

    commands.add_parser("state", help="the sync state (cursor, lease) and backfill progress")
    return parser.parse_args(argv)


def execution_input(args: argparse.Namespace) -> dict[str, Any]:
    """The input from --input, or from the flags the workflow takes."""
    given = {dest for dest in ALL_FLAGS if getattr(args, dest) is not None}
    if args.input is not None:
        if given:
            raise SystemExit(f"give --input or flags, not both (got {', '.join(sorted(given))})")
        return args.input
    allowed = {dest for dest, _ in INPUT_FLAGS[args.workflow]}
    if given - allowed:
        wrong = ", ".join("--" + dest.replace("_", "-").replace("date-", "") for dest in sorted(given - allowed))
        raise SystemExit(f"{wrong} does not apply to {args.workflow}")
    result: dict[str, Any] = {}
    for dest, field in INPUT_FLAGS[args.workflow]:
        value = getattr(args, dest)
        if value is not None:
            result[field] = value.isoformat() if isinstance(value, date) else value
    if args.workflow in TRIGGERED_BY:
        result["triggeredBy"] = "cli"
    return result


# -- where it runs -----------------------------------------------------------------------------


class Local:
    """This machine: the local engine on the synthesized template."""

    def __init__(self, out: TextIO):
        self.out = out

    def database_url(self) -> str:
        return local_database_url()

    def start(self, args: argparse.Namespace, workflow_input: dict[str, Any]) -> int:
        template = _template()
        database_url = self.database_url()
        with local_stack(template, database_url, args.ocds_url, args.portal_url, out=self.out) as local:
            print(f"{args.workflow}:", file=self.out)
            progress = Progress(local, out=self.out)
            execution = local.execute(
                state_machine_id(template, WORKFLOWS[args.workflow]), workflow_input,
                on_event=progress.on_event, on_poll=progress.on_poll,
            )
        save_history(execution.arn, execution.history)
        job = job_row(database_url, execution.arn)
        if args.workflow == "cleanup" and execution.output:
            print(f"cleanup:    {json.dumps(execution.output.get('cleanup'))}", file=self.out)
        print("\n".join(summary(execution, job)), file=self.out)
        print(f"execution:  {execution.arn}", file=self.out)
        if execution.status != "SUCCEEDED":
            print(f"{args.workflow} failed: {(job or {}).get('error') or execution.cause or execution.error}", file=self.out)
            return 1
        return 0

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        path = EXECUTIONS_DIR / f"{execution_arn.rsplit(':', 1)[-1]}.json"
        if not path.exists():
            raise SystemExit(f"no local execution {execution_arn} (local histories are kept in {EXECUTIONS_DIR})")
        return json.loads(path.read_text())


class Deployed:
    """A deployed stack, through boto3."""

    def __init__(self, stack: str, region: str | None, out: TextIO):
        self.session = boto3.session.Session(region_name=region)
        self.out = out
        self.outputs = stack_outputs(self.session, stack)
        self.sfn = self.session.client("stepfunctions")

    def database_url(self) -> str:
        if os.environ.get("DATABASE_URL"):
            return os.environ["DATABASE_URL"]
        secret = self.session.client("secretsmanager").get_secret_value(SecretId=self.outputs["DatabaseSecretArn"])
        return secret["SecretString"]

    def start(self, args: argparse.Namespace, workflow_input: dict[str, Any]) -> int:
        arn = self.sfn.start_execution(
            stateMachineArn=self.outputs[WORKFLOWS[args.workflow]], input=json.dumps(workflow_input)
        )["executionArn"]
        print(f"execution:  {arn}", file=self.out)
        if not args.wait:
            return 0
        while (description := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(5)
        print(f"status:     {description['status']}", file=self.out)
        if description.get("output"):
            print(f"output:     {description['output']}", file=self.out)
        if description["status"] != "SUCCEEDED":
            print(f"reason:     {description.get('cause') or description.get('error')}", file=self.out)
            return 1
        return 0

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return [event for page in pages for event in page["events"]]


def stack_outputs(session: boto3.session.Session, stack: str) -> dict[str, str]:
    """The deployed stack's outputs: the state machines' ARNs, the secret's, ..."""
    description = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in description.get("Outputs", [])}


@cache
def _template() -> dict[str, Any]:
    from infra.stack import synth_template

    return synth_template()


def save_history(execution_arn: str, history: list[dict[str, Any]]) -> Path:
    EXECUTIONS_DIR.mkdir(parents=True, exist_ok=True)
    path = EXECUTIONS_DIR / f"{execution_arn.rsplit(':', 1)[-1]}.json"
    path.write_text(json.dumps(history, default=lambda value: value.isoformat() if isinstance(value, datetime) else str(value)))
    return path


# -- the commands' output ------------------------------------------------------------------------


def timeline_rows(history: list[dict[str, Any]]) -> list[list[str]]:
    """One row per state entered: its name, when it was entered and exited, how long it took. A state entered
    again (a loop) gets a row each time; a failure gets its own row, with its error."""
    rows: list[list[str]] = []
    open_rows: dict[str, list[tuple[list[str], datetime]]] = {}
    for event in history:
        at = _timestamp(event["timestamp"])
        entered, exited = event.get("stateEnteredEventDetails"), event.get("stateExitedEventDetails")
        if entered:
            row = [str(len(rows) + 1), entered["name"], _clock(at), "", ""]
            rows.append(row)
            open_rows.setdefault(entered["name"], []).append((row, at))
        elif exited and open_rows.get(exited["name"]):
            row, entered_at = open_rows[exited["name"]].pop()
            row[3], row[4] = _clock(at), f"{(at - entered_at).total_seconds():.3f} s"
        elif event["type"].endswith(("Failed", "TimedOut", "Aborted")):
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}
            cause = " ".join(str(details.get("cause") or "").split())[:100]
            rows.append([str(len(rows) + 1), f"{event['type']}: {details.get('error', '')} {cause}".strip(), _clock(at), "", ""])
    return rows


def print_timeline(history: list[dict[str, Any]], out: TextIO) -> None:
    started = _timestamp(history[0]["timestamp"])
    ended = _timestamp(history[-1]["timestamp"])
    print(f"{history[-1]['type']} after {(ended - started).total_seconds():.3f} s ({len(history)} history events)", file=out)
    print(table(["#", "state", "entered", "exited", "duration"], timeline_rows(history)), file=out)


def print_runs(conn: psycopg.Connection, limit: int, workflow: str | None, out: TextIO) -> None:
    where, params = ("WHERE workflow = %s", [workflow]) if workflow else ("", [])
    rows = conn.execute(RUNS_SQL.format(where=where), [*params, limit]).fetchall()
    print(table(
        ["id", "workflow", "status", "window", "fetched", "enriched", "failed", "upserted", "started (UTC)", "seconds",
         "execution", "error"],
        [
            [
                row["id"], row["workflow"], row["status"],
                f"{row['window_from']} .. {row['window_to']}" if row["window_from"] else "",
                _number(row["fetched"]), _number(row["enriched"]), _number(row["enrichment_failed"]),
                _number(row["upserted"]), f"{row['started_at']:%Y-%m-%d %H:%M:%S}",
                f"{row['seconds']:.1f}" if row["seconds"] is not None else "",
                (row["execution_id"] or "").rsplit(":", 1)[-1], _shorten(row["error"]),
            ]
            for row in rows
        ],
    ), file=out)


def print_state(conn: psycopg.Connection, out: TextIO) -> None:
    states = conn.execute("SELECT * FROM sync_state ORDER BY source").fetchall()
    print(table(
        ["source", "cursor", "lease holder", "lease expires (UTC)", "updated (UTC)"],
        [
            [
                row["source"], row["cursor"] or "", (row["lease_holder"] or "").rsplit(":", 1)[-1],
                f"{row['lease_expires_at']:%Y-%m-%d %H:%M:%S}" if row["lease_expires_at"] else "",
                f"{row['updated_at']:%Y-%m-%d %H:%M:%S}",
            ]
            for row in states
        ],
    ), file=out)
    backfills = conn.execute("SELECT * FROM backfill_progress ORDER BY updated_at DESC LIMIT 10").fetchall()
    if backfills:
        print("\nbackfills:", file=out)
        print(table(
            ["range", "window days", "done to", "completed (UTC)", "execution"],
            [
                [
                    f"{row['range_from']} .. {row['range_to']}", row["window_days"], row["done_to"],
                    f"{row['completed_at']:%Y-%m-%d %H:%M:%S}" if row["completed_at"] else "not yet",
                    row["execution_id"].rsplit(":", 1)[-1],
                ]
                for row in backfills
            ],
        ), file=out)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(value) for value in row] for row in rows]
    widths = [max(len(text) for text in column) for column in zip(headers, *cells)]
    lines = [headers, ["-" * width for width in widths], *cells]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in lines)


def _timestamp(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S.%f")[:-3]


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _shorten(text: str | None, width: int = 70) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 3] + "..."


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    where = Deployed(args.stack, args.region, out) if args.stack else Local(out)
    if args.command == "start":
        return where.start(args, execution_input(args))
    if args.command == "timeline":
        print_timeline(where.history(args.execution_arn), out)
        return 0
    with psycopg.connect(connection_string(where.database_url()), row_factory=dict_row) as conn:
        try:
            if args.command == "runs":
                print_runs(conn, args.limit, args.workflow, out)
            else:
                print_state(conn, out)
        except psycopg.errors.UndefinedTable:
            print("nothing yet: no workflow has run against this database", file=out)
    return 0
