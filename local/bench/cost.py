"""`make cost`: what the sync and its alerts cost on AWS, by service, per run, per month and per 1,000 lookups.

Reads the synthesized template: the sync's and the alerts' definitions (the states a run goes through, each
Distributed Map's child execution type and the pace its ItemSelector gives each child), PlanLookups' batching
settings, each function's memory and architecture, and the schedules. Adds a run profile (lookups per run, runs per
month, seconds per function, subscriptions) and the list prices in prices.json beside this module. The run modelled
is the ordinary one: a window stored, then `lookups` tenders of the backlog looked up in PlanLookups' batches, one
Express child per batch, each paced at secondsBetweenLookups, then its change event, which starts one alerts run:
the deliveries it matched, sent in MatchAlerts' batches, one Express child per batch, each sending its emails at
secondsBetweenEmails. The alerts schedule's runs are added by the month. Every step succeeds first time (each retry
would add a transition and an invocation; a failed delivery, another run). Free tiers are not deducted."""

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infra.stack import synth_template
from local.engine.template import definition
from local.toolchain import ROOT
from local.up.schedules import At, Rate, parse_expression
from tender_sync.alerts.deliveries import BATCH_SIZE
from tender_sync.workflows import ALERTS, SYNC, Workflow

PRICES_FILE = Path(__file__).with_name("prices.json")
DAYS_PER_MONTH = 30
# Scheduled runs are counted over the 30 days from here (a cron expression's count depends on the days it spans).
MONTH_START = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_LOOKUPS_PER_RUN = 300
DEFAULT_SUBSCRIPTIONS = 1000
# Seconds per invocation, by task state. Assumed, not measured on AWS: pass --duration NAME=SECONDS.
# PlanLookups and StoreLookups are a query or two and a few small S3 objects each, as StartJob is.
# MatchAlerts is the match query, the digests and the claim, and one S3 object; RecordDeliveries an update and a few
# small objects.
# A Map child's task is not here: it is billed for its batch's paced work (LookUpBatch: its lookups x
# secondsBetweenLookups; DeliverBatch: its emails x secondsBetweenEmails and WEBHOOK_SECONDS a webhook), unless
# --duration names it.
DEFAULT_DURATIONS = {
    "StartJob": 1.0,
    "FetchReleases": 10.0,
    "UpsertTenders": 5.0,
    "PlanLookups": 1.0,
    "StoreLookups": 1.0,
    "PrepareChanges": 0.5,
    "RecordPublished": 0.2,
    "FinishJob": 0.5,
    "MatchAlerts": 1.0,
    "RecordDeliveries": 0.5,
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
# The S3 requests of an alerts run:
ALERTS_PLAN_PUTS = 1  # MatchAlerts writes deliveries.json, the Map's items (an empty list when nothing is due)
# Per batch: MatchAlerts writes the batch (PUT), its DeliverBatch reads it (GET) and writes its result (PUT), and
# RecordDeliveries reads both back (2 GETs), after listing the results (always); the Map's ItemReader reads
# deliveries.json (MAP_GETS).
BATCH_PUTS = 2
BATCH_GETS = 3
# Each invocation of a function that may read a secret fetches it once: runs are 30 minutes apart, longer than the 5
# minutes the functions cache the database secret (DeliverBatch keeps the alerts key while it stays warm: once an
# invocation is an upper bound).
SECRET_READS_PER_INVOCATION = 1
SECRETS_MANAGER = "Secrets Manager"
# The alerts, assumed, not measured. Each change event matches MATCHED_SHARE of the subscriptions (its new and
# updated tenders, and those that gained their category); DAILY_SHARE of the subscriptions take a daily digest
# instead of a delivery at each match, and each of those has one every day (an upper bound: at 2% an event, 48 events
# a day leave 38% of days without a match). EMAIL_SHARE of the deliveries are emails, the rest webhooks, each
# answered in WEBHOOK_SECONDS. Of the alerts schedule's runs, DIGEST_RUNS_PER_DAY send the daily digests (the one
# after alertDigestHour); the others find nothing due (every delivery succeeded first time).
MATCHED_SHARE = 0.02
DAILY_SHARE = 0.5
EMAIL_SHARE = 0.9
WEBHOOK_SECONDS = 0.5
DIGEST_RUNS_PER_DAY = 1


@dataclass(frozen=True)
class Profile:
    lookups_per_run: int = DEFAULT_LOOKUPS_PER_RUN
    runs_per_month: float = DAYS_PER_MONTH * 48
    durations: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DURATIONS))
    subscriptions: int = DEFAULT_SUBSCRIPTIONS
    # The alerts schedule's runs (each change event starts one more).
    alerts_runs_per_month: float = DAYS_PER_MONTH * 24


