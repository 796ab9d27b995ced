"""Runs the synthesized state machines on this machine: moto's Step Functions interpreter (the one
LocalStack uses), S3 and EventBridge in moto, and each Lambda task dispatched in-process to its real handler."""

import importlib
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from aws_lambda_powertools.utilities.typing import lambda_context
from moto import mock_aws
from moto.awslambda.models import LambdaBackend
from moto.events.models import EventPattern
from moto.sesv2.models import SESV2Backend

from local.alerts_key import local_alerts_key
from local.engine.database import close_stopped_jobs
from local.engine.template import ACCOUNT, LOCAL_BUCKET, REGION, definition, get_att, resolve

HANDLERS_PACKAGE = "tender_sync.handlers"
# Step Functions quotas the runs are checked against.
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_HISTORY_EVENTS = 25_000


class QuotaExceeded(AssertionError):
    """A run crossed a Step Functions quota that would fail it on AWS."""


@dataclass
class Execution:
    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(repr=False)
    seconds: float
    # What it put on the stack's event buses, as their rules' targets receive it.
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)


class LambdaContext(lambda_context.LambdaContext):
    """The Lambda context object the handlers are typed to take, with the parts they (and Powertools) read."""

    def __init__(
        self,
        function_name: str,
        memory_limit_in_mb: int = 128,
        timeout_seconds: int = 3,
        invoked_function_arn: str = "",
    ) -> None:
        self._function_name = function_name
        self._memory_limit_in_mb = memory_limit_in_mb
        self._invoked_function_arn = invoked_function_arn
        self._aws_request_id = str(uuid.uuid4())
        self.timeout_seconds = timeout_seconds
        self.started = time.monotonic()

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]  # Powertools' is a static placeholder returning 0; a real one counts down from its start
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


