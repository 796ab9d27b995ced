"""What EventBridge, SQS and Lambda's SQS event source mappings do on AWS, for the template's queues: each queue made
in moto as the template has it (visibility timeout, retention, redrive policy); each rule of the stack's buses that
targets one put on moto's EventBridge, which then delivers what matches to the queue itself, as on AWS; and each
event source mapping on a queue followed: up to BatchSize messages, gathered for at most
MaximumBatchingWindowInSeconds (or `batching_window`), handed to the function here, and those it does not report
failed (ReportBatchItemFailures) deleted. A message left undeleted comes back after the queue's visibility timeout.

One batch at a time per mapping: the mapping's MaximumConcurrency is its most, and one is within it."""

import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

from local.engine.stack import LambdaContext, LocalStack
from local.engine.template import REGION, get_att, resolve

# How often an idle mapping asks its queue for messages, in seconds.
POLL_SECONDS = 0.2
# SQS hands over at most this many messages a request.
RECEIVE_MAX = 10
# How long stopping waits for a batch being handled (its invocation is told its time is up first).
STOP_SECONDS = 30


@dataclass(frozen=True)
class Mapping:
    name: str
    function: str  # logical ids
    queue: str
    batch_size: int
    window_seconds: float
    report_failures: bool


def template_mappings(template: dict[str, Any]) -> list[Mapping]:
    """The template's enabled event source mappings on its own SQS queues."""
    mappings = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::Lambda::EventSourceMapping" or not properties.get("Enabled", True):
            continue
        source = properties.get("EventSourceArn", {}).get("Fn::GetAtt", [None])[0]
        if template["Resources"].get(source, {}).get("Type") != "AWS::SQS::Queue":
            continue
        mappings.append(
            Mapping(
                name=logical_id,
                function=properties["FunctionName"]["Ref"],
                queue=source,
                batch_size=int(properties.get("BatchSize", 10)),
                window_seconds=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
                report_failures="ReportBatchItemFailures" in properties.get("FunctionResponseTypes", []),
            )
        )
    return mappings


def queue_rules(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], list[dict[str, str]]]]:
    """The template's enabled rules on its buses that send to its queues: (name, bus, pattern, [{Id, Arn}])."""
    queue_arns = {
        get_att(template, logical_id, "Arn")
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SQS::Queue"
    }
    rules = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::Events::Rule" or properties.get("State", "ENABLED") != "ENABLED":
            continue
        if "EventBusName" not in properties:
            continue  # the default bus: Step Functions' status changes, followed by local.up.alerts
        targets = [
            {"Id": target["Id"], "Arn": arn}
            for target in properties.get("Targets", [])
            if (arn := resolve(template, target["Arn"])) in queue_arns
        ]
        if targets:
            bus = resolve(template, properties["EventBusName"])
            rules.append((logical_id, bus, resolve(template, properties["EventPattern"]), targets))
    return rules


class Queues:
    """The template's queues, the rules that send to them, and their event source mappings, until stopped."""

    def __init__(self, local: LocalStack, out: TextIO = sys.stdout, batching_window: float | None = None) -> None:
        self.local, self.out = local, out
        template = local.template
        self.urls: dict[str, str] = {}
        queues = {lid: r for lid, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
        # Dead-letter queues first: a redrive policy names one that exists.
        for logical_id in sorted(queues, key=lambda lid: "RedrivePolicy" in queues[lid].get("Properties", {})):
            self.urls[logical_id] = self._make_queue(logical_id, queues[logical_id].get("Properties", {}))
        self.rules = queue_rules(template)
        for name, bus, pattern, targets in self.rules:
            local.events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
            local.events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        self.mappings = [
            Mapping(m.name, m.function, m.queue, m.batch_size, batching_window, m.report_failures)
            if batching_window is not None
            else m
            for m in template_mappings(template)
        ]
        self._stopped = threading.Event()
        self._invocations: dict[str, LambdaContext] = {}
        self._threads = [
            threading.Thread(target=self._follow, args=(mapping,), name=f"mapping-{mapping.name}", daemon=True)
            for mapping in self.mappings
        ]

    def _make_queue(self, logical_id: str, properties: dict[str, Any]) -> str:
        attributes: dict[str, str] = {
            name: str(properties[name])
            for name in ("VisibilityTimeout", "MessageRetentionPeriod")
            if name in properties
        }
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(resolve(self.local.template, properties["RedrivePolicy"]))
        return str(self.local.sqs.create_queue(QueueName=logical_id, Attributes=attributes)["QueueUrl"])

    def __enter__(self) -> "Queues":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stopped.set()
        for context in list(self._invocations.values()):
            context.timeout_seconds = 0  # its time is up: the handler returns what it has done
        for thread in self._threads:
            thread.join(STOP_SECONDS)

    def _follow(self, mapping: Mapping) -> None:
        url = self.urls[mapping.queue]
        while not self._stopped.is_set():
            batch = self._gather(mapping, url)
            if batch and not self._stopped.is_set():
                self._hand_over(mapping, url, batch)

    def _gather(self, mapping: Mapping, url: str) -> list[dict[str, Any]]:
        """Up to BatchSize messages, within the batching window from the first (none: empty, once stopped)."""
        batch: list[dict[str, Any]] = []
        first = 0.0
        while len(batch) < mapping.batch_size and not self._stopped.is_set():
            messages = self.local.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(RECEIVE_MAX, mapping.batch_size - len(batch)),
                AttributeNames=["All"],
            ).get("Messages", [])
            if messages and not batch:
                first = time.monotonic()
            batch.extend(messages)
            if batch and time.monotonic() - first >= mapping.window_seconds:
                break
            if not messages:
                self._stopped.wait(POLL_SECONDS)
        return batch

    def _hand_over(self, mapping: Mapping, url: str, batch: list[dict[str, Any]]) -> None:
        arn = get_att(self.local.template, mapping.queue, "Arn")
        event = {"Records": [record(message, arn) for message in batch]}
        context = self.local.context(mapping.function)
        self._invocations[mapping.name] = context
        if self._stopped.is_set():
            context.timeout_seconds = 0
        try:
            result, error = self.local.invoke(mapping.function, event, context)
        finally:
            self._invocations.pop(mapping.name, None)
        if error:
            print(
                f"{mapping.function}: {len(batch)} messages, failed ({error}): SQS delivers them again", file=self.out
            )
            return
        failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        if not mapping.report_failures:
            failed = set()
        done = [message for message in batch if message["MessageId"] not in failed]
        for start in range(0, len(done), RECEIVE_MAX):
            self.local.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done[start : start + RECEIVE_MAX])
                ],
            )
        print(
            f"{mapping.function}: {len(batch)} messages" + (f", {len(failed)} to be delivered again" if failed else ""),
            file=self.out,
            flush=True,
        )


def record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "0"),
            "SenderId": attributes.get("SenderId", "local"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
