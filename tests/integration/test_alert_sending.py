"""One child's batch of deliveries: emails through SES v2 (moto), paced; webhooks to a receiver on 127.0.0.1;
what does not fit in the time left is not attempted."""

import time
from email import policy
from email.parser import BytesParser

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from standardwebhooks.webhooks import Webhook

from tender_sync.alerts import sending
from tender_sync.alerts.models import DeliveryBatch, DeliveryBatchResult, DeliveryResult
from tender_sync.alerts.sending import OUT_OF_TIME, deliver_batch, failed_batch
from tests.helpers.alert_sending import KEY, SIGNING_SECRET, Receiver, email_delivery, webhook_delivery

REGION = "us-east-1"
FROM = "alerts@tenders.example.org"
UNSUBSCRIBE_URL = "https://unsubscribe.example.org/"


class TimedSes:
    """The SES client, each send_email's start time (by `clock`) kept."""

    def __init__(self, client):
        self.client = client
        self.clock = time.monotonic
        self.started: list[float] = []

    def send_email(self, **arguments):
        self.started.append(self.clock())
        return self.client.send_email(**arguments)


class FakeTime:
    """The pacing's clock: sleeping moves it on at once, and nothing else does."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ses(monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "1")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    with mock_aws():
        client = boto3.client("sesv2", region_name=REGION)
        client.create_email_identity(EmailIdentity=FROM)
        yield TimedSes(client)


def sent_messages():
    """What moto's SES sent, each message parsed."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    return [BytesParser(policy=policy.default).parsebytes(m.raw_data.encode()) for m in backend.sent_messages]


def deliver(batch: DeliveryBatch, ses, seconds_between_emails: float = 0.0, seconds_left: float = 600.0):
    return deliver_batch(
        batch,
        ses=ses,
        from_address=FROM,
        configuration_set="",
        unsubscribe_url=UNSUBSCRIBE_URL,
        key=KEY,
        seconds_between_emails=seconds_between_emails,
        time_left=lambda: seconds_left,
    )


def test_a_batch_sends_each_delivery_on_its_channel_one_failure_failing_only_itself(ses):
    with Receiver() as ok, Receiver(status=503) as failing:
        batch = DeliveryBatch(
            batch=3,
            deliveries=[
                email_delivery(1),
                webhook_delivery(ok.url(), 1),
                email_delivery(2),
                webhook_delivery(failing.url(), 2),
            ],
        )
        result = deliver(batch, ses)

    assert result == DeliveryBatchResult(
        batch=3,
        results=[
            DeliveryResult(id=batch.deliveries[0].id, delivered=True),
            DeliveryResult(id=batch.deliveries[1].id, delivered=True),
            DeliveryResult(id=batch.deliveries[2].id, delivered=True),
            DeliveryResult(id=batch.deliveries[3].id, delivered=False, error="HTTP 503"),
        ],
    )
    messages = sent_messages()
    assert [m["To"] for m in messages] == ["reader1@example.org", "reader2@example.org"]
    assert [m["Message-ID"] for m in messages] == [f"<{batch.deliveries[i].id}@tender-sync>" for i in (0, 2)]
    [request] = ok.received
    Webhook(SIGNING_SECRET).verify(request.body, request.headers)
    assert len(failing.received) == 1


def test_emails_start_no_faster_than_seconds_between_emails(ses, monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(sending, "time", clock)
    ses.clock = clock.monotonic
    with Receiver() as receiver:
        batch = DeliveryBatch(
            batch=1,
            deliveries=[email_delivery(1), email_delivery(2), webhook_delivery(receiver.url()), email_delivery(3)],
        )
        result = deliver(batch, ses, seconds_between_emails=0.3)

    assert all(r.delivered for r in result.results)
    gaps = [later - earlier for earlier, later in zip(ses.started, ses.started[1:], strict=False)]
    assert gaps == [pytest.approx(0.3), pytest.approx(0.3)]  # paced, and not slowed further


def test_a_webhook_that_would_not_end_in_time_is_not_attempted(ses):
    """3 s left: less than a webhook's timeout, enough for an email whose turn has come."""
    with Receiver() as receiver:
        batch = DeliveryBatch(batch=1, deliveries=[webhook_delivery(receiver.url()), email_delivery(1)])
        result = deliver(batch, ses, seconds_left=3.0)

    assert [(r.delivered, r.error) for r in result.results] == [(False, OUT_OF_TIME), (True, None)]
    assert receiver.received == []


def test_an_email_whose_turn_comes_too_late_is_not_attempted(ses):
    batch = DeliveryBatch(batch=1, deliveries=[email_delivery(1), email_delivery(2)])

    started = time.monotonic()
    result = deliver(batch, ses, seconds_between_emails=5.0, seconds_left=3.0)

    assert [(r.delivered, r.error) for r in result.results] == [(True, None), (False, OUT_OF_TIME)]
    assert time.monotonic() - started < 2.0  # no waiting for a turn it would not take
    assert len(sent_messages()) == 1


def test_with_no_time_left_nothing_is_attempted(ses):
    with Receiver() as receiver:
        batch = DeliveryBatch(batch=1, deliveries=[email_delivery(1), webhook_delivery(receiver.url())])
        result = deliver(batch, ses, seconds_left=0.0)

    assert [(r.delivered, r.error) for r in result.results] == [(False, OUT_OF_TIME)] * 2
    assert receiver.received == [] and sent_messages() == []


def test_an_email_ses_refuses_fails_with_its_code(ses):
    batch = DeliveryBatch(batch=1, deliveries=[email_delivery(1)])

    result = deliver_batch(
        batch,
        ses=ses,
        from_address="unverified@elsewhere.example.org",
        configuration_set="",
        unsubscribe_url=UNSUBSCRIBE_URL,
        key=KEY,
        seconds_between_emails=0.0,
        time_left=lambda: 600.0,
    )

    assert [(r.delivered, r.error) for r in result.results] == [(False, "SES: MessageRejected")]


def test_a_failed_batch_fails_each_delivery_with_its_error():
    batch = DeliveryBatch(batch=4, deliveries=[email_delivery(1), webhook_delivery("https://hooks.example.org/")])

    assert failed_batch(batch, "Lambda.Unknown: the child timed out") == DeliveryBatchResult(
        batch=4,
        results=[
            DeliveryResult(id=d.id, delivered=False, error="Lambda.Unknown: the child timed out")
            for d in batch.deliveries
        ],
    )
