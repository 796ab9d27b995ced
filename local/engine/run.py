"""`make run`: one real sync on this machine, from the synthesized state machine, with a summary; and
run_workflow, the one way `make run` and the CLI run an execution here, keeping each execution's history for
`timeline`.

Embedded PostgreSQL unless DATABASE_URL is set; the sample eTenders-compatible source unless URLs are given."""

import argparse
import contextlib
import json
import logging
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from psycopg.rows import dict_row

from local.arguments import Parser, add_source_urls, check_source_urls, day, whole_number
from local.engine.database import migrated_database_url
from local.engine.stack import Execution, LocalStack, QuotaExceeded, function_environment
from local.sample_source.server import SampleSource, serves_live_data
from local.toolchain import ROOT
from tender_sync.changes.events import DETAIL_TYPE
from tender_sync.errors import DatabaseError, DatabaseUnavailable, InvalidDatabaseUrl, describe_failure
from tender_sync.storage import database
from tender_sync.storage.cursor import source_today
from tender_sync.storage.job_log import counts_of
from tender_sync.workflows import SYNC, WORKFLOWS, Workflow

# How many windows back a new local database starts against the live sample source (local_context).
CATCH_UP_WINDOWS = 10
# Where the emails moto's SES was asked to send are kept, as .eml files.
OUTBOX = ROOT / ".local" / "outbox"
# Where each local execution's history is kept, by its name, for `timeline`: make run's, the CLI's, make up's.
EXECUTIONS_DIR = ROOT / ".local" / "executions"
# Why an execution still running was stopped, when Ctrl-C stopped it.
CTRL_C = "stopped: Ctrl-C"
# What can go wrong around the functions (the database, the machine, a quota): one line, never a traceback.
OUTSIDE_FAILURES = (DatabaseError, DatabaseUnavailable, InvalidDatabaseUrl, OSError, QuotaExceeded)
# The steps that stage a run's tenders in S3 (their output holds the fetch summary).
STAGING_STEPS = ("FetchReleases", "FetchRelease")


def run_workflow(
    workflow: Workflow[Any],
    execution_input: dict[str, Any],
    template: dict[str, Any],
    database_url: str,
    ocds_url: str | None = None,
    portal_url: str | None = None,
    out: TextIO = sys.stdout,
) -> tuple[Execution, dict[str, Any] | None, list[Execution]]:
    """One execution of the workflow on this machine, on `database_url`, run to its end with each step printed
    as it goes; the sample source unless both source URLs are given. Then the executions the stack's rules start
    for the events it published (an alerts run for each Tenders Changed event), each to its end. Returns the
    execution, its job_log row, and those it started.

    Progress and the summary are the output here: the functions' JSON logs only when POWERTOOLS_LOG_LEVEL asks
    (their warnings and errors are in the summary's counts and reason),
    and their EMF metric lines only when POWERTOOLS_METRICS_DISABLED=false. The interpreter's own dump of each
    failed state is not for a user: the summary says what failed, in one line."""
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    with contextlib.ExitStack() as stack:
        if not (ocds_url and portal_url):
            sample_url = stack.enter_context(SampleSource()).url
            print(f"sample source: {sample_url}", file=out)
            ocds_url, portal_url = ocds_url or sample_url, portal_url or sample_url
        environment = function_environment(database_url, ocds_url, portal_url)
        local = stack.enter_context(LocalStack(template, environment, outbox=OUTBOX))
        print(f"{workflow.name}:", file=out)
        execution = run_to_end(local, workflow.state_machine_id(template), execution_input, out)
        started = []
        names = {w.state_machine_id(template): w.name for w in WORKFLOWS.values()}
        for event in execution.events if execution.status != "ABORTED" else []:
            for machine in local.rule_starts(event):
                print(f"{names.get(machine, machine)} (started by its {event['detail-type']} event):", file=out)
                started.append(run_to_end(local, machine, event, out))
    return execution, job_row(database_url, execution.arn), started


def run_to_end(local: LocalStack, state_machine: str, execution_input: dict[str, Any], out: TextIO) -> Execution:
    """One execution, each step printed as it goes, its history kept. Ctrl-C stops it (ABORTED) and closes its
    job_log row as stopped; its end is printed all the same."""
    progress = Progress(local, out=out)
    arn = local.start(state_machine, execution_input)
    try:
        execution = local.wait(arn, on_event=progress.on_event, on_poll=progress.on_poll)
    except KeyboardInterrupt:
        local.stop_running(CTRL_C)
        execution = local.wait(arn, on_event=progress.on_event)
    save_history(execution.arn, execution.history)
    return execution


