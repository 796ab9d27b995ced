"""The app events' consumer against a real PostgreSQL, with a Step Functions that records what it is asked: each
event starts its run once whatever the deliveries, a batch's tender events make one run, a start that fails takes
its key back, and the single-tender runs go one at a time with no connection held while the consumer waits."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from tender_sync.app_events import ledger as ledger_module
from tender_sync.app_events.consumer import MARGIN_SECONDS, Consumer
from tender_sync.app_events.events import execution_arn
from tender_sync.storage import database
from tender_sync.workflows import REQUESTED
from tests.helpers import INPUT_DEFAULTS

MACHINES = {
    workflow.name: f"arn:aws:states:af-south-1:123456789012:stateMachine:{workflow.title}"
    for workflow in REQUESTED.values()
}


class StepFunctions:
    """Starts nothing: records each start, and answers DescribeExecution from `statuses` (a run's statuses in turn,
    its last one from then on; SUCCEEDED when none is given), as AWS answers a name started before."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, Any]] = []
        self.statuses: dict[str, list[str]] = {}
        self.refusing: set[str] = set()
        self.described: list[str] = []

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, str]:  # noqa: N803 - boto3's names
        if stateMachineArn in self.refusing:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")
        arn = execution_arn(stateMachineArn, name)
        if any(execution_arn(m, n) == arn for m, n, _ in self.started):
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": arn}}, "StartExecution")
        self.started.append((stateMachineArn, name, json.loads(input)))
        return {"executionArn": arn}

    def describe_execution(self, *, executionArn: str) -> dict[str, str]:  # noqa: N803 - boto3's names
        self.described.append(executionArn)
        statuses = self.statuses.get(executionArn, ["SUCCEEDED"])
        return {"status": statuses.pop(0) if len(statuses) > 1 else statuses[0]}


class Clock:
    """An invocation's time left, which only the consumer's sleeps use up."""

    def __init__(self, seconds: float = 900) -> None:
        self.seconds = seconds
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.seconds -= seconds


def envelope(detail_type: str, detail: dict[str, Any], envelope_id: str = "eb-1") -> str:
    return json.dumps({"id": envelope_id, "detail-type": detail_type, "source": "tender-app", "detail": detail})


def tender_event(number: int, key: str | None = None) -> tuple[str, str]:
    detail = {"id": key or f"t-{number}", "ocid": f"ocds-9t57fa-{number}", "publishedAt": "2026-12-01T08:00:00Z"}
    return f"m-{key or number}", envelope("tender/enrich.requested", detail)


@pytest.fixture
def sfn() -> StepFunctions:
    return StepFunctions()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def consumer(database_url: str, sfn: StepFunctions, clock: Clock) -> Consumer:
    return consumer_of(database_url, sfn, clock)


def consumer_of(database_url: str, sfn: StepFunctions, clock: Clock, open_connections: list[int] | None = None):
    @contextmanager
    def connect() -> Iterator[psycopg.Connection]:
        if open_connections is not None:
            open_connections.append(1)
        try:
            with database.connect(database_url) as conn:
                yield conn
        finally:
            if open_connections is not None:
                open_connections.pop()

    return Consumer(MACHINES, connect, sfn, time_left=lambda: clock.seconds, poll_seconds=2, sleep=clock.sleep)


def ledger(database_url: str) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT key, detail_type, execution_arn FROM requested_events").fetchall()
    return {key: (detail_type, arn) for key, detail_type, arn in rows}


def test_each_event_starts_its_run_once_however_often_it_is_delivered(consumer, sfn, database_url):
    sync = envelope("tender/sync.requested", {"id": "s-1", "maxEnrichment": 10, "triggeredBy": "cron"})
    today = envelope("tender/enrich-today.requested", {"maxEnrichment": 50}, envelope_id="eb-2")

    first = consumer.consume([("m-1", sync), ("m-2", sync), ("m-3", today)], INPUT_DEFAULTS)
    again = consumer.consume([("m-4", sync), ("m-5", today)], INPUT_DEFAULTS)

    assert [(machine.rsplit(":", 1)[-1], body) for machine, _, body in sfn.started] == [
        ("Sync", {"maxEnrichment": 10, "triggeredBy": "cron"}),
        ("EnrichToday", {"maxEnrichment": 50}),
    ]
    assert (len(first.started), first.duplicates, first.failed) == (2, 1, [])
    assert (again.started, again.duplicates, again.failed) == ([], 2, [])
    assert ledger(database_url) == {
        "s-1": ("tender/sync.requested", first.started[0]),
        "eb-2": ("tender/enrich-today.requested", first.started[1]),
    }


def test_a_batchs_tender_events_start_one_run_of_their_ocids(consumer, sfn, database_url):
    batch = [tender_event(n % 3, key=f"t-{n}") for n in range(10)]

    outcome = consumer.consume(batch, INPUT_DEFAULTS)
    redelivered = consumer.consume(batch[:4], INPUT_DEFAULTS)

    [(machine, name, body)] = sfn.started
    assert machine == MACHINES["single-tender"] and name.startswith("event-tenders-")
    assert body == {"ocids": ["ocds-9t57fa-0", "ocds-9t57fa-1", "ocds-9t57fa-2"]}
    assert outcome.started == [execution_arn(machine, name)] and outcome.failed == []
    assert (redelivered.started, redelivered.duplicates) == ([], 4)
    assert {arn for _, arn in ledger(database_url).values()} == {outcome.started[0]}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT DISTINCT published_at::text FROM requested_events").fetchall() == [
            ("2026-12-01 08:00:00+00",)
        ]