class LocalStack:
    """The stack's state machines, functions and bucket from a synthesized template, made local.

    around_invoke, given a function's logical id, returns a context entered around each of its invocations."""

    def __init__(
        self,
        template: dict[str, Any],
        environment: dict[str, str],
        around_invoke: Callable[[str], AbstractContextManager[Any]] = lambda logical_id: nullcontext(),
        outbox: Path | None = None,
    ) -> None:
        """outbox: where each email SES (moto's) is asked to send is also written, as an RFC 5322 .eml file."""
        self.template = template
        self.outbox = outbox
        self.environment_overrides = environment
        self.around_invoke = around_invoke
        self.functions = {lid: r for lid, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
        self.state_machines: dict[str, str] = {}
        # The variables the functions share, as set in os.environ while the stack is up; and os.environ's values
        # from before (None: unset), to restore.
        self.environment: dict[str, str] = {}
        self._saved_environ: dict[str, str | None] = {}
        # What the Distributed Maps gather from their children (moto neither keeps nor limits it): each child's
        # last Task, by function, with the ResultPaths it ends a child with; and the bytes gathered since the last
        # start.
        self._child_ends: dict[str, set[str | None]] = {}
        self._gathered_bytes = 0
        self._gathered_lock = threading.Lock()
        # The Lambda tasks running now, for wait_for_tasks.
        self._tasks_running = 0
        self._tasks_done = threading.Condition()
        # Every event put on the stack's buses, by way of a queue each bus's catch-all rule sends to.
        self._published: list[dict[str, Any]] = []
        self._published_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "LocalStack":
        self._set_environment()
        start_functions_cold()
        self._aws = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._aws.start()
        self._invoke_patch = mock.patch.object(LambdaBackend, "invoke", lambda backend, *args: self._invoke(*args))
        self._invoke_patch.start()
        self._email_patch = mock.patch.object(SESV2Backend, "send_raw_email", self._send_raw_email())
        self._email_patch.start()
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.s3.create_bucket(Bucket=LOCAL_BUCKET)
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self._published_queues = [
            self.create_bus(resource["Properties"]["Name"])
            for resource in self.template["Resources"].values()
            if resource["Type"] == "AWS::Events::EventBus"
        ]
        # SES sends only from a verified identity: the alert emails' sender is one here.
        if sender := self.environment.get("ALERT_FROM_ADDRESS"):
            boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=sender)
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::StepFunctions::StateMachine":
                deployed = definition(self.template, logical_id)
                for function, result_path in map_child_ends(json.loads(deployed)).items():
                    self._child_ends.setdefault(function, set()).add(result_path)
                self.state_machines[logical_id] = self.sfn.create_state_machine(
                    name=logical_id,
                    definition=local_definition(deployed),
                    roleArn=f"arn:aws:iam::{ACCOUNT}:role/local",
                    type=resource["Properties"].get("StateMachineType", "STANDARD"),
                )["stateMachineArn"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._email_patch.stop()
        self._invoke_patch.stop()
        self._aws.stop()
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _set_environment(self) -> None:
        """Every function shares one environment; the handlers run in this process, so it is ours too."""
        shared: dict[str, str] = {}
        for function in self.functions.values():
            variables = resolve(self.template, function["Properties"].get("Environment", {}).get("Variables", {}))
            for name, value in variables.items():
                if shared.setdefault(name, value) != value:
                    raise ValueError(f"functions disagree on {name}; the local runner needs one shared environment")
        # No X-Ray daemon here: Powertools Tracer does nothing (Metrics print their EMF lines, as on Lambda).
        shared["POWERTOOLS_TRACE_DISABLED"] = "true"
        shared.update(self.environment_overrides, AWS_DEFAULT_REGION=REGION)
        for name, value in shared.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        self.environment = shared

    def create_bus(self, name: str) -> str:
        """The bus, and a rule sending everything put on it to a queue of its own: returns the queue's URL."""
        self.events.create_event_bus(Name=name)
        queue_url = self.sqs.create_queue(QueueName=f"{name}-published")["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        queue_arn = attributes["QueueArn"]
        self.events.put_rule(Name="everything", EventBusName=name, EventPattern=json.dumps({"account": [ACCOUNT]}))
        self.events.put_targets(Rule="everything", EventBusName=name, Targets=[{"Id": "published", "Arn": queue_arn}])
        return queue_url

    def _send_raw_email(self) -> Callable[..., Any]:
        """moto's SES send, which also writes the message to the outbox."""
        send = SESV2Backend.send_raw_email
        outbox = self.outbox

        def send_and_keep(backend: SESV2Backend, source: str, destinations: list[str], raw_data: str) -> Any:
            message = send(backend, source, destinations, raw_data)
            if outbox is not None:
                outbox.mkdir(parents=True, exist_ok=True)
                (outbox / f"{time.strftime('%Y%m%dT%H%M%S')}-{message.id}.eml").write_text(raw_data)
            return message

        return send_and_keep

    def rule_starts(self, event: dict[str, Any]) -> list[str]:
        """The state machines (logical ids) the template's rules start for an event put on the stack's bus; each is
        given the whole event as its input (none of the stack's rules transforms it)."""
        return [
            machine
            for pattern, machine in state_machine_rules(self.template)
            if EventPattern.load(json.dumps(pattern)).matches_event(event)  # type: ignore[arg-type]  # moto types the event as its own TypedDict
        ]

    def published_events(self, execution_arn: str) -> list[dict[str, Any]]:
        """The events the execution put on the stack's buses (PutEvents from Step Functions names the execution
        among the event's resources), oldest first."""
        with self._published_lock:
            for queue_url in self._published_queues:
                while messages := self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
                    for message in messages:
                        self._published.append(json.loads(message["Body"]))
                        self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            return [event for event in self._published if execution_arn in event.get("resources", [])]

    # -- Lambda dispatch -----------------------------------------------------------------
    def _invoke(
        self,
        function_name: str,
        qualifier: str | None,
        body: str | bytes | None,
        headers: Any,
        response_headers: dict[str, str],
        context: LambdaContext | None = None,
    ) -> bytes:
        """moto's Lambda invoke, replaced: run the real handler here, and report an exception the
        way Lambda does (a function error whose payload names errorType and errorMessage)."""
        logical_id = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        properties = self.functions[logical_id]["Properties"]
        module_name, _, handler_name = properties["Handler"].rpartition(".")
        handler = getattr(importlib.import_module(module_name), handler_name)
        context = context or self.context(logical_id)
        event = json.loads(body) if body else {}
        try:
            with self._task(), self.around_invoke(logical_id):
                result = handler(event, context)
        except Exception as error:  # noqa: BLE001 - every handler error becomes a Lambda function error
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error)[-5:],
            }
        else:
            payload = result
            if logical_id in self._child_ends:
                self._count_gathered(self._child_ends[logical_id], event, result)
        encoded = json.dumps(payload, default=str).encode()
        response_headers["Content-Length"] = str(len(encoded))
        return encoded

    def context(self, logical_id: str) -> LambdaContext:
        """A new invocation's context for the function: its memory and its timeout, counting down from now."""
        properties = self.functions[logical_id]["Properties"]
        return LambdaContext(
            function_name=logical_id,
            memory_limit_in_mb=properties.get("MemorySize", 128),
            timeout_seconds=properties.get("Timeout", 3),
            invoked_function_arn=get_att(self.template, logical_id, "Arn"),
        )

    def invoke(self, logical_id: str, event: Any, context: LambdaContext | None = None) -> tuple[Any, str | None]:
        """Invoke a function here as an event source mapping invokes it (synchronously): its result and None, or
        Lambda's error payload and the error's type. `context`: the invocation's own, for a caller that follows
        (or cuts short) its time left."""
        response_headers: dict[str, str] = {}
        payload = json.loads(self._invoke(logical_id, None, json.dumps(event), {}, response_headers, context))
        if response_headers.get("x-amz-function-error"):
            return payload, str(payload.get("errorType"))
        return payload, None

    @contextmanager
    def _task(self) -> Iterator[None]:
        with self._tasks_done:
            self._tasks_running += 1
        try:
            yield
        finally:
            with self._tasks_done:
                self._tasks_running -= 1
                self._tasks_done.notify_all()

    def wait_for_tasks(self, seconds: float) -> bool:
        """Wait until no Lambda task is running (say, once the executions are stopped, before moto goes away
        under them); False if some still run after `seconds`."""
        with self._tasks_done:
            return self._tasks_done.wait_for(lambda: self._tasks_running == 0, timeout=seconds)

    def _count_gathered(self, result_paths: set[str | None], event: Any, result: Any) -> None:
        """What one child's end adds to what its Map gathers: its output (the largest its ResultPaths make of it),
        and a separator."""
        if result_paths == {"$"}:
            output: Any = result
        elif result_paths == {None}:
            output = event
        else:
            output = [event, result]  # the result placed inside the input: at least both
        with self._gathered_lock:
            self._gathered_bytes += len(json.dumps(output, default=str).encode()) + 1

    # -- executions ------------------------------------------------------------------------
    def start(self, state_machine: str, execution_input: dict[str, Any]) -> str:
        with self._gathered_lock:
            self._gathered_bytes = 0
        # Named as the console names them; moto would otherwise name every execution "None".
        return self.sfn.start_execution(
            stateMachineArn=self.state_machines[state_machine],
            name=str(uuid.uuid4()),
            input=json.dumps(execution_input),
        )["executionArn"]

    def wait(
        self,
        arn: str,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_poll: Callable[[str], None] | None = None,
        poll_seconds: float = 0.25,
    ) -> Execution:
        """Wait for an execution to end, then check it against the Step Functions quotas."""
        seen = 0
        while True:
            description = self.sfn.describe_execution(executionArn=arn)
            history = self.history(arn)
            for event in history[seen:]:
                if on_event:
                    on_event(event)
            seen = len(history)
            if description["status"] != "RUNNING":
                break
            if on_poll:
                on_poll(arn)
            time.sleep(poll_seconds)
        check_quotas(history)
        if self._gathered_bytes > MAX_PAYLOAD_BYTES:
            raise QuotaExceeded(
                f"a Distributed Map gathered {self._gathered_bytes} bytes of its children's output (since the last "
                f"start); without a ResultWriter AWS fails the execution past {MAX_PAYLOAD_BYTES}, uncaught"
            )
        output = description.get("output")
        return Execution(
            arn=arn,
            status=description["status"],
            output=json.loads(output) if output else None,
            error=description.get("error"),
            cause=description.get("cause"),
            history=history,
            seconds=(description["stopDate"] - description["startDate"]).total_seconds(),
            events=self.published_events(arn),
        )

    def stop_running(self, reason: str, seconds: float = 20) -> list[str]:
        """The executions still running stopped (ABORTED, as stop-execution does, with `reason` as the cause), given
        `seconds` to end with their in-flight tasks, then their job_log rows closed FAILED with `reason`. Returns
        their ARNs."""
        running = [
            execution["executionArn"]
            for state_machine in self.state_machines.values()
            for execution in self.sfn.list_executions(stateMachineArn=state_machine, statusFilter="RUNNING")[
                "executions"
            ]
        ]
        for arn in running:
            self.sfn.stop_execution(executionArn=arn, cause=reason)
        # The interpreter ends a stopped execution in its own time.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(
            self.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" for arn in running
        ):
            time.sleep(0.05)
        self.wait_for_tasks(max(0, deadline - time.monotonic()))
        if running and self.environment.get("DATABASE_URL"):
            close_stopped_jobs(self.environment["DATABASE_URL"], running, reason)
        return running

    def execute(self, state_machine: str, execution_input: dict[str, Any], **wait_options: Any) -> Execution:
        """Start one execution and wait for it."""
        return self.wait(self.start(state_machine, execution_input), **wait_options)

    def map_run_counts(self, execution_arn: str) -> dict[str, int] | None:
        """Item counts of the execution's newest Map Run: its items run as child executions, outside the history."""
        runs = self.sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]
        if not runs:
            return None
        return self.sfn.describe_map_run(mapRunArn=runs[-1]["mapRunArn"])["itemCounts"]

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return [event for page in pages for event in page["events"]]


