"""The executions run outside this make up (by `make run`, the CLI's `start`, an earlier make up), from the histories
they saved in .local/executions/ as they ended (local/engine/run.py): read-only, and only what a history holds. A
history names its state machine by its ARN (one saved before the ARN was kept does not), and keeps neither its Map
Runs' child executions nor the events it published."""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from local.engine import run
from local.up.console import pages

# The status each last event of an execution's history ends it with.
ENDS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}


@dataclass
class Saved:
    execution: pages.Execution  # its machine: the state machine's name in its ARN (a template's: its logical id)
    state_machine: str | None  # that name; None when its history was saved without its ARN


def trigger_in(execution_input: str | None) -> str:
    """Who the input says started the execution (any JSON may be an input)."""
    try:
        parsed = json.loads(execution_input or "{}")
    except ValueError:
        return ""
    return str(parsed.get("triggeredBy") or "") if isinstance(parsed, dict) else ""


def read(path: Path) -> tuple[Saved, list[dict[str, Any]]]:
    """A saved execution, and its history (each timestamp a datetime)."""
    arn, history = run.saved_execution(path)
    for event in history:
        if isinstance(event.get("timestamp"), str):
            event["timestamp"] = datetime.fromisoformat(event["timestamp"])
    first, last = (history[0], history[-1]) if history else ({}, {})
    started = first.get("executionStartedEventDetails") or {}
    ending = last.get("type") in ENDS
    ended: dict[str, Any] = (
        next((value for key, value in last.items() if key.endswith("EventDetails")), {}) if ending else {}
    )
    state_machine = arn.rsplit(":", 2)[-2] if arn else None
    execution = pages.Execution(
        arn=arn or path.stem,
        name=path.stem,
        machine=state_machine or "unknown",
        status=ENDS.get(str(last.get("type")), "UNKNOWN"),
        started=first.get("timestamp"),
        stopped=last.get("timestamp"),
        trigger=trigger_in(started.get("input")),
        input=started.get("input"),
        output=ended.get("output"),
        error=ended.get("error"),
        cause=ended.get("cause"),
        outside=True,
    )
    return Saved(execution, state_machine), history


class SavedExecutions:
    """Every saved execution, each file read once (again when it changes)."""

    def __init__(self) -> None:
        self._read: dict[Path, tuple[tuple[int, int], Saved]] = {}

    def listed(self, passed_over: set[str]) -> tuple[list[Saved], list[str]]:
        """The saved executions but those named in `passed_over` (this make up's own, whose files may be being
        written), and the files that cannot be read (each with why)."""
        found, unreadable = [], []
        for path in sorted(run.EXECUTIONS_DIR.glob("*.json")):
            if path.stem in passed_over:
                continue
            try:
                stat = path.stat()
                key = (stat.st_mtime_ns, stat.st_size)
                if path not in self._read or self._read[path][0] != key:
                    self._read[path] = (key, read(path)[0])
                found.append(self._read[path][1])
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                unreadable.append(f"{path.name} ({type(error).__name__}: {error})")
        return found, unreadable

    def get(self, arn: str) -> tuple[Saved, list[dict[str, Any]]] | None:
        """A saved execution by its ARN or its name, with its history; None when none is saved by that name."""
        path = run.history_path(arn)
        if "/" in arn.rsplit(":", 1)[-1] or not path.is_file():
            return None
        return read(path)
