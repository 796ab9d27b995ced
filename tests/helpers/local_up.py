"""`make up` as a user runs it: `python -m local.up` in a process of its own, on free ports, on a test database;
with what it printed, the environment a shell needs, and boto3 clients for its endpoint."""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from local.toolchain import ROOT

STARTUP_SECONDS = 120


class RunningUp:
    def __init__(self, process: subprocess.Popen[str], database_url: str):
        self.process, self.database_url = process, database_url
        assert process.stdout is not None, "make up's output is read through a pipe"
        self._stdout = process.stdout
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        printed = self.wait_for(r"^  export AWS_ENDPOINT_URL=", STARTUP_SECONDS)
        self.environment = dict(pair.split("=", 1) for pair in printed.split()[1:])
        self.endpoint = self.environment["AWS_ENDPOINT_URL"]
        self.console = self.wait_for(r"^console: ", 1).split()[1]

    def _read(self) -> None:
        for line in self._stdout:
            self._new.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, seconds: float) -> str:
        """The first line printed (so far or within `seconds`) that matches `pattern`."""
        deadline = time.monotonic() + seconds
        while True:
            found = next((line for line in self.lines if re.search(pattern, line)), None)
            if found is not None:
                return found
            try:
                self.lines.append(self._new.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                if self.process.poll() is not None or time.monotonic() >= deadline:
                    raise AssertionError(
                        f"make up never printed {pattern!r}; it printed:\n" + "\n".join(self.lines)
                    ) from None

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.environment["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.environment["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.environment["AWS_SECRET_ACCESS_KEY"],
        )

    def shell_environment(self) -> dict[str, str]:
        """This process's environment with what `make up` says a shell needs, and no DATABASE_URL."""
        environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        return {**environment, **self.environment}

    def wait_for_end(self, execution_arn: str, seconds: float = 120) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + seconds
        while (description := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{execution_arn} still running after {seconds} s"
            time.sleep(0.3)
        return description


@contextmanager
def running_up(database_url: str, *args: str) -> Iterator[RunningUp]:
    """`python -m local.up --port 0 --console-port 0 ARGS` on `database_url`, stopped (SIGTERM) afterwards."""
    environment = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "local.up", "--port", "0", "--console-port", "0", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield RunningUp(process, database_url)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