def save_history(execution_arn: str, history: list[dict[str, Any]]) -> None:
    """The execution's ARN (which names its state machine) and its history, as JSON."""
    EXECUTIONS_DIR.mkdir(parents=True, exist_ok=True)
    history_path(execution_arn).write_text(
        json.dumps(
            {"executionArn": execution_arn, "history": history},
            default=lambda value: value.isoformat() if isinstance(value, datetime) else str(value),
        )
    )


def saved_history(execution: str) -> list[dict[str, Any]]:
    """A local execution's history, by its ARN or its name."""
    path = history_path(execution)
    if not path.exists():
        raise SystemExit(f"no local execution {execution} (local histories are kept in {EXECUTIONS_DIR})")
    return saved_execution(path)[1]


def saved_execution(path: Path) -> tuple[str | None, list[dict[str, Any]]]:
    """A saved execution's ARN and history; a file saved before the ARN was kept holds its history alone (None)."""
    saved = json.loads(path.read_text())
    if isinstance(saved, list):
        return None, saved
    return str(saved["executionArn"]), list(saved["history"])


def history_path(execution: str) -> Path:
    return EXECUTIONS_DIR / f"{execution.rsplit(':', 1)[-1]}.json"


def stop_reason(interrupt: BaseException | None) -> str:
    """Why the executions still running are stopped: what the interrupt says (make up's SIGTERM), else Ctrl-C."""
    return str(interrupt or "") or CTRL_C


class Progress:
    """Prints each step as the execution enters it, and the enrichment Map's batches as they move."""

    def __init__(self, local: LocalStack, out: TextIO = sys.stdout) -> None:
        self.local, self.out = local, out
        self.in_map = False
        self.last_counts: tuple[int, int] | None = None
        self.execution_arn: str | None = None

    def on_event(self, event: dict[str, Any]) -> None:
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if entered:
            print(f"  -> {entered['name']}", file=self.out, flush=True)
            self.in_map = event["type"] == "MapStateEntered"
        if event["type"] == "MapStateExited" and self.in_map and self.execution_arn:
            # The last batches can end between two polls: the line ends at n/n.
            self.on_poll(self.execution_arn)
            self.in_map = False
        if exited and exited["name"] in STAGING_STEPS:
            fetch = json.loads(exited["output"]).get("fetch", {})
            print(
                f"     {fetch.get('fetched', 0)} releases, {fetch.get('tenders', 0)} tenders, "
                f"{fetch.get('quarantined', 0)} quarantined, {fetch.get('cleaned', 0)} cleaned",
                file=self.out,
                flush=True,
            )
        if exited and exited["name"] == "PlanLookups":
            lookups = json.loads(exited["output"]).get("lookups", {})
            print(
                f"     {lookups.get('tenders', 0)} due a lookup, in {lookups.get('batches', 0)} batches",
                file=self.out,
                flush=True,
            )

    def on_poll(self, execution_arn: str) -> None:
        self.execution_arn = execution_arn
        counts = self.local.map_run_counts(execution_arn) if self.in_map else None
        if counts and counts["total"] and (counts["succeeded"] + counts["failed"], counts["total"]) != self.last_counts:
            self.last_counts = (counts["succeeded"] + counts["failed"], counts["total"])
            print(f"     batches done {self.last_counts[0]}/{self.last_counts[1]}", file=self.out, flush=True)


def job_row(database_url: str, execution_arn: str) -> dict[str, Any] | None:
    """The execution's job_log row; None when it wrote none (its input refused)."""
    with database.connect(database_url) as conn:
        # A first run refused at its first step has written nothing, not even the tables.
        if conn.execute("SELECT to_regclass('job_log')").fetchone() == (None,):
            return None
        row: dict[str, Any] | None = (
            conn.cursor(row_factory=dict_row)
            .execute("SELECT * FROM job_log WHERE execution_id = %s ORDER BY id DESC LIMIT 1", (execution_arn,))
            .fetchone()
        )
        return row


