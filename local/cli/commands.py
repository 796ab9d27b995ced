"""`python -m local.cli` (`make cli ARGS="..."`): start any workflow, list recent runs, show one execution's step
timeline or the changes it announced, show the sync state, manage the alert subscriptions (`alerts`).

On this machine by default: `start` runs the execution to completion in the local engine (embedded PostgreSQL
unless DATABASE_URL is set; the sample source unless both source URLs are given) and prints its result, keeping
its history in .local/executions/ for `timeline`. With --stack NAME, against that deployed stack: its outputs
name the state machines, and the database is read through DATABASE_URL, else the stack's secret; the alerts key is
the stack's AlertsKey secret (on this machine: ALERTS_KEY, else .local/alerts.key)."""

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
from typing import Any, TextIO

import boto3
import psycopg
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from local.alerts_key import local_alerts_key
from local.arguments import Parser, add_source_urls, check_source_urls, day, moment, whole_number
from local.cli import alerts
from local.cli.tables import print_changes, print_runs, print_state, print_timeline
from local.engine.database import migrated_database_url
from local.engine.run import (
    OUTSIDE_FAILURES,
    alerts_summary,
    failure_reason,
    local_context,
    run_workflow,
    saved_history,
    summary,
)
from tender_sync import workflows
from tender_sync.alerts import secrets, targets
from tender_sync.errors import InvalidInput
from tender_sync.models.inputs import parse_input
from tender_sync.storage import database

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
        return day
    if kind is datetime:
        return moment
    if kind is int:
        return whole_number
    if typing.get_origin(kind) is list:
        return lambda text: [item.strip() for item in text.split(",") if item.strip()]
    return typing.cast(Callable[[str], Any], kind)


INPUT_FLAGS = input_flags()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = Parser(
        prog="python -m local.cli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", help="a deployed stack, e.g. TenderSync (default: run on this machine)")
    parser.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="start a workflow (locally: run it to the end and print its result)")
    start.add_argument("workflow", choices=WORKFLOWS)
    start.add_argument("--input", type=json_input, help="the execution input as JSON, instead of the flags")
    for flag in INPUT_FLAGS.values():
        help_text = f"{', '.join(flag.workflows)}: {FIELD_HELP.get(flag.field, flag.field)}"
        start.add_argument(flag.option, dest=flag.dest, type=flag.type, help=help_text)
    add_source_urls(start, "locally: ")
    start.add_argument("--wait", action="store_true", help="with --stack: wait for the execution and print its result")

    runs = commands.add_parser("runs", help="recent runs, from job_log")
    runs.add_argument("--limit", type=whole_number, default=20, help="how many (20)")
    runs.add_argument("--workflow", choices=WORKFLOWS)

    timeline = commands.add_parser("timeline", help="one execution's steps: entered, exited, duration")
    timeline.add_argument("execution_arn")

    commands.add_parser("state", help="the sync state (cursor, lease) and backfill progress")

    changes = commands.add_parser("changes", help="the changes one execution announced: its Tenders Changed events")
    changes.add_argument("execution", help="the execution's ARN, or its name")

    alerts.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "start":
        check_source_urls(start, args)
    return args


def json_input(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error})") from None


def checked(workflow: str, value: dict[str, Any]) -> dict[str, Any]:
    """The input, checked as the workflow's first step checks it (with cdk.json's settings), before anything is
    synthesized or started: a refusal is one line."""
    from infra.config import StackConfig  # the CDK's modules, only for a start

    try:
        parse_input(workflows.WORKFLOWS[workflow].request, value, workflow, StackConfig.from_values().input_defaults)
    except InvalidInput as refused:
        raise SystemExit(f"{workflow} failed: InvalidInput: {refused}") from None
    return value


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

    def alerts_key(self) -> bytes:
        if not os.environ.get("ALERTS_KEY"):
            os.environ["ALERTS_KEY"] = local_alerts_key()
        return secrets.alerts_key()

    def allow_loopback(self) -> bool:
        """WEBHOOK_ALLOW_LOOPBACK=1 lets a webhook on http://127.0.0.1 be added here (for the local stack)."""
        return targets.loopback_allowed()

    def start(self, args: argparse.Namespace, workflow_input: dict[str, Any]) -> int:
        workflow = workflows.WORKFLOWS[args.workflow]
        execution, job, started = run_workflow(
            workflow,
            workflow_input,
            _template(args.ocds_url is not None),
            self.database_url(),
            args.ocds_url,
            args.portal_url,
            out=self.out,
        )
        if workflow is workflows.CLEANUP and execution.output:
            print(f"cleanup:    {json.dumps(execution.output.get('cleanup'))}", file=self.out)
        print("\n".join(summary(execution, job)), file=self.out)
        if started:
            print(alerts_summary(started), file=self.out)
        print(f"execution:  {execution.arn}", file=self.out)
        if execution.status != "SUCCEEDED":
            print(f"{args.workflow} failed: {failure_reason(execution.error, execution.cause, job)}", file=self.out)
            return 1
        return 0

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return saved_history(execution_arn)


