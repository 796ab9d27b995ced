"""`make cost`: what the sync costs on AWS, by service, per run, per month and per 1,000 lookups.

Reads the synthesized template: the sync's definition (the states a run goes through, the Distributed Map's child
execution type and the pace its ItemSelector gives each child), PlanLookups' batching settings, each function's
memory and architecture, and the schedule. Adds a run profile (lookups per run, runs per month, seconds per
function) and the list prices in prices.json beside this module. The run modelled is the ordinary one: a window
stored, then `lookups` tenders of the backlog looked up in PlanLookups' batches, one Express child per batch, each
paced at secondsBetweenLookups, every step succeeding first time (each retry would add a transition and an
invocation). Free tiers are not deducted."""

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.stack import synth_template
from local.engine.template import definition
from local.toolchain import ROOT
from local.up.schedules import Rate, parse_expression
from tender_sync.workflows import SYNC

PRICES_FILE = Path(__file__).with_name("prices.json")
DAYS_PER_MONTH = 30
DEFAULT_LOOKUPS_PER_RUN = 300
# Seconds per invocation, by task state. Assumed, not measured on AWS: pass --duration NAME=SECONDS.
# PlanLookups and StoreLookups are a query or two and a few small S3 objects each, as StartJob is.
# A Map child's task is not here: it is billed for its batch's paced lookups (its lookups x secondsBetweenLookups),
# unless --duration names it.
DEFAULT_DURATIONS = {
    "StartJob": 1.0,
    "FetchReleases": 10.0,
    "UpsertTenders": 5.0,
    "PlanLookups": 1.0,
    "StoreLookups": 1.0,
    "PrepareChanges": 0.5,
    "RecordPublished": 0.2,
    "FinishJob": 0.5,
}
# PublishChanges is no Lambda: EventBridge's PutEvents, one custom event per change event (an ordinary run: one).
PUT_EVENTS = ":states:::events:putEvents"
EVENTS_PER_RUN = 1
# The S3 requests of a run, from what the handlers do (tests/infra/test_cost.py counts them in a local run):
FETCH_PUTS = 2  # FetchReleases: tenders.jsonl and quarantine.jsonl (each one part below 8 MiB)
UPSERT_GETS = 2  # UpsertTenders reads them back
PLAN_PUTS = 1  # PlanLookups writes lookups.json, the Map's items
CHANGES_PUTS = 1  # PrepareChanges writes the run's changes object
MAP_GETS = 1  # the Distributed Map's ItemReader reads lookups.json
STORE_GETS = 1  # StoreLookups reads lookups.json, lists the results, then GETs one result per batch
LIST_PAGE = 1000  # 1,000 keys a page
# Each LookUpBatch writes one result object (PUT) for its batch.
# Each invocation of a function that may read the database secret fetches it once: runs are 30 minutes
# apart, longer than the 5 minutes the functions cache it.
SECRET_READS_PER_INVOCATION = 1


@dataclass(frozen=True)
class Profile:
    lookups_per_run: int = DEFAULT_LOOKUPS_PER_RUN
    runs_per_month: float = DAYS_PER_MONTH * 48
    durations: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DURATIONS))


@dataclass(frozen=True)
class Line:
    service: str
    usage: str
    per_run: float
    per_month_fixed: float = 0.0


@dataclass(frozen=True)
class Estimate:
    lines: list[Line]
    profile: Profile
    child_execution_type: str
    batches: list[int]  # the lookups of each Map child

    @property
    def per_run(self) -> float:
        return sum(line.per_run for line in self.lines)

    def per_month(self, line: Line | None = None) -> float:
        lines = [line] if line else self.lines
        return sum(item.per_run * self.profile.runs_per_month + item.per_month_fixed for item in lines)

    @property
    def per_thousand_lookups(self) -> float:
        """A run's cost over its lookups (the secrets' fixed monthly price aside)."""
        return self.per_run / self.profile.lookups_per_run * 1000 if self.profile.lookups_per_run else 0.0


@dataclass(frozen=True)
class Function:
    memory_mb: int
    architecture: str
    reads_secret: bool
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class S3Requests:
    puts: int  # PUT-class: PutObject and each multipart call
    lists: int
    gets: int


