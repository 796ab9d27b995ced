"""StartRequested's work on one batch of the AppEvents queue: each new event starts the workflow it names, and the
batch's tender/enrich.requested events are gathered into single-tender runs, which go one at a time.

Nothing is lost. An event's key is recorded in the transaction that starts its execution, which commits after the
start; a start that fails takes its key back and reports its message failed, so that SQS delivers it again. Each
execution is named from its events' keys, so starting it again (a batch retried after its starts) starts nothing
new: Step Functions answers ExecutionAlreadyExists, taken here as started.

A burst never becomes a burst of database connections. The consumer holds one connection at a time, for one short
transaction, never while it waits. A single-tender run for the app's events starts only once the last one (any
consumer's) has ended, under a lock, and the consumer waits for its own before it returns: one such run at a time,
whose steps open one connection each, one after another."""

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from tender_sync.app_events import ledger
from tender_sync.app_events.events import (
    AppEvent,
    BadMessage,
    Start,
    alone,
    by_tenders,
    execution_arn,
    first_of_each_key,
    gathered,
    read,
)
from tender_sync.models.inputs import InputDefaults
from tender_sync.settings import MissingSettings
from tender_sync.storage import migrations
from tender_sync.workflows import REQUESTED, SINGLE_TENDER

logger = Logger(child=True)

# How often a waiting consumer asks Step Functions whether a run has ended.
POLL_SECONDS = 2.0
# The time an invocation keeps, at its end, to return: a run it has not started by then is left to SQS's next
# delivery of its messages.
MARGIN_SECONDS = 30.0


class StepFunctions(Protocol):
    """What the consumer calls of a boto3 Step Functions client (named as boto3 names them)."""

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> Any: ...  # noqa: N803

    def describe_execution(self, *, executionArn: str) -> Any: ...  # noqa: N803


Connect = Callable[[], AbstractContextManager[psycopg.Connection]]


class Deferred(Exception):
    """No time is left in this invocation to start what is left of the batch."""


@dataclass
class Outcome:
    """What one batch came to: the executions started, the events already seen, and the messages SQS is to deliver
    again (failed, or not reached in time)."""

    started: list[str] = field(default_factory=list)
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)
    deferred: int = 0


def state_machine_arns(environment: Mapping[str, str]) -> dict[str, str]:
    """The ARN of each state machine the app's events start, by workflow name, from the function's environment."""
    missing = [w.arn_variable for w in REQUESTED.values() if not environment.get(w.arn_variable)]
    if missing:
        raise MissingSettings(f"StartRequested needs {', '.join(missing)} in the environment")
    return {w.name: environment[w.arn_variable] for w in REQUESTED.values()}


