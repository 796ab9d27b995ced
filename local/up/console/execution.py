"""What happened in one execution, from its history: each state's outcome (succeeded, failed, caught, running) and
each of its runs' input and output, as the Step Functions console shows them."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

SUCCEEDED, FAILED, CAUGHT, RUNNING, NOT_REACHED = "succeeded", "failed", "caught", "running", "not-reached"


@dataclass
class StateRun:
    name: str
    entered: datetime
    input: str | None
    status: str = RUNNING
    exited: datetime | None = None
    output: str | None = None
    error: str | None = None


def state_runs(history: list[dict[str, Any]], execution_status: str) -> list[StateRun]:
    """Every run of a state, in order (a loop runs a state more than once). A run that saw an error and was left
    for another state was caught; one still open when the execution ended failed with it. Inside a Distributed
    Map, states run in the child executions, whose histories are their own."""
    runs: list[StateRun] = []
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            if runs and runs[-1].status == FAILED:
                runs[-1].status = CAUGHT
            runs.append(StateRun(details["name"], event["timestamp"], details.get("input")))
            if kind == "FailStateEntered":
                runs[-1].status = FAILED
        elif kind.endswith("StateExited") and runs:
            details = event["stateExitedEventDetails"]
            run = next(r for r in reversed(runs) if r.name == details["name"])
            run.exited, run.output = event["timestamp"], details.get("output")
            if run.status == RUNNING:
                run.status = SUCCEEDED
        elif runs and not kind.startswith("Execution"):
            if kind.endswith(("Failed", "TimedOut", "Aborted")):
                runs[-1].status = FAILED
                runs[-1].error = error_of(event)
            elif kind.endswith("Succeeded") and runs[-1].status == FAILED:
                runs[-1].status, runs[-1].error = RUNNING, None  # a retry succeeded
    if execution_status != "RUNNING":
        for run in runs:
            if run.status == RUNNING:
                run.status = FAILED
    return runs


def error_of(event: dict[str, Any]) -> str | None:
    """The error an event carries, as `Error: cause`."""
    details = next(
        (value for key, value in event.items() if key.endswith("EventDetails") and isinstance(value, dict)), {}
    )
    if "error" not in details and "cause" not in details:
        return None
    return ": ".join(str(part) for part in (details.get("error"), details.get("cause")) if part)


def outcomes(runs: list[StateRun]) -> dict[str, str]:
    """Each state's outcome: its last run's."""
    return {run.name: run.status for run in runs}