def s3_requests(batches: int) -> S3Requests:
    """The S3 requests of a run whose lookups PlanLookups split into `batches` Map items (none: the run goes
    from PlanLookups straight to FinishJob)."""
    if not batches:
        return S3Requests(puts=FETCH_PUTS + PLAN_PUTS + CHANGES_PUTS, lists=0, gets=UPSERT_GETS)
    return S3Requests(
        puts=FETCH_PUTS + PLAN_PUTS + CHANGES_PUTS + batches,
        lists=max(1, math.ceil(batches / LIST_PAGE)),
        gets=UPSERT_GETS + MAP_GETS + STORE_GETS + batches,
    )


def batch_sizes(lookups: int, batch_size: int, concurrency: int) -> list[int]:
    """The lookups of each batch PlanLookups writes: at most batch_size each, and a few lookups spread over as
    many batches as the Map runs at once (tender_sync.backlog.plan_lookups)."""
    size = max(1, min(batch_size, math.ceil(lookups / concurrency)))
    return [min(size, lookups - start) for start in range(0, lookups, size)]


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    return json.loads(path.read_text())


def runs_per_month(template: dict[str, Any]) -> float:
    """From the sync schedule's rate(...) expression, over a 30-day month."""
    schedules = [r for r in template["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"]
    if len(schedules) > 1:  # the stack's: the sync's and the cleanup's
        sync = {"Ref": SYNC.state_machine_id(template)}
        schedules = [s for s in schedules if s["Properties"]["Target"]["Arn"] == sync]
    (schedule,) = schedules
    expression = schedule["Properties"]["ScheduleExpression"]
    when = parse_expression(expression)
    if not isinstance(when, Rate):
        raise ValueError(f"cannot count runs of the schedule {expression!r}: give --runs-per-month")
    return DAYS_PER_MONTH * 24 * 3600 / when.seconds


def run_path(machine: dict[str, Any], facts: dict[str, Any] | None = None) -> list[str]:
    """The states an ordinary run enters, in order. A Choice takes the first of its rules that `facts` (values by
    JSONPath, e.g. {"$.lookups.tenders": 0}) decide, else its Default (the branch that does the work)."""
    facts = facts or {}
    path, name = [], machine["StartAt"]
    while name:
        state = machine["States"][name]
        path.append(name)
        if state["Type"] in ("Succeed", "Fail") or state.get("End"):
            break
        name = _choose(state, facts) if state["Type"] == "Choice" else state["Next"]
    return path


def _choose(state: dict[str, Any], facts: dict[str, Any]) -> str:
    for rule in state.get("Choices", []):
        if rule.get("Variable") in facts:
            value = facts[rule["Variable"]]
            if ("NumericEquals" in rule and value == rule["NumericEquals"]) or (
                "BooleanEquals" in rule and value is rule["BooleanEquals"]
            ):
                return rule["Next"]
    return state["Default"]


def estimate(
    template: dict[str, Any], profile: Profile, prices: dict[str, Any], child_execution_type: str | None = None
) -> Estimate:
    """Cost lines of one run. child_execution_type overrides the Map's, to compare the two."""
    machine = json.loads(definition(template, SYNC.state_machine_id(template)))
    functions = _functions(template)
    sfn, lam, s3, secrets = prices["step_functions"], prices["lambda"], prices["s3_standard"], prices["secrets_manager"]
    custom_events = 0

    transitions = 0
    invocations: list[tuple[Function, float, float]] = []  # function, count, seconds each
    express_requests, express_seconds = 0, 0.0  # seconds: summed over the children, each rounded up
    execution_type = None
    batches: list[int] = []
    for name in run_path(machine, {"$.lookups.tenders": profile.lookups_per_run, "$.changes.count": EVENTS_PER_RUN}):
        state = machine["States"][name]
        transitions += 1
        if state["Type"] == "Task" and state["Resource"].endswith(PUT_EVENTS):
            custom_events += EVENTS_PER_RUN
        elif state["Type"] == "Task":
            invocations.append((_task_function(state, functions), 1, _duration(profile, name)))
        if state["Type"] == "Map":
            processor = state["ItemProcessor"]
            execution_type = child_execution_type or processor.get("ProcessorConfig", {}).get(
                "ExecutionType", "STANDARD"
            )
            batches = _batches(machine, functions, profile.lookups_per_run)
            seconds_between = float(state["ItemSelector"]["secondsBetweenLookups"])
            child_path = run_path(processor)
            # Each child execution the Distributed Map starts is one transition of the parent.
            transitions += len(batches)
            increment = sfn["express_duration_increment_seconds"]
            for lookups in batches:
                child_seconds = 0.0
                for child_name in child_path:
                    child = processor["States"][child_name]
                    if child["Type"] == "Task":
                        # Billed for its paced lookups: one started every seconds_between, the last one's included.
                        seconds = profile.durations.get(child_name, lookups * seconds_between)
                        invocations.append((_task_function(child, functions), 1, seconds))
                        child_seconds += seconds
                if execution_type == "EXPRESS":
                    express_seconds += math.ceil(round(child_seconds / increment, 6)) * increment
            if execution_type == "STANDARD":
                transitions += len(batches) * len(child_path)
            else:
                express_requests = len(batches)

    lambda_requests = sum(count for _, count, _ in invocations)
    gb_seconds = {
        architecture: sum(
            count * seconds * f.memory_mb / 1024 for f, count, seconds in invocations if f.architecture == architecture
        )
        for architecture in sorted({f.architecture for f, _, _ in invocations})
    }
    s3_run = s3_requests(len(batches))
    secret_reads = sum(count for f, count, _ in invocations if f.reads_secret) * SECRET_READS_PER_INVOCATION
    created_secrets = sum(1 for r in template["Resources"].values() if r["Type"] == "AWS::SecretsManager::Secret")

    lines = [
        Line("Step Functions state transitions", f"{transitions:,}", transitions * sfn["standard_per_state_transition"])
    ]
    if express_requests:
        express_gb_seconds = express_seconds * sfn["express_billed_memory_mb"] / 1024
        lines += [
            Line(
                "Step Functions Express requests",
                f"{express_requests:,}",
                express_requests * sfn["express_per_request"],
            ),
            Line(
                "Step Functions Express duration",
                f"{express_gb_seconds:,.2f} GB-s",
                express_gb_seconds * sfn["express_per_gb_second"],
            ),
        ]
    lines.append(Line("Lambda requests", f"{lambda_requests:,}", lambda_requests * lam["per_request"]))
    for architecture, amount in gb_seconds.items():
        lines.append(
            Line(
                f"Lambda duration ({architecture})", f"{amount:,.2f} GB-s", amount * lam["per_gb_second"][architecture]
            )
        )
    lines += [
        Line(
            "S3 PUT and LIST requests",
            f"{s3_run.puts + s3_run.lists:,}",
            (s3_run.puts + s3_run.lists) * s3["per_put_copy_post_list_request"],
        ),
        Line("S3 GET requests", f"{s3_run.gets:,}", s3_run.gets * s3["per_get_request"]),
        Line(
            "EventBridge custom events", f"{custom_events:,}", custom_events * prices["eventbridge"]["per_custom_event"]
        ),
        Line(
            "Secrets Manager",
            f"{secret_reads} reads"
            + (f", {created_secrets} secret{'s' if created_secrets > 1 else ''}" if created_secrets else ""),
            secret_reads * secrets["per_api_call"],
            per_month_fixed=created_secrets * secrets["per_secret_month"],
        ),
    ]
    return Estimate(lines=lines, profile=profile, child_execution_type=execution_type or "none", batches=batches)


def report(template: dict[str, Any], profile: Profile, prices: dict[str, Any]) -> list[str]:
    result = estimate(template, profile, prices)
    width = max(len(line.service) for line in result.lines)
    batches = result.batches
    out = [
        f"Run profile: {profile.lookups_per_run:,} lookups per run"
        + (f" in {len(batches):,} batches of up to {max(batches):,}" if batches else "")
        + f", {profile.runs_per_month:,.0f} runs per month; seconds per invocation: "
        + ", ".join(f"{name} {seconds:g}" for name, seconds in profile.durations.items())
        + ("; each Map child's task: its lookups x secondsBetweenLookups" if batches else ""),
        f"Prices: AWS list prices, {prices['region']}, as of {prices['date']} "
        f"({PRICES_FILE.relative_to(ROOT)}); free tiers not deducted.",
        f"Enrichment Map children: {result.child_execution_type}",
        "",
        f"{'service':<{width}}  {'usage per run':>16}  {'$ per run':>10}  {'$ per month':>11}",
    ]
    out.extend(
        f"{line.service:<{width}}  {line.usage:>16}  {line.per_run:>10.5f}  {result.per_month(line):>11.2f}"
        for line in result.lines
    )
    out.append(f"{'total':<{width}}  {'':>16}  {result.per_run:>10.5f}  {result.per_month():>11.2f}")
    if profile.lookups_per_run:
        out.append(
            f"per 1,000 lookups: ${result.per_thousand_lookups:.5f} (a run's cost over its lookups; the secrets' monthly price aside)"
        )
    other = "STANDARD" if result.child_execution_type == "EXPRESS" else "EXPRESS"
    if result.child_execution_type != "none":
        alternative = estimate(template, profile, prices, child_execution_type=other)
        out.append(
            f"(with {other} Map children instead: ${alternative.per_run:.5f} per run, ${alternative.per_month():.2f} per month)"
        )
    return out


def _batches(machine: dict[str, Any], functions: dict[str, Function], lookups: int) -> list[int]:
    """The batches PlanLookups makes of `lookups`, with the batch size and concurrency the template gives it."""
    environment = _task_function(machine["States"]["PlanLookups"], functions).environment
    return batch_sizes(lookups, int(environment["LOOKUP_BATCH_SIZE"]), int(environment["MAP_MAX_CONCURRENCY"]))


def _functions(template: dict[str, Any]) -> dict[str, Function]:
    """Lambda functions by logical id, with the memory and architecture the template gives them."""
    readers = _roles_that_can(template, "secretsmanager:GetSecretValue")
    functions = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = resource["Properties"]
        functions[logical_id] = Function(
            memory_mb=properties.get("MemorySize", 128),
            architecture=(properties.get("Architectures") or ["x86_64"])[0],
            reads_secret=properties["Role"]["Fn::GetAtt"][0] in readers,
            environment=properties.get("Environment", {}).get("Variables", {}),
        )
    return functions


def _roles_that_can(template: dict[str, Any], action: str) -> set[str]:
    roles: set[str] = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                roles.update(role["Ref"] for role in resource["Properties"]["Roles"])
    return roles


def _task_function(state: dict[str, Any], functions: dict[str, Function]) -> Function:
    logical_id = state["Resource"].rsplit(":", 1)[-1]
    if logical_id not in functions:
        raise ValueError(f"the cost model knows Lambda tasks only, not {state['Resource']}")
    return functions[logical_id]


def _duration(profile: Profile, state_name: str) -> float:
    if state_name not in profile.durations:
        raise ValueError(f"no duration for {state_name}: give --duration {state_name}=SECONDS")
    return profile.durations[state_name]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--lookups",
        "--tenders",
        dest="lookups",
        type=int,
        default=DEFAULT_LOOKUPS_PER_RUN,
        help="tenders looked up per run (default 300)",
    )
    parser.add_argument("--runs-per-month", type=float, help="default: from the schedule, over a 30-day month")
    parser.add_argument(
        "--duration",
        action="append",
        default=[],
        metavar="STATE=SECONDS",
        help="seconds per invocation of a task state, e.g. StoreLookups=2.5 (repeatable); LookUpBatch=SECONDS "
        "replaces its paced time",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    template = synth_template()
    durations = dict(DEFAULT_DURATIONS)
    for item in args.duration:
        name, _, seconds = item.partition("=")
        durations[name] = float(seconds)
    profile = Profile(
        lookups_per_run=args.lookups,
        runs_per_month=args.runs_per_month if args.runs_per_month is not None else runs_per_month(template),
        durations=durations,
    )
    print("\n".join(report(template, profile, load_prices())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