def step_outputs(history: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each state that ran to its end, with its (last) output."""
    outputs: dict[str, dict[str, Any]] = {}
    for event in history:
        exited = event.get("stateExitedEventDetails")
        if exited:
            outputs[exited["name"]] = json.loads(exited.get("output") or "{}")
    return outputs


def steps_run(history: list[dict[str, Any]]) -> str:
    """The states the execution entered, in order; the one whose failure FailJob caught is marked."""
    entered: list[str] = []
    for event in history:
        name = (event.get("stateEnteredEventDetails") or {}).get("name")
        if name and name not in entered:
            entered.append(name)
    if "FailJob" in entered and entered.index("FailJob") > 0:
        failed = entered.index("FailJob") - 1
        entered[failed] += " (failed)"
    return ", ".join(entered)


def failure_reason(error: str | None, cause: str | None, job: dict[str, Any] | None) -> str:
    """One line: the job's error, else the execution's (its error and cause): the Fail state's cause (FailJob's
    one line), or a Lambda's error (its Cause is JSON) when FailJob itself failed."""
    if job and job["error"]:
        return str(job["error"])
    cause = (cause or "").strip()
    if cause and not cause.startswith("{"):
        return cause.splitlines()[0]
    return describe_failure({"Error": error, "Cause": cause})


def summary(execution: Execution, job: dict[str, Any] | None) -> list[str]:
    """What the run did: from its job_log row once finished, else from the outputs of the steps that ran."""
    outputs = step_outputs(execution.history)
    staged = next((outputs[step].get("fetch") for step in STAGING_STEPS if step in outputs), None) or {}
    upsert = (outputs.get("UpsertTenders") or {}).get("upsert") or {}
    looked = (outputs.get("StoreLookups") or {}).get("looked") or {}
    finished_job = job if job is not None and job["status"] == "SUCCESS" else None
    counts = (
        {name: finished_job[name] or 0 for name in counts_of(None, None)}
        if finished_job is not None
        else counts_of(staged, upsert)
    )
    # job_log's `enriched` counts every tender given its category: those whose release carried it (the upsert's count
    # until the job is finished), and those a lookup found (each StoreLookups adds its own; a backfill's, a window's).
    from_lookups = sum(
        int((json.loads(event["stateExitedEventDetails"].get("output") or "{}").get("looked") or {}).get("enriched", 0))
        for event in execution.history
        if (event.get("stateExitedEventDetails") or {}).get("name") == "StoreLookups"
    )
    in_releases = counts["enriched"] - (from_lookups if finished_job is not None else 0)
    lines = [f"status:     {job['status'] if job else execution.status} (execution {execution.status})"]
    if job and job["window_from"]:
        lines.append(f"window:     {job['window_from']} .. {job['window_to']} (to is exclusive)")
    if finished_job is None:
        lines.append(f"steps:      {steps_run(execution.history)}")
    if job and job["status"] != "SKIPPED" and job["workflow"] != "cleanup":
        # A backfill's last upsert is only its last window's: its job row holds the totals, without the detail.
        detailed = job["workflow"] != "backfill" and bool(upsert)
        lines += [
            f"fetched:    {counts['fetched']} releases, {counts['quarantined']} quarantined"
            + (f", {staged['cleaned']} cleaned" if staged.get("cleaned") else ""),
            f"categories: {in_releases} in the releases, {from_lookups} from lookups, "
            f"{counts['not_found']} not found, {counts['enrichment_failed']} failed"
            + (f", {looked['still_due']} still due a lookup" if "still_due" in looked else ""),
            f"lookups:    {counts['lookups']} made, {counts['throttled']} throttled (429)"
            + (f", {job['lookups_per_second']} per second" if job and job.get("lookups_per_second") else ""),
            f"upserted:   {counts['upserted']}"
            + (
                f" ({upsert.get('inserted', 0)} new, {upsert.get('updated', 0)} updated, "
                f"{upsert.get('unchanged', 0)} unchanged)"
                if detailed
                else ""
            ),
        ]
    if job and job["status"] == "SUCCESS":
        lines.append(f"changes:    {published_changes(execution, job)}")
    if execution.status != "SUCCEEDED" or (job and job["error"]):
        lines.append(f"reason:     {failure_reason(execution.error, execution.cause, job)}")
    lines.append(f"duration:   {execution.seconds:.1f} s")
    return lines


