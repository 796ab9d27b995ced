"""`make up`: the local stack, running until Ctrl-C. The synthesized state machines in moto's interpreter, each
Lambda task dispatched in-process to its handler (as `make run` does), behind an AWS-compatible endpoint on
127.0.0.1 (Step Functions, S3, CloudFormation's describe-stacks, the database secret, EventBridge and SQS); the
schedules firing; the app events' rule, queue and consumer (local.up.queues); the alerts the EventBridge rule would
send; and a console page.

Embedded PostgreSQL unless DATABASE_URL is set; the sample eTenders-compatible source unless both source URLs are
given. Executions live in memory and end with it; the database stays."""

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TextIO

from local.arguments import Parser, add_source_urls, check_source_urls
from local.engine.database import migrated_database_url
from local.engine.run import OUTBOX, local_context, stop_reason
from local.engine.stack import LocalStack, function_environment
from local.engine.template import REGION
from local.sample_source.server import SampleSource
from local.up.alerts import ExecutionWatcher
from local.up.console.server import Console
from local.up.endpoint import Endpoint
from local.up.queues import Queues
from local.up.resources import LocalResources
from local.up.schedules import Scheduler

DEFAULT_PORT = 4566
DEFAULT_CONSOLE_PORT = 4567
DESCRIPTION = (
    "Run the stack on this machine until Ctrl-C: an AWS-compatible endpoint (Step Functions, S3, CloudFormation, "
    "Secrets Manager, EventBridge, SQS) for the AWS CLI and boto3, the schedules, the app's events, the alerts, and "
    "a console in the browser. The database is the embedded PostgreSQL in .local/pgdata/ unless DATABASE_URL is "
    "set; the source is the sample one unless both source URLs are given. Ctrl-C stops the executions still "
    "running (their job_log rows closed as stopped); the database keeps its data."
)
# Credentials the endpoint takes: any will do, these say they are nobody's.
THROWAWAY_KEY = "local"


def port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: a whole number from 1 to 65535 (0: any free port)")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def batching_window(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 300:
        raise argparse.ArgumentTypeError(f"{text!r} is not a batching window: a number of seconds from 0 to 300")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = Parser(prog="make up", description=DESCRIPTION)
    parser.add_argument("--port", type=port, default=DEFAULT_PORT, help=f"the AWS endpoint's port ({DEFAULT_PORT})")
    parser.add_argument(
        "--console-port", type=port, default=DEFAULT_CONSOLE_PORT, help=f"the console's port ({DEFAULT_CONSOLE_PORT})"
    )
    parser.add_argument(
        "--schedule-every",
        type=seconds,
        metavar="SECONDS",
        help="fire every schedule every SECONDS instead of at its expression",
    )
    parser.add_argument(
        "--batching-window",
        type=batching_window,
        metavar="SECONDS",
        help="hand the app events' queue to its consumer after at most SECONDS (0: at once) instead of the "
        "template's MaximumBatchingWindowInSeconds",
    )
    add_source_urls(parser)
    args = parser.parse_args(argv)
    check_source_urls(parser, args)
    return args


def shell_environment(endpoint_url: str) -> dict[str, str]:
    """What a shell needs for the AWS CLI, boto3 and `make cli ARGS="--stack ..."` to talk to the local stack."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": THROWAWAY_KEY,
        "AWS_SECRET_ACCESS_KEY": THROWAWAY_KEY,
    }


def synthesized(context: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The synthesized template (cdk.json's context, `context` on top) and the stack's name, from a process of its
    own: the CDK's Node.js kernel never runs in this one, so a Ctrl-C (which reaches every process of the
    terminal's) cannot break its shutdown."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_synthesize, context).result()


def _synthesize(context: dict[str, Any]) -> tuple[dict[str, Any], str]:
    from infra.stack import build_stack, template_of

    stack = build_stack(context)
    return template_of(stack), stack.stack_name


def stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and SIGTERM stop it, everything it started stopped in order; SIGINT too when it was started
    where SIGINT is ignored (a shell's background job)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(*([] if signum == signal.SIGINT else [f"stopped: {signal.Signals(signum).name}"]))

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def run(args: argparse.Namespace, out: TextIO) -> None:
    endpoint = Endpoint(args.port)  # both ports bound first: one in use fails before anything starts
    with contextlib.ExitStack() as stack:
        stack.callback(endpoint.stop)
        database = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded PostgreSQL, in .local/pgdata/"
        database_url = migrated_database_url()
        template, stack_name = synthesized(local_context(args.ocds_url is not None))
        ocds_url, portal_url = args.ocds_url, args.portal_url
        if ocds_url is None:
            ocds_url = portal_url = stack.enter_context(SampleSource()).url
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        local = stack.enter_context(
            LocalStack(template, function_environment(database_url, ocds_url, portal_url), outbox=OUTBOX)
        )
        resources = LocalResources(local, stack_name, database_url)
        try:  # a schedule or rule of the template this cannot follow: say which, and what is wrong with it
            watcher = stack.enter_context(ExecutionWatcher(local, resources, out))
            scheduler = Scheduler(local, args.schedule_every, out)
        except ValueError as error:
            raise SystemExit(f"make up: {error}") from None

        def stop_running(kind: object, error: BaseException | None, trace: object) -> None:
            """The executions still running stopped (the watcher prints their ends), their jobs closed."""
            local.stop_running(stop_reason(error))

        stack.push(stop_running)
        console = Console(local, database_url, watcher, scheduler, args.console_port)
        stack.callback(console.stop)
        queues = Queues(local, out, args.batching_window)
        endpoint.start()
        console.start()
        stack.enter_context(scheduler)
        stack.enter_context(queues)
        environment = shell_environment(endpoint.url)
        lines = [
            "tender sync: the local stack is up (Ctrl-C stops it)",
            f"endpoint:  {endpoint.url}  (Step Functions, S3, CloudFormation, Secrets Manager, EventBridge, SQS; stack {stack_name})",
            f"console:   {console.url}",
            f"source:    {ocds_url}" + ("  (the sample source)" if args.ocds_url is None else f", portal {portal_url}"),
            f"database:  {database}; its URL is the secret {resources.outputs['DatabaseSecretArn']}",
            *(
                [f"outputs:   describe-stacks leaves out {', '.join(resources.not_here)}: nothing here is theirs"]
                if resources.not_here
                else []
            ),
            "in another shell:",
            "  export " + " ".join(f"{name}={value}" for name, value in environment.items()),
        ]
        for schedule in scheduler.schedules:
            when = f"every {args.schedule_every:g} s" if args.schedule_every else schedule.expression
            next_time = scheduler.next_times[schedule.name]
            lines.append(
                f"schedule:  {schedule.name} ({when}), next "
                + (f"{next_time:%Y-%m-%d %H:%M:%S} UTC" if next_time else "never (its time has passed)")
            )
        for name, bus, pattern, targets in queues.rules:
            queue = ", ".join(target["Arn"].rsplit(":", 1)[-1] for target in targets)
            lines.append(f"rule:      {name} on bus {bus}: {json.dumps(pattern)} -> queue {queue}")
        lines.extend(
            f"consumer:  {mapping.function} takes {mapping.queue} in batches of up to {mapping.batch_size}, "
            f"after at most {mapping.window_seconds:g} s"
            for mapping in queues.mappings
        )
        print("\n".join(lines), file=out, flush=True)
        threading.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop_on_signals()
    try:
        run(args, sys.stdout)
    except KeyboardInterrupt:
        print("stopped; the database keeps its data for the next `make up`", flush=True)
    return 0
