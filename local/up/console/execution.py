"""What happened in one execution, from its history: each state's outcome (succeeded, failed, caught, running), each
of its runs' input, output and error (and a Map's Map Run), and the edges it went along, as the Step Functions
console shows them. Any history is read: events missing their details are passed over."""

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SUCCEEDED, FAILED, CAUGHT, RUNNING, NOT_REACHED = "succeeded", "failed", "caught", "running", "not-reached"


@dataclass
class StateRun:
    name: str
    entered: datetime | None
    input: str | None
    status: str = RUNNING
    exited: datetime | None = None
    output: str | None = None
    error: str | None = None
    map_run: str | None = None


def state_runs(history: list[dict[str, Any]], execution_status: str) -> list[StateRun]:
    """Every run of a state, in order (a loop runs a state more than once). A run that saw an error and was left
    for another state was caught; one still open when the execution ended failed with it. Inside a Distributed
    Map, states run in the child executions, whose histories are their own."""
    runs: list[StateRun] = []
    for event in history:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails") or {}
            if runs and runs[-1].status == FAILED:
                runs[-1].status = CAUGHT
            runs.append(StateRun(str(details.get("name")), event.get("timestamp"), details.get("input")))
            if kind == "FailStateEntered":
                runs[-1].status = FAILED
        elif kind.endswith("StateExited"):
            details = event.get("stateExitedEventDetails") or {}
            run = next((r for r in reversed(runs) if r.name == details.get("name")), None)
            if run is None:
                continue
            run.exited, run.output = event.get("timestamp"), details.get("output")
            if run.status == RUNNING:
                run.status = SUCCEEDED
        elif kind == "MapRunStarted" and runs:
            runs[-1].map_run = (event.get("mapRunStartedEventDetails") or {}).get("mapRunArn")
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


def taken(runs: list[StateRun]) -> set[tuple[str, str, str]]:
    """The edges the execution went along, (from, to, "next" or "catch"): from each run to the one after it, by a
    Catch when the first failed."""
    return {
        (run.name, after.name, "catch" if run.status == CAUGHT else "next") for run, after in itertools.pairwise(runs)
    }
