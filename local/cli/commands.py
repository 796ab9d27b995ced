"""`python -m local.cli` (`make cli ARGS="..."`): start any workflow, list recent runs, show one execution's step
timeline or the changes it announced, show the sync state.

On this machine by default: `start` runs the execution to completion in the local engine (embedded PostgreSQL
unless DATABASE_URL is set; the sample source unless both source URLs are given) and prints its result, keeping
its history in .local/executions/ for `timeline`. With --stack NAME, against that deployed stack: its outputs
name the state machines, and the database is read through DATABASE_URL, else the stack's secret."""

import argparse
import json
import os
import re
import sys
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, TextIO

import boto3
import psycopg

from local.cli.tables import print_changes, print_runs, print_state, print_timeline
from local.engine.database import migrated_database_url
from local.engine.run import run_workflow, summary
from local.toolchain import ROOT
from tender_sync import workflows
from tender_sync.storage.database import connection_string

EXECUTIONS_DIR = ROOT / ".local" / "executions"
# Each workflow's stack output, by the workflow's name.
WORKFLOWS = {name: workflow.stack_output for name, workflow in workflows.WORKFLOWS.items()}
# Input fields that are no flag: who started the run (`start` says "cli"), and the schedule's time.
STARTED_BY = "triggeredBy"
UNFLAGGED_FIELDS = (STARTED_BY, "scheduledTime")
# What each input field means, for --help (the input models carry no descriptions).
FIELD_HELP = {
    "from": "first day",
    "to": "end day, exclusive",
    "windowDays": "days per window",
    "maxEnrichment": "cap on portal lookups",
    "adminUserId": "who asked for it",
    "ocid": "the tender's ocid",
    "ocids": "tenders' ocids, comma-separated (instead of --ocid)",
    "publishedAt": "when the tender was published (ISO 8601), with --ocid",
}
CAPITAL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True)
class Flag:
    """A `start` flag: one field of the input models, taken by every workflow whose input has it."""

    field: str  # as the input names it: from, maxEnrichment
    dest: str  # the model's attribute in snake_case: date_from, max_enrichment
    type: Callable[[str], Any]
    workflows: tuple[str, ...]

    @property
    def option(self) -> str:
        return "--" + CAPITAL.sub("-", self.field).lower()


def input_flags() -> dict[str, Flag]:
    """The `start` flags by dest, from the workflows' input models: each field but UNFLAGGED_FIELDS is a flag
    named after it (maxEnrichment: --max-enrichment), typed as the model types it."""
    flags: dict[str, Flag] = {}
    for workflow in workflows.WORKFLOWS.values():
        for name, info in workflow.request.model_fields.items():
            field = info.alias or name
            if field in UNFLAGGED_FIELDS:
                continue
            dest = CAPITAL.sub("_", name).lower()
            # The field's type, without its None: date | None is a date.
            (kind,) = [arg for arg in typing.get_args(info.annotation) if arg is not type(None)] or [info.annotation]
            taken_by = flags[dest].workflows if dest in flags else ()
            flags[dest] = Flag(field, dest, _parser(kind), (*taken_by, workflow.name))
    return flags


def _parser(kind: Any) -> Callable[[str], Any]:
    """How a flag's text becomes its field's value: dates and times in ISO 8601, a list comma-separated."""
    if kind is date:
        return date.fromisoformat
    if kind is datetime:
        return datetime.fromisoformat
    if typing.get_origin(kind) is list:
        return lambda text: [item.strip() for item in text.split(",") if item.strip()]
    return typing.cast(Callable[[str], Any], kind)