def test_a_bad_tender_event_starts_its_own_run_to_fail_as_invalid_input_after_the_gathered_one(consumer, sfn):
    bad = envelope("tender/enrich.requested", {"id": "bad", "ocid": "not-an-ocid"})
    outcome = consumer.consume([("m-bad", bad), tender_event(1)], INPUT_DEFAULTS)

    assert [body for _, _, body in sfn.started] == [{"ocids": ["ocds-9t57fa-1"]}, {"ocid": "not-an-ocid"}]
    assert len(outcome.started) == 2 and outcome.failed == []


def test_a_start_that_fails_takes_its_key_back_so_that_sqs_delivers_it_again(consumer, sfn, database_url):
    sfn.refusing.add(MACHINES["sync"])
    sync = envelope("tender/sync.requested", {"id": "s-1"})
    today = envelope("tender/enrich-today.requested", {"id": "e-1", "maxEnrichment": 5})

    outcome = consumer.consume([("m-1", sync), ("m-2", today), ("m-3", "not json")], INPUT_DEFAULTS)
    assert outcome.failed == ["m-3", "m-1"]
    assert set(ledger(database_url)) == {"e-1"}

    sfn.refusing.clear()
    assert consumer.consume([("m-1", sync)], INPUT_DEFAULTS).started == [
        execution_arn(MACHINES["sync"], sfn.started[-1][1])
    ]
    assert set(ledger(database_url)) == {"e-1", "s-1"}


def test_a_run_started_before_its_keys_were_recorded_is_taken_as_started(database_url, sfn, clock):
    """A batch whose transaction failed after its starts comes again: Step Functions has the names already."""
    sync = envelope("tender/sync.requested", {"id": "s-1"})
    consumer_of(database_url, sfn, clock).consume([("m-1", sync)], INPUT_DEFAULTS)
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM requested_events")  # as if that transaction had rolled back

    outcome = consumer_of(database_url, sfn, clock).consume([("m-1", sync)], INPUT_DEFAULTS)

    assert len(sfn.started) == 1 and outcome.started == [execution_arn(MACHINES["sync"], sfn.started[0][1])]
    assert outcome.failed == []


def test_a_tender_run_starts_only_once_the_last_has_ended_and_no_connection_is_held_while_waiting(
    database_url, sfn, clock
):
    open_connections: list[int] = []
    consumer = consumer_of(database_url, sfn, clock, open_connections)
    first = consumer.consume([tender_event(1)], INPUT_DEFAULTS).started[0]
    sfn.statuses[first] = ["RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"]
    slept_before = len(clock.slept)

    def no_connection_while_sleeping(seconds: float) -> None:
        assert open_connections == [], "a connection is held while the consumer waits"
        Clock.sleep(clock, seconds)

    consumer.sleep = no_connection_while_sleeping
    second = consumer.consume([tender_event(2)], INPUT_DEFAULTS)

    assert len(sfn.started) == 2 and second.started
    assert len(clock.slept) - slept_before >= 2  # it waited for the first run to end, then started the second
    assert sfn.described.index(first) < len(sfn.described) - 1


def test_the_consumer_waits_for_its_own_run_before_it_returns(consumer, sfn, clock):
    original = sfn.start_execution

    def start(**kwargs: Any) -> dict[str, str]:
        answer = original(**kwargs)
        sfn.statuses[answer["executionArn"]] = ["RUNNING", "RUNNING", "SUCCEEDED"]
        return answer

    sfn.start_execution = start
    consumer.consume([tender_event(1)], INPUT_DEFAULTS)

    assert clock.slept == [2, 2]


def test_with_no_time_left_for_a_run_its_events_are_left_for_sqs_to_deliver_again(database_url, sfn, clock):
    consumer = consumer_of(database_url, sfn, clock)
    first = consumer.consume([tender_event(1)], INPUT_DEFAULTS).started[0]
    sfn.statuses[first] = ["RUNNING"]  # it never ends within this invocation
    clock.seconds = MARGIN_SECONDS + 5

    outcome = consumer.consume([tender_event(2), tender_event(3)], INPUT_DEFAULTS)

    assert (outcome.started, sorted(outcome.failed), outcome.deferred) == ([], ["m-2", "m-3"], 2)
    assert len(sfn.started) == 1 and set(ledger(database_url)) == {"t-1"}


def test_while_another_consumer_starts_a_tender_run_this_one_waits_its_turn(consumer, sfn, clock, database_url):
    with psycopg.connect(database_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(hashtext('tender_sync.app_events.gathered'))")
        original = clock.sleep

        def release_after_first_wait(seconds: float) -> None:
            original(seconds)
            other.commit()

        consumer.sleep = release_after_first_wait
        outcome = consumer.consume([tender_event(1)], INPUT_DEFAULTS)

    assert len(outcome.started) == 1 and clock.slept == [2]


def test_cleanup_forgets_keys_older_than_a_week(database_url):
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO requested_events (key, detail_type, received_at) VALUES
               ('old', 'tender/sync.requested', now() - interval '8 days'),
               ('new', 'tender/sync.requested', now() - interval '6 days')"""
        )
        assert ledger_module.forget_old(conn) == 1
    assert set(ledger(database_url)) == {"new"}