@dataclass(frozen=True)
class Line:
    service: str
    usage: str
    per_run: float
    per_month_fixed: float = 0.0


@dataclass(frozen=True)
class Estimate:
    lines: list[Line]  # the sync's
    # The alerts': per run, the alerts run the sync run's change event starts; per month, also the alerts
    # schedule's runs and the alerts key.
    alert_lines: list[Line]
    profile: Profile
    child_execution_type: str
    batches: list[int]  # the lookups of each Map child

    @property
    def per_run(self) -> float:
        return sum(line.per_run for line in self.lines + self.alert_lines)

    def per_month(self, line: Line | None = None) -> float:
        lines = [line] if line else self.lines + self.alert_lines
        return sum(item.per_run * self.profile.runs_per_month + item.per_month_fixed for item in lines)

    @property
    def per_thousand_lookups(self) -> float:
        """A run's cost over its lookups (its alerts and the secrets' fixed monthly price aside)."""
        sync = sum(line.per_run for line in self.lines)
        return sync / self.profile.lookups_per_run * 1000 if self.profile.lookups_per_run else 0.0


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


@dataclass(frozen=True)
class Usage:
    """What one execution uses."""

    transitions: int
    invocations: list[tuple[Function, float]]  # each Lambda invocation: its function, and its seconds
    express_requests: int
    express_seconds: float  # summed over the Map's children, each rounded up to Express's billing increment
    child_execution_type: str | None  # its Distributed Map's (None: it runs none)
    custom_events: int
    s3: S3Requests
    emails: int


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


def alerts_s3_requests(batches: int) -> S3Requests:
    """The S3 requests of an alerts run whose deliveries MatchAlerts split into `batches` Map items (none: the run
    goes from MatchAlerts straight to RecordDeliveries)."""
    if not batches:
        return S3Requests(puts=ALERTS_PLAN_PUTS, lists=1, gets=0)
    return S3Requests(
        puts=ALERTS_PLAN_PUTS + BATCH_PUTS * batches,
        lists=max(1, math.ceil(batches / LIST_PAGE)),
        gets=MAP_GETS + BATCH_GETS * batches,
    )


def batch_sizes(lookups: int, batch_size: int, concurrency: int) -> list[int]:
    """The lookups of each batch PlanLookups writes: at most batch_size each, and a few lookups spread over as
    many batches as the Map runs at once (tender_sync.backlog.plan_lookups)."""
    size = max(1, min(batch_size, math.ceil(lookups / concurrency)))
    return [min(size, lookups - start) for start in range(0, lookups, size)]


def instant_deliveries(subscriptions: int) -> int:
    """The deliveries a change event's alerts run makes: one to each instant subscription it matches."""
    return round(subscriptions * (1 - DAILY_SHARE) * MATCHED_SHARE)


def daily_digests(subscriptions: int) -> int:
    """The digests the day's digest run sends: one to each daily subscription."""
    return round(subscriptions * DAILY_SHARE)