INPUT_FLAGS = input_flags()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.cli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", help="a deployed stack, e.g. TenderSync (default: run on this machine)")
    parser.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="start a workflow (locally: run it to the end and print its result)")
    start.add_argument("workflow", choices=WORKFLOWS)
    start.add_argument("--input", type=json.loads, help="the execution input as JSON, instead of the flags")
    for flag in INPUT_FLAGS.values():
        help_text = f"{', '.join(flag.workflows)}: {FIELD_HELP.get(flag.field, flag.field)}"
        start.add_argument(flag.option, dest=flag.dest, type=flag.type, help=help_text)
    start.add_argument("--ocds-url", help="locally: OCDS API base URL (default: the sample source)")
    start.add_argument("--portal-url", help="locally: eTenders portal base URL (default: the sample source)")
    start.add_argument("--wait", action="store_true", help="with --stack: wait for the execution and print its result")

    runs = commands.add_parser("runs", help="recent runs, from job_log")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--workflow", choices=WORKFLOWS)

    timeline = commands.add_parser("timeline", help="one execution's steps: entered, exited, duration")
    timeline.add_argument("execution_arn")

    commands.add_parser("state", help="the sync state (cursor, lease) and backfill progress")

    changes = commands.add_parser("changes", help="the changes one execution announced: its Tenders Changed events")
    changes.add_argument("execution", help="the execution's ARN, or its name")
    return parser.parse_args(argv)


def execution_input(args: argparse.Namespace) -> dict[str, Any]:
    """The input from --input, or from the flags the workflow takes."""
    given = [flag for dest, flag in sorted(INPUT_FLAGS.items()) if getattr(args, dest) is not None]
    if args.input is not None:
        if given:
            raise SystemExit(f"give --input or flags, not both (got {', '.join(flag.dest for flag in given)})")
        return args.input
    wrong = [flag for flag in given if args.workflow not in flag.workflows]
    if wrong:
        raise SystemExit(f"{', '.join(flag.option for flag in wrong)} does not apply to {args.workflow}")
    result: dict[str, Any] = {}
    for flag in given:
        value = getattr(args, flag.dest)
        result[flag.field] = value.isoformat() if isinstance(value, date) else value
    if STARTED_BY in workflows.WORKFLOWS[args.workflow].request.model_fields:
        result[STARTED_BY] = "cli"
    return result


# -- where it runs -----------------------------------------------------------------------------


class Local:
    """This machine: the local engine on the synthesized template."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def database_url(self) -> str:
        return migrated_database_url()

    def start(self, args: argparse.Namespace, workflow_input: dict[str, Any]) -> int:
        workflow = workflows.WORKFLOWS[args.workflow]
        execution, job = run_workflow(
            workflow, workflow_input, _template(), self.database_url(), args.ocds_url, args.portal_url, out=self.out
        )
        save_history(execution.arn, execution.history)
        if workflow is workflows.CLEANUP and execution.output:
            print(f"cleanup:    {json.dumps(execution.output.get('cleanup'))}", file=self.out)
        print("\n".join(summary(execution, job)), file=self.out)
        print(f"execution:  {execution.arn}", file=self.out)
        if execution.status != "SUCCEEDED":
            print(
                f"{args.workflow} failed: {(job or {}).get('error') or execution.cause or execution.error}",
                file=self.out,
            )
            return 1
        return 0

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        path = EXECUTIONS_DIR / f"{execution_arn.rsplit(':', 1)[-1]}.json"
        if not path.exists():
            raise SystemExit(f"no local execution {execution_arn} (local histories are kept in {EXECUTIONS_DIR})")
        return json.loads(path.read_text())


class Deployed:
    """A deployed stack, through boto3."""

    def __init__(self, stack: str, region: str | None, out: TextIO) -> None:
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
    path.write_text(
        json.dumps(history, default=lambda value: value.isoformat() if isinstance(value, datetime) else str(value))
    )
    return path


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    where = Deployed(args.stack, args.region, out) if args.stack else Local(out)
    if args.command == "start":
        return where.start(args, execution_input(args))
    if args.command == "timeline":
        print_timeline(where.history(args.execution_arn), out)
        return 0
    with psycopg.connect(connection_string(where.database_url())) as conn:
        try:
            if args.command == "runs":
                print_runs(conn, args.limit, args.workflow, out)
            elif args.command == "changes":
                print_changes(conn, args.execution, out)
            else:
                print_state(conn, out)
        except psycopg.errors.UndefinedTable:
            print("nothing yet: no workflow has run against this database", file=out)
    return 0