class Deployed:
    """A deployed stack, through boto3."""

    def __init__(self, stack: str, region: str | None, out: TextIO) -> None:
        self.session = boto3.session.Session(region_name=region)
        self.out = out
        try:
            self.outputs = stack_outputs(self.session, stack)
        except NoRegionError:
            raise SystemExit(f"--stack {stack}: no AWS region: give --region (or set AWS_DEFAULT_REGION)") from None
        except NoCredentialsError:
            raise SystemExit(
                f"--stack {stack}: no AWS credentials: configure them (aws configure, or AWS_PROFILE) first"
            ) from None
        except ClientError as error:
            if "does not exist" not in str(error):
                raise
            raise SystemExit(
                f"--stack {stack}: no such stack in {self.session.region_name}: give the stack's name "
                "(a stage's is TenderSync-<stage>) and its --region"
            ) from None
        self.sfn = self.session.client("stepfunctions")

    def database_url(self) -> str:
        if os.environ.get("DATABASE_URL"):
            return os.environ["DATABASE_URL"]
        secret = self.session.client("secretsmanager").get_secret_value(SecretId=self.outputs["DatabaseSecretArn"])
        return secret["SecretString"]

    def alerts_key(self) -> bytes:
        """The stack's AlertsKey secret, as its functions read it. Never a local ALERTS_KEY: a webhook's secret
        sealed with another key would not open on AWS."""
        if "AlertsKeySecretArn" not in self.outputs:
            raise SystemExit("the stack has no AlertsKeySecretArn output: deploy a version with alerts first")
        os.environ.pop("ALERTS_KEY", None)
        os.environ["ALERTS_KEY_SECRET_ARN"] = self.outputs["AlertsKeySecretArn"]
        if self.session.region_name:
            os.environ["AWS_DEFAULT_REGION"] = self.session.region_name
        return secrets.alerts_key()

    def allow_loopback(self) -> bool:
        return False

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
def _template(source_given: bool) -> dict[str, Any]:
    from infra.stack import synth_template

    return synth_template(local_context(source_given))


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    try:
        return run_command(args, out)
    except OUTSIDE_FAILURES as error:
        print(f"{args.command} failed: {type(error).__name__}: {error}", file=sys.stderr)
    except (BotoCoreError, ClientError) as error:
        print(f"{args.command} failed: {error}", file=sys.stderr)
    return 1


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    workflow_input = checked(args.workflow, execution_input(args)) if args.command == "start" else {}
    where = Deployed(args.stack, args.region, out) if args.stack else Local(out)
    if args.command == "start":
        return where.start(args, workflow_input)
    if args.command == "timeline":
        print_timeline(where.history(args.execution_arn), out)
        return 0
    if args.command == "alerts":
        return alerts.run(args, where, out)
    with database.connect(where.database_url()) as conn:
        try:
            if args.command == "runs":
                print_runs(conn, args.limit, args.workflow, out)
            elif args.command == "changes" and not print_changes(conn, args.execution, out):
                raise SystemExit(f"changes failed: no run of execution {args.execution} in job_log")
            else:
                print_state(conn, out)
        except psycopg.errors.UndefinedTable:
            print("nothing yet: no workflow has run against this database", file=out)
    return 0
