"""`make run`: one real sync on this machine, from the synthesized state machine, with a summary; and
run_workflow, the one way `make run` and the CLI run an execution here.

Embedded PostgreSQL unless DATABASE_URL is set; the sample eTenders-compatible source unless URLs are given."""

import argparse
import contextlib
import json
import logging
import sys
from datetime import date
from typing import Any, TextIO

import psycopg
from psycopg.rows import dict_row

from infra.stack import synth_template
from local.engine.database import migrated_database_url
from local.engine.stack import Execution, LocalStack, function_environment
from local.sample_source.server import SampleSource
from tender_sync.changes.events import DETAIL_TYPE
from tender_sync.errors import describe_failure
from tender_sync.storage.job_log import counts_of
from tender_sync.workflows import SYNC, Workflow

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
) -> tuple[Execution, dict[str, Any] | None]:
    """One execution of the workflow on this machine, on `database_url`, run to its end with each step printed
    as it goes; the sample source unless both source URLs are given. Returns the execution and its job_log row.

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
        local = stack.enter_context(LocalStack(template, environment))
        print(f"{workflow.name}:", file=out)
        progress = Progress(local, out=out)
        execution = local.execute(
            workflow.state_machine_id(template), execution_input, on_event=progress.on_event, on_poll=progress.on_poll
        )
    return execution, job_row(database_url, execution.arn)


class Progress:
    """Prints each step as the execution enters it, and the enrichment Map's batches as they move."""

    def __init__(self, local: LocalStack, out: TextIO = sys.stdout) -> None:
        self.local, self.out = local, out
        self.in_map = False
        self.last_counts: tuple[int, int] | None = None

    def on_event(self, event: dict[str, Any]) -> None:
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if entered:
            print(f"  -> {entered['name']}", file=self.out, flush=True)
            self.in_map = event["type"] == "MapStateEntered"
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
        counts = self.local.map_run_counts(execution_arn) if self.in_map else None
        if counts and counts["total"] and (counts["succeeded"] + counts["failed"], counts["total"]) != self.last_counts:
            self.last_counts = (counts["succeeded"] + counts["failed"], counts["total"])
            print(f"     batches done {self.last_counts[0]}/{self.last_counts[1]}", file=self.out, flush=True)


def job_row(database_url: str, execution_arn: str) -> dict[str, Any] | None:
    with psycopg.connect(database_url) as conn:
        # A first run refused at its first step has written nothing, not even the tables.
        if conn.execute("SELECT to_regclass('job_log')").fetchone() == (None,):
            return None
        return (
            conn.cursor(row_factory=dict_row)
            .execute("SELECT * FROM job_log WHERE execution_id = %s ORDER BY id DESC LIMIT 1", (execution_arn,))
            .fetchone()
        )


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


def failure_reason(execution: Execution, job: dict[str, Any] | None) -> str:
    """One line: the job's error, else the execution's: the Fail state's cause (FailJob's one line), or a
    Lambda's error (its Cause is JSON) when FailJob itself failed."""
    if job and job["error"]:
        return job["error"]
    cause = (execution.cause or "").strip()
    if cause and not cause.startswith("{"):
        return cause.splitlines()[0]
    return describe_failure({"Error": execution.error, "Cause": cause})


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
            f"enrichment: {counts['enriched']} enriched, {counts['not_found']} not found, "
            f"{counts['enrichment_failed']} failed"
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
        lines.append(f"reason:     {failure_reason(execution, job)}")
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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--ocds-url", help="OCDS API base URL (default: the sample source)")
    parser.add_argument("--portal-url", help="eTenders portal base URL (default: the sample source)")
    parser.add_argument("--from", dest="date_from", type=date.fromisoformat, help="window start, YYYY-MM-DD")
    parser.add_argument("--to", dest="date_to", type=date.fromisoformat, help="window end, YYYY-MM-DD, exclusive")
    parser.add_argument(
        "--max-enrichment", type=int, help="cap on portal lookups (default: the deployment's maxEnrichment)"
    )
    args = parser.parse_args(argv)
    if (args.date_from is None) != (args.date_to is None):
        parser.error("give both --from and --to, or neither (the window then comes from the cursor)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    database_url = migrated_database_url()
    template = synth_template()
    execution_input: dict[str, Any] = {"triggeredBy": "make run"}
    if args.max_enrichment is not None:
        execution_input["maxEnrichment"] = args.max_enrichment
    if args.date_from:
        execution_input.update({"from": args.date_from.isoformat(), "to": args.date_to.isoformat()})

    execution, job = run_workflow(SYNC, execution_input, template, database_url, args.ocds_url, args.portal_url)
    print("\n".join(summary(execution, job)))
    if execution.status != "SUCCEEDED":
        print(f"sync failed: {failure_reason(execution, job)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