def published_changes(execution: Execution, job: dict[str, Any]) -> str:
    """What the run announced on the bus: its events' tender changes by kind, and the events left to send."""
    details = [event["detail"] for event in execution.events if event["detail-type"] == DETAIL_TYPE]
    kinds = {kind: sum(detail["counts"][kind] for detail in details) for kind in ("new", "updated", "enriched")}
    events = f"{len(details)} {DETAIL_TYPE} event" + ("" if len(details) == 1 else "s")
    text = f"{job['changes_published'] or 0} published in {events}"
    if details:
        text += " (" + ", ".join(f"{count} {kind}" for kind, count in kinds.items()) + ")"
    if job["events_late"]:
        text += f"; {job['events_late']} events late, for a later run to send"
    return text


def alerts_summary(executions: list[Execution]) -> str:
    """The alerts runs' deliveries, from what RecordDeliveries recorded (failed runs: their reason)."""
    totals = dict.fromkeys(("deliveries", "subscriptions", "emails", "webhooks", "failed"), 0)
    failures = []
    for execution in executions:
        recorded = (execution.output or {}).get("recorded") or {}
        for name in totals:
            totals[name] += int(recorded.get(name) or 0)
        if execution.status != "SUCCEEDED":
            failures.append(failure_reason(execution.error, execution.cause, None))
    line = (
        f"alerts:     {totals['deliveries']} deliveries to {totals['subscriptions']} subscriptions "
        f"({totals['emails']} emails, {totals['webhooks']} webhooks), {totals['failed']} failed"
    )
    if totals["emails"]:
        line += f"; the emails are in {os.path.relpath(OUTBOX, ROOT)}/"
    return "\n".join([line, *(f"alerts run failed: {reason}" for reason in failures)])


def local_context(source_given: bool) -> dict[str, Any]:
    """The stack's context here: cdk.json's, except that against the live sample source (its newest day is today)
    a new database starts CATCH_UP_WINDOWS windows back, not at firstRunFrom: each of its first runs catches up a
    window of new releases, and the last of them reaches today (for enrich-today, and the schedules of `make up`)."""
    if source_given or not serves_live_data():
        return {}
    window_days = int(json.loads((ROOT / "cdk.json").read_text())["context"]["windowDays"])
    return {"firstRunFrom": (source_today() - timedelta(days=window_days * CATCH_UP_WINDOWS - 1)).isoformat()}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = Parser(
        prog="make run",
        description="Run one sync on this machine and print what it did: each step as it runs, then a summary. "
        "The database is the embedded PostgreSQL in .local/pgdata/ unless DATABASE_URL is set; the source is the "
        "sample one unless both source URLs are given. Without --from/--to the window comes from the cursor.",
    )
    add_source_urls(parser)
    parser.add_argument("--from", dest="date_from", type=day, metavar="YYYY-MM-DD", help="the window's first day")
    parser.add_argument(
        "--to", dest="date_to", type=day, metavar="YYYY-MM-DD", help="the day after the window (exclusive)"
    )
    parser.add_argument(
        "--max-enrichment",
        type=whole_number,
        metavar="N",
        help="at most N portal lookups (default: the stack's maxEnrichment)",
    )
    args = parser.parse_args(argv)
    check_source_urls(parser, args)
    if (args.date_from is None) != (args.date_to is None):
        parser.error("give both --from and --to, or neither (the window then comes from the cursor)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    execution_input: dict[str, Any] = {"triggeredBy": "make run"}
    if args.max_enrichment is not None:
        execution_input["maxEnrichment"] = args.max_enrichment
    if args.date_from:
        execution_input.update({"from": args.date_from.isoformat(), "to": args.date_to.isoformat()})
    try:
        database_url = migrated_database_url()
        from infra.stack import synth_template  # the CDK, only once the arguments and the database are good

        execution, job, started = run_workflow(
            SYNC,
            execution_input,
            synth_template(local_context(args.ocds_url is not None)),
            database_url,
            args.ocds_url,
            args.portal_url,
        )
    except OUTSIDE_FAILURES as error:
        print(f"sync failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the run started: nothing to stop
        print(f"sync failed: {CTRL_C}", file=sys.stderr)
        return 1
    print("\n".join(summary(execution, job)))
    if started:
        print(alerts_summary(started))
    print(f"execution:  {execution.arn}")
    if execution.status != "SUCCEEDED":
        print(f"sync failed: {failure_reason(execution.error, execution.cause, job)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
