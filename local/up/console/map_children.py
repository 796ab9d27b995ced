"""The child executions of each Distributed Map Run, as the Step Functions console lists them. moto's interpreter
runs a Map Run's items in-process, not as executions: it neither lists them (`list-executions --map-run-arn`
answers 500) nor keeps their events (every item's go to one list it throws away). While the console is up, each
item is recorded as a child execution instead: its ARN and name (as AWS forms them, from the Map Run's state
machine), status, input, output, error, and its own history."""

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)


@dataclass
class Child:
    arn: str
    name: str
    map_run_arn: str
    # The execution whose Map Run this is, its state machine, and the Map state that runs it.
    parent_arn: str
    state_machine_arn: str
    map_state: str | None
    index: int
    input: str  # the item (before the Map's ItemSelector)
    started: datetime
    events: EventManager
    status: str = "RUNNING"
    stopped: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None

    def execution_input(self) -> str:
        """Its input as AWS shows a child's: the item as the Map's ItemSelector made it, which its first state was
        given (the item itself until then)."""
        entered = (event.get("stateEnteredEventDetails") for event in self.events.get_event_history())
        return next((str(details["input"]) for details in entered if details and "input" in details), self.input)

    def history(self) -> list[dict[str, Any]]:
        """Its events as boto3 returns an execution's: plain JSON, each timestamp a datetime."""
        events = json.loads(json.dumps(self.events.get_event_history(), default=str))
        for event in events:
            event["timestamp"] = datetime.fromisoformat(event["timestamp"])
        return list(events)


class MapChildren:
    """Records every Distributed Map item run between start() and stop()."""

    def __init__(self) -> None:
        self._children: dict[str, Child] = {}
        self._lock = threading.Lock()
        self._patch = mock.patch.object(DistributedItemProcessorWorker, "_eval_job", self._recording())

    def start(self) -> None:
        self._patch.start()

    def stop(self) -> None:
        self._patch.stop()

    def get(self, arn: str) -> Child | None:
        with self._lock:
            return self._children.get(arn)

    def of_map_run(self, map_run_arn: str) -> list[Child]:
        with self._lock:
            return sorted((c for c in self._children.values() if c.map_run_arn == map_run_arn), key=lambda c: c.index)

    def _recording(self) -> Any:
        evaluate = DistributedItemProcessorWorker._eval_job
        children = self

        def eval_job(worker: DistributedItemProcessorWorker, env: Any, job: Any) -> None:
            record = worker._map_run_record
            name = str(uuid.uuid4())
            env.event_manager = EventManager()  # this item's own history
            child = Child(
                arn=f"{record.map_state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}",
                name=name,
                map_run_arn=record.map_run_arn,
                parent_arn=record.execution_arn,
                state_machine_arn=record.map_state_machine_arn.split("/", 1)[0],
                map_state=(env.states.context_object.context_object_data.get("State") or {}).get("Name"),
                index=job.job_index,
                input=json.dumps(job.job_input),
                started=datetime.now(UTC),
                events=env.event_manager,
            )
            with children._lock:
                children._children[child.arn] = child
            try:
                evaluate(worker, env, job)
            finally:
                child.stopped = datetime.now(UTC)
                child.status, child.output, child.error, child.cause = outcome(env.program_state(), job.job_output)

        return eval_job


def outcome(state: Any, output: Any) -> tuple[str, str | None, str | None, str | None]:
    """A child's status, output, error and cause from where its program ended. An item whose evaluation raised
    (moto counts it failed, and keeps no reason) ends still running: failed."""
    if isinstance(state, ProgramEnded):
        return "SUCCEEDED", json.dumps(output), None, None
    if isinstance(state, ProgramStopped):
        return "ABORTED", None, state.error, state.cause
    if isinstance(state, ProgramTimedOut):
        return "TIMED_OUT", None, None, None
    if isinstance(state, ProgramError):
        details = state.error or {}
        return "FAILED", None, details.get("error"), details.get("cause")
    return "FAILED", None, None, None
