"""What EventBridge does on AWS when an execution ends: the template's rules on Step Functions' status-change events,
matched against each execution that ends here, each target's input transformer applied, and the message sent to
its topic (the local one), printed and kept for the console."""

import json
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from local.engine.run import failure_reason, job_row, save_history
from local.engine.stack import LocalStack, QuotaExceeded, check_quotas
from local.up.resources import LocalResources

STATUS_CHANGE = {"source": "aws.states", "detail-type": "Step Functions Execution Status Change"}


@dataclass(frozen=True)
class Alert:
    at: datetime
    execution_arn: str
    status: str
    message: str


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: dict[str, Any]
    targets: list[dict[str, Any]]

    def matches(self, event: dict[str, Any]) -> bool:
        return matches(self.pattern, event)


def execution_rules(resources: LocalResources) -> list[Rule]:
    """The template's EventBridge rules on Step Functions execution status changes, resolved to the local ARNs."""
    rules = []
    for logical_id, resource in resources.template["Resources"].items():
        properties = resource["Properties"]
        if resource["Type"] != "AWS::Events::Rule" or properties.get("State", "ENABLED") != "ENABLED":
            continue
        pattern = resources.value(properties.get("EventPattern") or {})
        if STATUS_CHANGE["source"] not in pattern.get("source", []):
            continue
        check_literal(pattern, logical_id)
        rules.append(Rule(logical_id, pattern, resources.value(properties.get("Targets", []))))
    return rules


def check_literal(pattern: dict[str, Any], rule: str) -> None:
    """Only patterns of literal values are matched here: anything else is refused, naming it."""
    for key, expected in pattern.items():
        if isinstance(expected, dict):
            check_literal(expected, rule)
        elif not isinstance(expected, list) or any(isinstance(value, (dict, list)) for value in expected):
            raise ValueError(
                f"rule {rule}: the local stack matches lists of literal values only, not {key}: {expected}"
            )


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge matching for literal patterns: every key of the pattern, the event's value one of those listed."""
    for key, expected in pattern.items():
        actual = event.get(key)
        if isinstance(expected, dict):
            if not isinstance(actual, dict) or not matches(expected, actual):
                return False
        elif actual not in expected:
            return False
    return True


def transformed(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The message a target gets: its InputTransformer's template filled from the event, or the event itself."""
    transformer = target.get("InputTransformer")
    if not transformer:
        return json.dumps(event)
    text = transformer["InputTemplate"]
    for name, path in transformer.get("InputPathsMap", {}).items():
        value: Any = event
        for key in path.removeprefix("$.").split("."):
            value = value.get(key) if isinstance(value, dict) else None
        text = text.replace(f"<{name}>", json.dumps(str(value))[1:-1])
    # A template that is a JSON string sends the string itself.
    return json.loads(text) if text.startswith('"') else text


class ExecutionWatcher:
    """Watches every execution of the stack's state machines; when one ends it prints it, checks its history
    against the Step Functions quotas, and raises the alerts the rules send."""

    def __init__(
        self, local: LocalStack, resources: LocalResources, out: TextIO = sys.stdout, poll_seconds: float = 0.5
    ) -> None:
        self.local, self.resources, self.out = local, resources, out
        self.rules = execution_rules(resources)
        self.poll_seconds = poll_seconds
        self.alerts: list[Alert] = []
        self._ended: set[str] = set()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="execution-watcher", daemon=True)

    def __enter__(self) -> "ExecutionWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stopped.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stopped.wait(self.poll_seconds):
            self._look()
        self._look()  # those stopped as make up stops end too

    def _look(self) -> None:
        for state_machine in self.local.state_machines.values():
            pages = self.local.sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine)
            for execution in (e for page in pages for e in page["executions"]):
                if execution["status"] != "RUNNING" and execution["executionArn"] not in self._ended:
                    self._ended.add(execution["executionArn"])
                    self._on_end(execution)

    def _on_end(self, execution: dict[str, Any]) -> None:
        seconds = (execution["stopDate"] - execution["startDate"]).total_seconds()
        print(
            f"{execution['stateMachineArn'].rsplit(':', 1)[-1]} {execution['name']}: {execution['status']} "
            f"in {seconds:.1f} s",
            file=self.out,
            flush=True,
        )
        history = self.local.history(execution["executionArn"])
        save_history(execution["executionArn"], history)
        try:
            check_quotas(history)
        except QuotaExceeded as exceeded:
            print(f"  on AWS this execution would fail: {exceeded}", file=self.out, flush=True)
        # The events it put on the stack's bus start what the template's rules start (an alerts run for each
        # Tenders Changed event): here once it has ended, on AWS as soon as it puts them; nothing once stopping.
        published_events = [] if self._stopped.is_set() else self.local.published_events(execution["executionArn"])
        for published in published_events:
            for machine in self.local.rule_starts(published):
                started = self.local.start(machine, published)
                print(
                    f"  {published['detail-type']} event: started {machine} {started.rsplit(':', 1)[-1]}",
                    file=self.out,
                    flush=True,
                )
        event = {
            **STATUS_CHANGE,
            "time": execution["stopDate"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "detail": {key: execution[key] for key in ("executionArn", "stateMachineArn", "name", "status")},
        }
        for rule in self.rules:
            if not rule.matches(event):
                continue
            for target in rule.targets:
                message = transformed(target, event)
                if target["Arn"] in self.resources.made.values() and ":sns:" in target["Arn"]:
                    self.resources.sns.publish(TopicArn=target["Arn"], Message=message)
                self.alerts.append(Alert(datetime.now(UTC), execution["executionArn"], execution["status"], message))
                print(f"  alert ({rule.name}): {message} Why: {self._why(execution)}", file=self.out, flush=True)

    def _why(self, execution: dict[str, Any]) -> str:
        """Why it ended: its job_log row's error, else (a run that wrote none: its input refused) the execution's."""
        ended = self.local.sfn.describe_execution(executionArn=execution["executionArn"])
        return failure_reason(
            ended.get("error"),
            ended.get("cause"),
            job_row(self.local.environment["DATABASE_URL"], ended["executionArn"]),
        )