@dataclass
class Consumer:
    # By workflow name.
    state_machines: Mapping[str, str]
    connect: Connect
    sfn: StepFunctions
    # The seconds left in this invocation.
    time_left: Callable[[], float]
    poll_seconds: float = POLL_SECONDS
    sleep: Callable[[float], None] = time.sleep
    _schema_checked: bool = field(default=False, init=False)

    def consume(self, messages: Sequence[tuple[str, str]], defaults: InputDefaults) -> Outcome:
        """A batch of (message id, body): every new event's execution started, or its message reported failed."""
        outcome = Outcome()
        events = []
        for message_id, body in messages:
            try:
                events.append(read(message_id, body, defaults))
            except BadMessage as error:
                logger.warning("message refused", extra={"messageId": message_id, "reason": str(error)})
                outcome.failed.append(message_id)
        self._start_at_once([e for e in events if e.workflow is not SINGLE_TENDER], outcome)

        tenders = [e for e in events if e.workflow is SINGLE_TENDER]
        units = [(group, True) for group in by_tenders([e for e in tenders if e.tender])]
        units += [([event], False) for event in tenders if not event.tender]
        last = None
        for index, (unit, gather) in enumerate(units):
            try:
                last = self._start_one_at_a_time(unit, gather, outcome) or last
            except Deferred:
                left = [event.message_id for rest, _ in units[index:] for event in rest]
                outcome.failed.extend(left)
                outcome.deferred = len(left)
                break
        if last:
            self._wait(last)  # the next batch's run could only start after it
        return outcome

    def _start_at_once(self, events: list[AppEvent], outcome: Outcome) -> None:
        """The events of the other workflows, each starting its own run now, in one transaction."""
        if not events:
            return
        firsts = first_of_each_key(events)
        with self._transaction() as conn:
            new = ledger.record(conn, firsts)
            outcome.duplicates += len(events) - len([e for e in firsts if e.key in new])
            for event in firsts:
                if event.key in new:
                    self._start_and_record(conn, alone(event), outcome)

    def _start_one_at_a_time(self, events: list[AppEvent], gather: bool, outcome: Outcome) -> str | None:
        """The single-tender run of these tender/enrich.requested events (gathered: of all their ocids; else the one
        event's, its detail as the input), once no other such run is running; its ARN, or None if it started
        nothing."""
        while True:
            if self.time_left() < MARGIN_SECONDS:
                raise Deferred
            with self._transaction() as conn:
                # Another consumer starting one holds the lock: ask again shortly.
                locked = ledger.lock_gathered_runs(conn)
                last = ledger.last_gathered_run(conn) if locked else None
                running = last if last and self._status(last) == "RUNNING" else None
                if locked and not running:
                    return self._start_new(conn, events, gather, outcome)
            if running:
                self._wait(running)
            else:
                self.sleep(self.poll_seconds)

    def _start_new(
        self, conn: psycopg.Connection, events: list[AppEvent], gather: bool, outcome: Outcome
    ) -> str | None:
        firsts = first_of_each_key(events)
        new = ledger.record(conn, firsts)
        fresh = [event for event in firsts if event.key in new]
        outcome.duplicates += len(events) - len(fresh)
        if not fresh:
            return None
        return self._start_and_record(conn, gathered(fresh) if gather else alone(fresh[0]), outcome)

    def _start_and_record(self, conn: psycopg.Connection, start: Start, outcome: Outcome) -> str | None:
        """The execution started and recorded against its events' keys; or, when it cannot be started, the keys
        taken back and the events' messages reported failed."""
        keys = [event.key for event in start.events]
        try:
            arn = self._start(start)
        except (ClientError, BotoCoreError) as error:
            logger.warning(
                "start failed",
                extra={"workflow": start.workflow.name, "executionName": start.name, "error": str(error)},
            )
            ledger.forget(conn, keys)
            outcome.failed.extend(event.message_id for event in start.events)
            return None
        ledger.started(conn, keys, arn)
        outcome.started.append(arn)
        logger.info("started", extra={"workflow": start.workflow.name, "executionArn": arn, "events": len(keys)})
        return arn

    def _start(self, start: Start) -> str:
        machine = self.state_machines[start.workflow.name]
        try:
            answer = self.sfn.start_execution(stateMachineArn=machine, name=start.name, input=json.dumps(start.input))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            return execution_arn(machine, start.name)  # started before, by an earlier delivery of the same events
        return str(answer["executionArn"])

    def _status(self, arn: str) -> str | None:
        try:
            return str(self.sfn.describe_execution(executionArn=arn)["status"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None
            raise

    def _wait(self, arn: str) -> bool:
        """Wait, holding no connection, until the execution has ended (True) or this invocation's time is up."""
        while self.time_left() > MARGIN_SECONDS:
            if self._status(arn) != "RUNNING":
                return True
            self.sleep(self.poll_seconds)
        return False

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """One connection, one transaction (committed when the block ends); the schema checked on the first."""
        with self.connect() as conn:
            if not self._schema_checked:
                migrations.require_current(conn)
                self._schema_checked = True
            yield conn