def function_environment(database_url: str, ocds_url: str, portal_url: str) -> dict[str, str]:
    """What the functions are given here on top of the template's environment: the database, the source, and
    their logs and metrics quiet unless POWERTOOLS_LOG_LEVEL or POWERTOOLS_METRICS_DISABLED=false ask."""
    return {
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "CRITICAL"),
        "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
        "DATABASE_URL": database_url,
        "OCDS_BASE_URL": ocds_url,
        "PORTAL_BASE_URL": portal_url,
        "ALERTS_KEY": local_alerts_key(),
    }


def state_machine_rules(template: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The template's EventBridge rules that start one of its state machines: the pattern, and the state machine's
    logical id. (They are all on the stack's one bus.)"""
    rules = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        properties = resource["Properties"]
        for target in properties.get("Targets", []):
            machine = target["Arn"].get("Ref", "") if isinstance(target["Arn"], dict) else ""
            if template["Resources"].get(machine, {}).get("Type") == "AWS::StepFunctions::StateMachine":
                rules.append((properties["EventPattern"], str(machine)))
    return rules


def map_child_ends(document: dict[str, Any]) -> dict[str, str | None]:
    """The Lambda functions that end a Distributed Map's child (its Tasks with End), each with its ResultPath: the
    child's output, which the Map gathers, is then the function's result ("$"), its input (null), or both."""
    ends: dict[str, str | None] = {}

    def visit(states: dict[str, Any], in_map: bool) -> None:
        for state in states.values():
            processor = state.get("ItemProcessor") or {}
            if (
                in_map
                and state.get("Type") == "Task"
                and state.get("End")
                and ":function:" in state.get("Resource", "")
            ):
                ends[state["Resource"].split(":")[6]] = state.get("ResultPath", "$")
            visit(processor.get("States", {}), in_map or bool(processor))

    visit(document["States"], False)
    return ends


def start_functions_cold() -> None:
    """Each local stack starts its functions cold, as a new deployment does: a handler reads its settings at
    import, from the environment of the stack that imports it."""
    for name in [name for name in sys.modules if name.startswith(HANDLERS_PACKAGE + ".")]:
        del sys.modules[name]


def local_definition(definition: str) -> str:
    """The deployed definition with the two changes moto's interpreter needs: it has no Express child
    executions, so a Distributed Map's item processor runs its children as STANDARD here; and its parser refuses
    an integer ToleratedFailurePercentage (what CDK emits), so it gets the same number as a float. (moto then
    ignores it: a child that fails outright leaves its Map SUCCEEDED, as 100% tolerated does on AWS.)"""
    document = json.loads(definition)

    def adapt(states: dict[str, Any]) -> None:
        for state in states.values():
            processor = state.get("ItemProcessor") or {}
            if processor.get("ProcessorConfig", {}).get("ExecutionType") == "EXPRESS":
                processor["ProcessorConfig"]["ExecutionType"] = "STANDARD"
            if isinstance(state.get("ToleratedFailurePercentage"), int):
                state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
            adapt(processor.get("States", {}))

    adapt(document["States"])
    return json.dumps(document)


def check_quotas(history: list[dict[str, Any]]) -> None:
    """Fail loudly where AWS would: over 25,000 history events, or a state input/output over 256 KiB."""
    if len(history) > MAX_HISTORY_EVENTS:
        raise QuotaExceeded(f"execution history has {len(history)} events; Step Functions allows {MAX_HISTORY_EVENTS}")
    for event in history:
        for details in event.values():
            if not isinstance(details, dict):
                continue
            for key in ("input", "output"):
                size = len(str(details.get(key) or "").encode())
                if size > MAX_PAYLOAD_BYTES:
                    raise QuotaExceeded(
                        f"{event['type']} event {event['id']} carries a {key} of {size} bytes; "
                        f"Step Functions allows {MAX_PAYLOAD_BYTES}"
                    )
