"""The app's events as the AppEvents queue hands them over: each event's key (what it is deduplicated on), the
workflow and input it names, the name of the execution it starts, and how a batch's events are gathered.

An event is EventBridge's envelope around the app's detail. Its detail-type names the workflow
(tender_sync.workflows.REQUESTED) and its detail is that workflow's input, less `id`: the id the app gave the event
(as it gave inngest.send), its key. An event without one is keyed by EventBridge's own id, which stays the same when
EventBridge or SQS deliver it again, but differs if the app sends it again."""

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from tender_sync.models.inputs import MANUAL, MAX_OCIDS, InputDefaults, SingleTenderRequest
from tender_sync.workflows import REQUESTED, SINGLE_TENDER, WORKFLOWS, Workflow

# The detail's field that carries the event's id, and is no part of the workflow's input.
ID_FIELD = "id"
# The executions the app's events start are named with this prefix: their jobs say so (trigger).
EXECUTION_PREFIX = "event-"
# Step Functions' longest execution name, and the hex digits of the key's hash every name ends with.
MAX_NAME_CHARS = 80
HASH_CHARS = 24
# What an execution name may hold here: letters, digits, - and _ (AWS refuses spaces, brackets, wildcards and
# punctuation such as : / # %; CloudWatch's logs want ASCII).
UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class BadMessage(ValueError):
    """A queue message that is not an EventBridge event naming one of the workflows: it cannot start anything."""


@dataclass(frozen=True)
class AppEvent:
    message_id: str
    key: str
    workflow: Workflow[Any]
    # The detail without its id: the workflow's input.
    input: dict[str, Any]
    # A tender/enrich.requested event of one well-formed ocid, which is gathered with the batch's others into one
    # run; None for any other (started on its own, with its detail as the input).
    tender: SingleTenderRequest | None = None

    @property
    def published_at(self) -> datetime | None:
        return self.tender.publishedAt if self.tender else None


def read(message_id: str, body: str, defaults: InputDefaults) -> AppEvent:
    """The event in a queue message's body, or BadMessage saying why it is none."""
    try:
        envelope = json.loads(body)
    except ValueError:
        raise BadMessage("the message is not JSON") from None
    if not isinstance(envelope, dict):
        raise BadMessage("the message is not an EventBridge event")
    workflow = REQUESTED.get(str(envelope.get("detail-type")))
    if workflow is None:
        raise BadMessage(f"detail-type {str(envelope.get('detail-type'))[:200]!r} names no workflow")
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        raise BadMessage("the event's detail is not a JSON object")
    given = {name: value for name, value in detail.items() if name != ID_FIELD}
    return AppEvent(message_id, event_key(envelope), workflow, given, _gathered(workflow, given, defaults))


def event_key(envelope: dict[str, Any]) -> str:
    """What the event is deduplicated on: the detail's id when it has one (a non-empty string, or a number), else
    EventBridge's id of the event."""
    detail = envelope.get("detail")
    given = detail.get(ID_FIELD) if isinstance(detail, dict) else None
    if isinstance(given, str) and given.strip():
        return given
    if isinstance(given, int | float) and not isinstance(given, bool):
        return str(given)
    envelope_id = envelope.get("id")
    if not isinstance(envelope_id, str) or not envelope_id:
        raise BadMessage("the event has no id, neither in its detail nor EventBridge's")
    return envelope_id


def _gathered(workflow: Workflow[Any], given: dict[str, Any], defaults: InputDefaults) -> SingleTenderRequest | None:
    """A single tender's input of one well-formed ocid (and a valid publishedAt, if any), which can be gathered."""
    if workflow is not SINGLE_TENDER:
        return None
    try:
        request = SingleTenderRequest.model_validate(given, context=defaults)
    except ValidationError:
        return None  # started on its own, its first step failing as InvalidInput, as any bad input does
    return request if request.ocid is not None else None


def execution_name(key: str) -> str:
    """The execution an event starts, named from its key: the same key, the same name (Step Functions starts an
    execution of a name once), readable as far as the key is, and unique by the key's hash."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:HASH_CHARS]
    readable = UNSAFE.sub("-", key).strip("-")[: MAX_NAME_CHARS - len(EXECUTION_PREFIX) - HASH_CHARS - 1]
    return f"{EXECUTION_PREFIX}{readable}-{digest}" if readable else f"{EXECUTION_PREFIX}{digest}"


def gathered_name(keys: Iterable[str]) -> str:
    """The single-tender run of gathered tender/enrich.requested events, named from their keys."""
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:HASH_CHARS]
    return f"{EXECUTION_PREFIX}tenders-{digest}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the state machine's execution of that name."""
    head, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{head}:execution:{machine}:{name}"


def started_by_event(execution_id: str) -> bool:
    return execution_id.rsplit(":", 1)[-1].startswith(EXECUTION_PREFIX)


def trigger(workflow_name: str, execution_id: str, given: str) -> str:
    """Who started a run, as its job records it: an execution the app's events started says so, with who the
    input names ("event tender/enrich-today.requested", "admin u-7 via event tender/enrich-today.requested")."""
    workflow = WORKFLOWS.get(workflow_name)
    if workflow is None or workflow.detail_type is None or not started_by_event(execution_id):
        return given
    event = f"event {workflow.detail_type}"
    return event if given == MANUAL else f"{given} via {event}"


@dataclass(frozen=True)
class Start:
    """One execution to start, for these events."""

    workflow: Workflow[Any]
    name: str
    input: dict[str, Any]
    events: tuple[AppEvent, ...]


def alone(event: AppEvent) -> Start:
    """The execution an event starts on its own: its workflow, its detail as the input."""
    return Start(event.workflow, execution_name(event.key), event.input, (event,))


def gathered(events: list[AppEvent]) -> Start:
    """One single-tender run for the tender/enrich.requested events gathered (each of one ocid), every ocid once."""
    ocids = list(dict.fromkeys(event.tender.ocid for event in events if event.tender and event.tender.ocid))
    return Start(SINGLE_TENDER, gathered_name(event.key for event in events), {"ocids": ocids}, tuple(events))


def first_of_each_key(events: Iterable[AppEvent]) -> list[AppEvent]:
    """The events, each key's first only (SQS may deliver one event twice in one batch)."""
    firsts: dict[str, AppEvent] = {}
    for event in events:
        firsts.setdefault(event.key, event)
    return list(firsts.values())


def by_tenders(events: list[AppEvent], cap: int = MAX_OCIDS) -> list[list[AppEvent]]:
    """Gathered events (each of one ocid) in as few groups as name at most `cap` distinct ocids each: the ocids in
    the order they first came, `cap` to a group, and each event in its ocid's group."""
    ocids = list(dict.fromkeys(event.tender.ocid for event in events if event.tender))
    group_of = {ocid: index // cap for index, ocid in enumerate(ocids)}
    groups: list[list[AppEvent]] = [[] for _ in range(math.ceil(len(ocids) / cap))]
    for event in events:
        if event.tender and event.tender.ocid:
            groups[group_of[event.tender.ocid]].append(event)
    return groups