def delivery_batches(deliveries: int) -> list[tuple[int, int]]:
    """The emails and webhooks of each batch MatchAlerts writes: at most BATCH_SIZE deliveries each
    (tender_sync.alerts.deliveries.plan), EMAIL_SHARE of all of them emails, the webhooks spread evenly."""
    sizes = [min(BATCH_SIZE, deliveries - start) for start in range(0, deliveries, BATCH_SIZE)]
    webhooks = deliveries - round(deliveries * EMAIL_SHARE)
    shares = [webhooks * (i + 1) // len(sizes) - webhooks * i // len(sizes) for i in range(len(sizes))]
    return [(size - min(share, size), min(share, size)) for size, share in zip(sizes, shares, strict=True)]


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    return json.loads(path.read_text())


def runs_per_month(template: dict[str, Any], workflow: Workflow[Any] = SYNC) -> float:
    """How often the workflow's schedule starts it in a 30-day month: a rate(...) by its period, a cron(...) by its
    times in the 30 days from MONTH_START."""
    schedules = [r for r in template["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"]
    if len(schedules) > 1:  # the stack's: the sync's, the cleanup's and the alerts'
        machine = {"Ref": workflow.state_machine_id(template)}
        schedules = [s for s in schedules if s["Properties"]["Target"]["Arn"] == machine]
    (schedule,) = schedules
    expression = schedule["Properties"]["ScheduleExpression"]
    when = parse_expression(expression, schedule["Properties"].get("ScheduleExpressionTimezone", "UTC"))
    if isinstance(when, Rate):
        return DAYS_PER_MONTH * 24 * 3600 / when.seconds
    if isinstance(when, At):
        raise ValueError(f"cannot count runs of the schedule {expression!r}: give --runs-per-month")
    end, runs = MONTH_START + timedelta(days=DAYS_PER_MONTH), 0
    moment = when.next_after(MONTH_START, MONTH_START)
    while moment is not None and moment <= end:
        runs += 1
        moment = when.next_after(moment, MONTH_START)
    return runs


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
    """Cost lines of one run, and of its alerts. child_execution_type overrides the enrichment Map's, to compare
    the two."""
    functions = _functions(template)
    machine = json.loads(definition(template, SYNC.state_machine_id(template)))
    batches = _batches(machine, functions, profile.lookups_per_run)
    sync = _usage(
        machine,
        functions,
        profile,
        prices,
        {"$.lookups.tenders": profile.lookups_per_run, "$.changes.count": EVENTS_PER_RUN},
        lambda seconds_between: [lookups * seconds_between for lookups in batches],
        s3_requests(len(batches)),
        child_execution_type=child_execution_type,
    )
    created = {lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SecretsManager::Secret"}
    alerts_keys = created & {
        function.environment["ALERTS_KEY_SECRET_ARN"]["Ref"]
        for function in functions.values()
        if "ALERTS_KEY_SECRET_ARN" in function.environment
    }
    return Estimate(
        lines=_lines(sync, prices, secrets=len(created - alerts_keys)),
        alert_lines=_alert_lines(template, functions, profile, prices, secrets=len(alerts_keys)),
        profile=profile,
        child_execution_type=sync.child_execution_type or "none",
        batches=batches,
    )


def _alert_lines(
    template: dict[str, Any], functions: dict[str, Function], profile: Profile, prices: dict[str, Any], secrets: int
) -> list[Line]:
    """The alerts' lines: per run, the alerts run of each change event the sync run announces; per month, also the
    alerts schedule's runs (one a day with the day's digests, the others with nothing due) and the alerts key."""
    machine = json.loads(definition(template, ALERTS.state_machine_id(template)))
    digest_runs = min(DAYS_PER_MONTH * DIGEST_RUNS_PER_DAY, profile.alerts_runs_per_month)
    per_change_event, digest_run, empty_run = (
        _lines(_alerts_usage(machine, functions, profile, prices, deliveries), prices, secrets=0, every_service=True)
        for deliveries in (instant_deliveries(profile.subscriptions), daily_digests(profile.subscriptions), 0)
    )
    lines = []
    for line, digest, empty in zip(per_change_event, digest_run, empty_run, strict=True):
        monthly = digest.per_run * digest_runs + empty.per_run * (profile.alerts_runs_per_month - digest_runs)
        usage = line.usage
        if line.service == SECRETS_MANAGER:
            monthly += secrets * prices["secrets_manager"]["per_secret_month"]
            usage += _secrets_created(secrets)
        lines.append(Line(f"Alerts: {line.service}", usage, line.per_run * EVENTS_PER_RUN, monthly))
    return lines


def _alerts_usage(
    machine: dict[str, Any], functions: dict[str, Function], profile: Profile, prices: dict[str, Any], deliveries: int
) -> Usage:
    """An alerts run that sends `deliveries`, in MatchAlerts' batches: each child sends its emails one every
    secondsBetweenEmails, and its webhooks."""
    batches = delivery_batches(deliveries)
    return _usage(
        machine,
        functions,
        profile,
        prices,
        {"$.alerts.batches": len(batches)},
        lambda seconds_between: [emails * seconds_between + webhooks * WEBHOOK_SECONDS for emails, webhooks in batches],
        alerts_s3_requests(len(batches)),
        emails=sum(emails for emails, _ in batches),
    )


def _usage(
    machine: dict[str, Any],
    functions: dict[str, Function],
    profile: Profile,
    prices: dict[str, Any],
    facts: dict[str, Any],
    children: Callable[[float], list[float]],
    s3: S3Requests,
    emails: int = 0,
    child_execution_type: str | None = None,
) -> Usage:
    """What one execution uses on its way through `machine` (run_path with `facts`), given its S3 requests and
    emails. children: the paced seconds of each child of its Distributed Map, given the pace the Map's ItemSelector
    gives them (its secondsBetween...). child_execution_type overrides the Map's."""
    increment = prices["step_functions"]["express_duration_increment_seconds"]
    transitions, custom_events = 0, 0
    invocations: list[tuple[Function, float]] = []
    express_requests, express_seconds = 0, 0.0
    execution_type = None
    for name in run_path(machine, facts):
        state = machine["States"][name]
        transitions += 1
        if state["Type"] == "Task" and state["Resource"].endswith(PUT_EVENTS):
            custom_events += EVENTS_PER_RUN
        elif state["Type"] == "Task":
            invocations.append((_task_function(state, functions), _duration(profile, name)))
        if state["Type"] == "Map":
            processor = state["ItemProcessor"]
            execution_type = child_execution_type or processor.get("ProcessorConfig", {}).get(
                "ExecutionType", "STANDARD"
            )
            (seconds_between,) = [
                float(value) for key, value in state["ItemSelector"].items() if key.startswith("secondsBetween")
            ]
            child_path = run_path(processor)
            paced = children(seconds_between)
            # Each child execution the Distributed Map starts is one transition of the parent.
            transitions += len(paced)
            for paced_seconds in paced:
                child_seconds = 0.0
                for child_name in child_path:
                    child = processor["States"][child_name]
                    if child["Type"] == "Task":
                        # Billed for its paced work (the last request's included), unless --duration names it.
                        seconds = profile.durations.get(child_name, paced_seconds)
                        invocations.append((_task_function(child, functions), seconds))
                        child_seconds += seconds
                if execution_type == "EXPRESS":
                    express_seconds += math.ceil(round(child_seconds / increment, 6)) * increment
            if execution_type == "STANDARD":
                transitions += len(paced) * len(child_path)
            else:
                express_requests = len(paced)
    return Usage(
        transitions=transitions,
        invocations=invocations,
        express_requests=express_requests,
        express_seconds=express_seconds,
        child_execution_type=execution_type,
        custom_events=custom_events,
        s3=s3,
        emails=emails,
    )


def _lines(usage: Usage, prices: dict[str, Any], secrets: int, every_service: bool = False) -> list[Line]:
    """An execution's usage priced, service by service, and `secrets` the stack creates, by the month. Express and
    SES are left out when unused, unless every_service (the alerts' runs, priced side by side); EventBridge when
    unused."""
    sfn, lam, s3, secrets_manager = (
        prices["step_functions"],
        prices["lambda"],
        prices["s3_standard"],
        prices["secrets_manager"],
    )
    lambda_requests = len(usage.invocations)
    gb_seconds = {
        architecture: sum(
            seconds * f.memory_mb / 1024 for f, seconds in usage.invocations if f.architecture == architecture
        )
        for architecture in sorted({f.architecture for f, _ in usage.invocations})
    }
    secret_reads = sum(1 for f, _ in usage.invocations if f.reads_secret) * SECRET_READS_PER_INVOCATION

    lines = [
        Line(
            "Step Functions state transitions",
            f"{usage.transitions:,}",
            usage.transitions * sfn["standard_per_state_transition"],
        )
    ]
    if usage.express_requests or every_service:
        express_gb_seconds = usage.express_seconds * sfn["express_billed_memory_mb"] / 1024
        lines += [
            Line(
                "Step Functions Express requests",
                f"{usage.express_requests:,}",
                usage.express_requests * sfn["express_per_request"],
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
            f"{usage.s3.puts + usage.s3.lists:,}",
            (usage.s3.puts + usage.s3.lists) * s3["per_put_copy_post_list_request"],
        ),
        Line("S3 GET requests", f"{usage.s3.gets:,}", usage.s3.gets * s3["per_get_request"]),
    ]
    if usage.custom_events:
        lines.append(
            Line(
                "EventBridge custom events",
                f"{usage.custom_events:,}",
                usage.custom_events * prices["eventbridge"]["per_custom_event"],
            )
        )
    if usage.emails or every_service:
        lines.append(Line("SES emails", f"{usage.emails:,}", usage.emails * prices["ses"]["per_email"]))
    lines.append(
        Line(
            SECRETS_MANAGER,
            f"{secret_reads} reads" + _secrets_created(secrets),
            secret_reads * secrets_manager["per_api_call"],
            per_month_fixed=secrets * secrets_manager["per_secret_month"],
        )
    )
    return lines


def _deliveries(batches: list[tuple[int, int]]) -> str:
    emails = sum(emails for emails, _ in batches)
    return f"{emails + sum(webhooks for _, webhooks in batches):,} deliveries ({emails:,} emails)"


def _secrets_created(secrets: int) -> str:
    return f", {secrets} secret{'s' if secrets > 1 else ''}" if secrets else ""


def report(template: dict[str, Any], profile: Profile, prices: dict[str, Any]) -> list[str]:
    result = estimate(template, profile, prices)
    lines = result.lines + result.alert_lines
    width = max(len(line.service) for line in lines)
    batches = result.batches
    instant, digests = (
        delivery_batches(deliveries)
        for deliveries in (instant_deliveries(profile.subscriptions), daily_digests(profile.subscriptions))
    )
    out = [
        f"Run profile: {profile.lookups_per_run:,} lookups per run"
        + (f" in {len(batches):,} batches of up to {max(batches):,}" if batches else "")
        + f", {profile.runs_per_month:,.0f} runs per month; seconds per invocation: "
        + ", ".join(f"{name} {seconds:g}" for name, seconds in profile.durations.items())
        + ("; each Map child's task: its lookups x secondsBetweenLookups" if batches else ""),
        f"Alerts profile: {profile.subscriptions:,} subscriptions, {DAILY_SHARE:.0%} of them daily digests, "
        f"{EMAIL_SHARE:.0%} of deliveries by email; each change event matches {MATCHED_SHARE:.0%} of them: "
        f"{_deliveries(instant)} a run; {profile.alerts_runs_per_month:,.0f} scheduled alerts runs a month, one a day "
        f"sending the day's {_deliveries(digests)}, the others nothing; each DeliverBatch: its emails x "
        f"secondsBetweenEmails, {WEBHOOK_SECONDS:g} s a webhook",
        "Alerts lines: per run, the alerts run its change event starts; per month, also the scheduled alerts runs and "
        "the alerts key",
        f"Prices: AWS list prices, {prices['region']}, as of {prices['date']} "
        f"({PRICES_FILE.relative_to(ROOT)}); free tiers not deducted.",
        f"Enrichment Map children: {result.child_execution_type}",
        "",
        f"{'service':<{width}}  {'usage per run':>16}  {'$ per run':>10}  {'$ per month':>11}",
    ]
    out.extend(
        f"{line.service:<{width}}  {line.usage:>16}  {line.per_run:>10.5f}  {result.per_month(line):>11.2f}"
        for line in lines
    )
    out.append(f"{'total':<{width}}  {'':>16}  {result.per_run:>10.5f}  {result.per_month():>11.2f}")
    if profile.lookups_per_run:
        out.append(
            f"per 1,000 lookups: ${result.per_thousand_lookups:.5f} (a run's cost over its lookups; its alerts and the"
            " secrets' monthly price aside)"
        )
    other = "STANDARD" if result.child_execution_type == "EXPRESS" else "EXPRESS"
    if result.child_execution_type != "none":
        alternative = estimate(template, profile, prices, child_execution_type=other)
        out.append(
            f"(with {other} enrichment Map children instead: ${alternative.per_run:.5f} per run, "
            f"${alternative.per_month():.2f} per month)"
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
        "or DeliverBatch=SECONDS replaces its paced time",
    )
    parser.add_argument(
        "--subscriptions",
        type=int,
        default=DEFAULT_SUBSCRIPTIONS,
        help="alert subscriptions (default 1,000)",
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
        subscriptions=args.subscriptions,
        alerts_runs_per_month=runs_per_month(template, ALERTS),
    )
    print("\n".join(report(template, profile, load_prices())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
