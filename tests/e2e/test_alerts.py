"""Alert processing as a user meets it, on this machine: `make run`'s sync announces its changes, the rule starts an
alerts run for the event, and each subscription hears of its tenders once: webhooks a receiver on 127.0.0.1
verifies with the reference Standard Webhooks library, emails written to the outbox as .eml files with one-click
unsubscribe. Rerunning the window, the same event again, and the lookups that land later never repeat a
notification; a receiver that fails some first attempts gets every delivery in the end, each under one id."""

import io
import json
from collections import defaultdict
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from local.engine import run
from local.engine.stack import Execution
from tender_sync.alerts import secrets, subscriptions
from tender_sync.alerts.models import Channel, Filters, NewSubscription
from tender_sync.alerts.taxonomy import CATEGORIES
from tender_sync.storage.database import connect
from tender_sync.workflows import ALERTS, SYNC
from tests.helpers.alert_sending import Receiver

pytestmark = pytest.mark.slow

OTHER_SERVICES = "Other service activities"
WINDOW = {"from": "2025-09-01", "to": "2025-09-08"}


@pytest.fixture
def alerts_key(monkeypatch) -> Iterator[bytes]:
    monkeypatch.setenv("ALERTS_KEY", "the e2e tests' alerts key")
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "1")
    secrets.alerts_key.cache_clear()
    yield secrets.alerts_key()
    secrets.alerts_key.cache_clear()


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(run, "OUTBOX", tmp_path / "outbox")
    return tmp_path / "outbox"


class Runner:
    """Local runs of a workflow on the test's database and the fixed sample source, as `make run` and the CLI do."""

    def __init__(self, template: dict[str, Any], database_url: str, source_url: str) -> None:
        self.template, self.database_url, self.source_url = template, database_url, source_url

    def run(self, workflow: Any, execution_input: dict[str, Any]) -> tuple[Execution, list[Execution]]:
        execution, _, started = run.run_workflow(
            workflow, execution_input, self.template, self.database_url, self.source_url, self.source_url, io.StringIO()
        )
        assert execution.status == "SUCCEEDED", execution.cause
        assert all(alerts.status == "SUCCEEDED" for alerts in started), [a.cause for a in started]
        return execution, started

    def subscribe(self, key: bytes, channel: Channel, address: str, **filters: Any) -> tuple[int, str | None]:
        with connect(self.database_url) as conn:
            subscription, secret = subscriptions.add(
                conn, NewSubscription(channel=channel, address=address, filters=Filters(**filters)), key
            )
        return subscription.id, secret

    def notices(self) -> list[tuple[int, str, str]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute("SELECT subscription_id, ocid, change FROM alert_notices ORDER BY 1, 2").fetchall()


@pytest.fixture
def runner(template, database_url, sample_source) -> Runner:
    return Runner(template, database_url, sample_source.url)


def delivered_tenders(receiver: Receiver, secret: str, path: str) -> list[dict[str, Any]]:
    """The tenders the receiver was sent at `path`, each request's signature verified as a receiver would."""
    tenders = []
    for request in receiver.received:
        if request.path != path:
            continue
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["type"] == "tenders.matched"
        tenders += payload["data"]["tenders"]
    return tenders


def test_a_sync_notifies_each_subscription_of_its_tenders_by_webhook_and_email(runner, alerts_key, outbox):
    with Receiver() as receiver:
        by_place, place_secret = runner.subscribe(
            alerts_key, "webhook", receiver.url("/place"), categories=[OTHER_SERVICES], provinces=["Eastern Cape"]
        )
        by_words, words_secret = runner.subscribe(alerts_key, "webhook", receiver.url("/words"), query="construction")
        runner.subscribe(alerts_key, "email", "reader@example.org", provinces=["Western Cape"])

        _, started = runner.run(SYNC, WINDOW)

        assert len(started) == 1
        line = run.alerts_summary(started)
        assert line.startswith("alerts:     3 deliveries to 3 subscriptions (1 emails, 2 webhooks), 0 failed")
        place = delivered_tenders(receiver, str(place_secret), "/place")
        words = delivered_tenders(receiver, str(words_secret), "/words")
    assert place and all(t["detailedCategory"] == OTHER_SERVICES and t["province"] == "Eastern Cape" for t in place)
    assert words and all("construct" in (t["title"] + " " + (t["description"] or "")).lower() for t in words)
    assert {t["url"] for t in place} == {f"https://app.example.org/tenders/{t['ocid']}" for t in place}
    assert [t["change"] for t in place + words] == ["new"] * len(place + words)

    (eml,) = outbox.glob("*.eml")
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert message["To"] == "reader@example.org"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(message["List-Unsubscribe"]).startswith("<https://")
    assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None
    # The execution's history never holds an address: the deliveries travel through S3.
    (alerts,) = started
    assert "reader@example.org" not in json.dumps(alerts.history, default=str)
    assert "/place" not in json.dumps(alerts.history, default=str)
    assert by_place != by_words


def test_a_rerun_the_same_event_again_and_later_lookups_never_repeat_a_notification(runner, alerts_key, outbox):
    with Receiver() as receiver:
        by_category, secret = runner.subscribe(
            alerts_key, "webhook", receiver.url("/category"), categories=sorted(CATEGORIES)
        )
        everything, _ = runner.subscribe(alerts_key, "webhook", receiver.url("/everything"))

        # No lookups yet: the tenders the portal has to categorize are stored without their category.
        first, started = runner.run(SYNC, {**WINDOW, "maxEnrichment": 0})
        told = runner.notices()
        first_category = {t["ocid"] for t in delivered_tenders(receiver, str(secret), "/category")}
        assert len(started) == 1

        # The same event again (EventBridge delivers at least once): matched once.
        (event,) = first.events
        again, _ = runner.run(ALERTS, event)
        assert again.output is not None and again.output["alerts"]["duplicate"] is True
        assert runner.notices() == told

        # The window again, now with its lookups: the tenders that gained their category are told to the category
        # subscription, once, and to no one who heard of them already.
        runner.run(SYNC, WINDOW)
        later = runner.notices()
        gained = {ocid for subscription, ocid, change in later if subscription == by_category} - first_category
        assert gained
        assert {(s, o, c) for s, o, c in later if s == by_category and o in gained} == {
            (by_category, ocid, "enriched") for ocid in gained
        }
        assert [n for n in later if n[0] == everything] == [n for n in told if n[0] == everything]
        category = [t["ocid"] for t in delivered_tenders(receiver, str(secret), "/category")]
        assert sorted(category) == sorted(first_category | gained)

        # Once more, unchanged: nothing new to tell.
        runner.run(SYNC, WINDOW)
        assert runner.notices() == later


def test_a_receiver_failing_first_attempts_gets_every_delivery_in_the_end_each_under_one_id(
    runner, alerts_key, outbox, database_url
):
    with Receiver(fail_first=True) as receiver:
        runner.subscribe(alerts_key, "webhook", receiver.url("/a"), provinces=["Eastern Cape"])
        runner.subscribe(alerts_key, "webhook", receiver.url("/b"), query="construction")
        _, started = runner.run(SYNC, WINDOW)
        assert run.alerts_summary(started).endswith("2 failed")

        # The schedule's run, once the retries are due.
        with psycopg.connect(database_url) as conn:
            conn.execute("UPDATE alert_deliveries SET due_at = now() WHERE status = 'pending'")
        retry, _ = runner.run(ALERTS, {"triggeredBy": "schedule"})
        assert retry.output is not None and retry.output["recorded"]["delivered"] == 2

        attempts: dict[str, list[str]] = defaultdict(list)
        for request in receiver.received:
            attempts[request.headers["webhook-id"]].append(request.path)
    assert sorted(attempts.values()) == [["/a", "/a"], ["/b", "/b"]]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT status, attempts FROM alert_deliveries ORDER BY 1").fetchall() == [
            ("delivered", 2),
            ("delivered", 2),
        ]
