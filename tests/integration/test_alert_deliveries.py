"""Deliveries on a real PostgreSQL, with S3 in moto: the daily digests, the due deliveries claimed and written as the
Map's items (never the same ones by two runs at once), what each came to recorded with backoff, a webhook failing for
a day paused, and no address in what fails."""

import traceback
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import psycopg
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tender_sync.alerts import deliveries, secrets, subscriptions
from tender_sync.alerts.deliveries import NO_RESULT, batch_key, make_digests, plan, record, result_key
from tender_sync.alerts.matching import match_event
from tender_sync.alerts.models import DeliveryBatch, DeliveryBatchResult, DeliveryPlan, DeliveryResult
from tender_sync.alerts.sending import OUT_OF_TIME
from tender_sync.errors import ArtifactMissing
from tender_sync.storage.artifacts import get_json, put_json
from tests.helpers import not_none
from tests.helpers.alert_sending import KEY
from tests.helpers.alerts import EMAIL, SERVICES, WEBHOOK, alert_tender, store_and_announce, subscribe

BUCKET = "artifacts"
URL = "https://www.etenders.gov.za/tender/{ocid}"
CLEANING = alert_tender("ocds-9t57fa-1", title="Cleaning", category=SERVICES, province="Gauteng", value=1000)
GUARDING = alert_tender("ocds-9t57fa-2", title="Guarding", buyer="City of Cape Town")


def execution(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:AlertsStateMachine:{name}"


@pytest.fixture
def s3():
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


def matched(conn: psycopg.Connection, name: str, *tenders) -> str:
    event = store_and_announce(conn, f"exec-{name}", *tenders)
    match_event(conn, event, f"alerts-{name}")
    conn.commit()
    return event


def planned(conn: psycopg.Connection, name: str, **limits) -> tuple[DeliveryPlan, list[DeliveryBatch]]:
    made = plan(conn, execution(name), BUCKET, URL, **limits)
    conn.commit()
    return made, batches_of(made)


def batches_of(made: DeliveryPlan) -> list[DeliveryBatch]:
    """The plan's batches, each its own object; the Map's items are their numbers."""
    assert get_json(BUCKET, made.itemsKey) == [{"batch": batch} for batch in range(made.batches)]
    return [
        DeliveryBatch.model_validate(get_json(BUCKET, batch_key(made.batchesPrefix, batch)))
        for batch in range(made.batches)
    ]


def results_of(made: DeliveryPlan, batch: int, *results: DeliveryResult) -> None:
    result = DeliveryBatchResult(batch=batch, results=list(results))
    put_json(BUCKET, result_key(made.resultsPrefix, batch), result.model_dump(mode="json"))


def state(conn: psycopg.Connection, delivery: str) -> dict[str, object]:
    cursor = conn.execute(
        """SELECT status, attempts, last_error, claimed_by, delivered_at IS NOT NULL AS delivered,
                  round(extract(epoch FROM due_at - now()) / 60) AS due_in_minutes
             FROM alert_deliveries WHERE id = %s""",
        (delivery,),
    )
    columns = [column.name for column in not_none(cursor.description)]
    return dict(zip(columns, not_none(cursor.fetchone()), strict=True))


def make_due(conn: psycopg.Connection) -> None:
    conn.execute("UPDATE alert_deliveries SET due_at = now() WHERE status = 'pending'")
    conn.commit()


# -- digests -------------------------------------------------------------------------------------


def test_a_daily_digest_is_made_once_a_day_after_its_hour_in_south_africa(database_url):
    with psycopg.connect(database_url) as conn:
        daily, paused = subscribe(conn, frequency="daily"), subscribe(conn, frequency="daily")
        matched(conn, "1", CLEANING)
        subscriptions.pause(conn, paused, "on holiday")

        # 06:59 in South Africa on 2 September, then 01:00 on 3 September: before the hour both times.
        assert make_digests(conn, datetime(2025, 9, 2, 4, 59, tzinfo=UTC), 7) == 0
        assert make_digests(conn, datetime(2025, 9, 2, 23, 0, tzinfo=UTC), 7) == 0
        assert make_digests(conn, datetime(2025, 9, 2, 5, 0, tzinfo=UTC), 7) == 1
        (digest,) = not_none(conn.execute("SELECT alert_delivery_id(%s, 'digest/2025-09-02')", (daily,)).fetchone())
        assert conn.execute("SELECT id, event_id FROM alert_deliveries").fetchall() == [(digest, "digest/2025-09-02")]
        assert conn.execute(
            "SELECT subscription_id, delivery_id FROM alert_notices ORDER BY subscription_id"
        ).fetchall() == [(daily, digest), (paused, None)]

        # Once a day: what comes after the day's digest waits for the next day's.
        matched(conn, "2", GUARDING)
        assert make_digests(conn, datetime(2025, 9, 2, 20, 0, tzinfo=UTC), 7) == 0
        assert make_digests(conn, datetime(2025, 9, 3, 6, 0, tzinfo=UTC), 7) == 1
        assert conn.execute(
            "SELECT ocid, d.event_id FROM alert_notices n JOIN alert_deliveries d ON d.id = n.delivery_id ORDER BY ocid"
        ).fetchall() == [("ocds-9t57fa-1", "digest/2025-09-02"), ("ocds-9t57fa-2", "digest/2025-09-03")]


# -- plan ----------------------------------------------------------------------------------------


def test_plan_claims_the_due_deliveries_with_their_tenders_in_batches(database_url, s3):
    with psycopg.connect(database_url) as conn:
        email, webhook = subscribe(conn, updates=True), subscribe(conn, channel="webhook")
        later, paused = subscribe(conn), subscribe(conn)
        first = matched(conn, "1", CLEANING, GUARDING)
        matched(conn, "2", {**CLEANING, "release_id": "newer", "release_date": "2025-09-02T00:00:00+02:00"})
        conn.execute(
            "UPDATE alert_deliveries SET due_at = now() + interval '1 hour' WHERE subscription_id = %s", (later,)
        )
        subscriptions.pause(conn, paused, "on holiday")
        conn.commit()

        made, batches = planned(conn, "run-1", batch_size=2)
        assert made.model_dump() == {
            "bucket": BUCKET,
            "itemsKey": "runs/AlertsStateMachine/run-1/deliveries.json",
            "batchesPrefix": "runs/AlertsStateMachine/run-1/deliveries/",
            "resultsPrefix": "runs/AlertsStateMachine/run-1/delivered/",
            "batches": 2,
            "deliveries": 3,
        }
        assert [len(batch.deliveries) for batch in batches] == [2, 1]
        sent = {(d.subscription, d.event): d for batch in batches for d in batch.deliveries}
        assert set(sent) == {(email, first), (webhook, first), (email, "exec-2/2025-09-01/2025-09-08")}

        to_email = sent[email, first]
        assert (to_email.channel, to_email.address, to_email.secret) == ("email", EMAIL, None)
        assert [(t.ocid, t.change, t.url) for t in to_email.tenders] == [
            ("ocds-9t57fa-1", "new", "https://www.etenders.gov.za/tender/ocds-9t57fa-1"),
            ("ocds-9t57fa-2", "new", "https://www.etenders.gov.za/tender/ocds-9t57fa-2"),
        ]
        cleaning = to_email.tenders[0]
        assert (cleaning.title, cleaning.detailedCategory, cleaning.province, cleaning.valueAmount) == (
            "Cleaning",
            SERVICES,
            "Gauteng",
            Decimal(1000),
        )
        assert to_email.tenders[1].buyer == "City of Cape Town"
        assert [t.change for t in sent[email, "exec-2/2025-09-01/2025-09-08"].tenders] == ["updated"]
        to_webhook = sent[webhook, first]
        assert (to_webhook.address, secrets.decrypt(not_none(to_webhook.secret), KEY)[:6]) == (WEBHOOK, "whsec_")

        claimed = conn.execute("SELECT claimed_by, count(*) FROM alert_deliveries GROUP BY 1 ORDER BY 1").fetchall()
        assert claimed == [(execution("run-1"), 3), (None, 2)]


def test_runs_at_once_never_plan_the_same_delivery(database_url, s3):
    with psycopg.connect(database_url) as conn:
        for _ in range(5):
            subscribe(conn)
        matched(conn, "1", CLEANING)
    with psycopg.connect(database_url) as first, psycopg.connect(database_url) as second:
        taken_first = plan(first, execution("first"), BUCKET, URL, limit=2)  # its claims not committed yet
        taken_second = plan(second, execution("second"), BUCKET, URL)
        second.commit()
        first.commit()
        assert (taken_first.deliveries, taken_second.deliveries) == (2, 3)
        ids = [d.id for made in (taken_first, taken_second) for batch in batches_of(made) for d in batch.deliveries]
        assert len(set(ids)) == 5

        assert plan(first, execution("third"), BUCKET, URL).deliveries == 0
        # A run that crashed: once its claims expire, another run takes its deliveries.
        first.execute(
            "UPDATE alert_deliveries SET claim_expires_at = now() - interval '1 second' WHERE claimed_by = %s",
            (execution("first"),),
        )
        assert plan(first, execution("fourth"), BUCKET, URL).deliveries == 2
        assert deliveries.release(first, execution("fourth")) == 2


# -- record --------------------------------------------------------------------------------------


def test_record_stores_what_each_delivery_came_to_and_backs_off_what_failed(database_url, s3):
    with psycopg.connect(database_url) as conn:
        for _ in range(4):
            subscribe(conn)
        matched(conn, "1", CLEANING)
        made, batches = planned(conn, "run-1", batch_size=2)
        (delivered, failed), (no_result, _) = [[d.id for d in batch.deliveries] for batch in batches]
        results_of(
            made,
            0,
            DeliveryResult(id=delivered, delivered=True),
            DeliveryResult(id=failed, delivered=False, error="HTTP 500"),
        )

        counts = record(conn, execution("run-1"), made)
        assert counts.model_dump() == {
            "deliveries": 4,
            "subscriptions": 4,
            "emails": 4,
            "webhooks": 0,
            "delivered": 1,
            "failed": 3,
            "undelivered": 3,
            "paused": 0,
        }
        assert state(conn, delivered) == {
            "status": "delivered",
            "attempts": 1,
            "last_error": None,
            "claimed_by": None,
            "delivered": True,
            "due_in_minutes": pytest.approx(0, abs=1),
        }
        assert state(conn, failed) == {
            "status": "pending",
            "attempts": 1,
            "last_error": "HTTP 500",
            "claimed_by": None,
            "delivered": False,
            "due_in_minutes": 2,
        }
        assert state(conn, no_result)["last_error"] == NO_RESULT == "its batch ended without a result"

        # Each failure waits twice as long as the one before, up to 6 hours.
        conn.execute("UPDATE alert_deliveries SET attempts = 4 WHERE id = %s", (failed,))
        conn.execute("UPDATE alert_deliveries SET attempts = 12 WHERE id = %s", (no_result,))
        make_due(conn)
        again, _ = planned(conn, "run-2")
        assert record(conn, execution("run-2"), again).failed == 3
        assert (state(conn, failed)["attempts"], state(conn, failed)["due_in_minutes"]) == (5, 32)
        assert (state(conn, no_result)["attempts"], state(conn, no_result)["due_in_minutes"]) == (13, 360)


def test_a_delivery_its_batch_had_no_time_for_is_due_again_at_once_and_counts_no_attempt(database_url, s3):
    with psycopg.connect(database_url) as conn:
        webhook = subscribe(conn, channel="webhook")
        matched(conn, "1", CLEANING)
        made, batches = planned(conn, "run-1")
        (delivery,) = batches[0].deliveries
        results_of(made, 0, DeliveryResult(id=delivery.id, delivered=False, error=OUT_OF_TIME, attempted=False))
        counts = record(conn, execution("run-1"), made)
        conn.commit()
        assert (counts.failed, counts.undelivered) == (1, 0)
        attempts, due_now = not_none(
            conn.execute(
                "SELECT attempts, due_at <= now() FROM alert_deliveries WHERE id = %s", (delivery.id,)
            ).fetchone()
        )
        assert (attempts, due_now) == (0, True)
        assert not_none(subscriptions.get(conn, webhook)).failing_since is None
        assert planned(conn, "run-2")[0].deliveries == 1


def test_a_webhook_failing_for_a_day_is_paused_and_a_success_clears_its_failing(database_url, s3):
    with psycopg.connect(database_url) as conn:
        failing, recovering = subscribe(conn, channel="webhook"), subscribe(conn, channel="webhook")
        email = subscribe(conn)

        def attempt(name: str, *, recovers: bool) -> int:
            made, batches = planned(conn, name)
            results_of(
                made,
                0,
                *(
                    DeliveryResult(id=d.id, delivered=True)
                    if recovers and d.subscription in (recovering, email)
                    else DeliveryResult(id=d.id, delivered=False, error="timed out after 5 s")
                    for batch in batches
                    for d in batch.deliveries
                ),
            )
            paused = record(conn, execution(name), made).paused
            conn.commit()
            return paused

        def failing_since(subscription: int) -> datetime | None:
            return not_none(subscriptions.get(conn, subscription)).failing_since

        matched(conn, "1", CLEANING)
        assert attempt("run-1", recovers=False) == 0
        since = not_none(failing_since(failing))
        assert failing_since(recovering) and failing_since(email) is None

        # Still failing a day later: paused, saying since when and why.
        conn.execute(
            "UPDATE alert_subscriptions SET failing_since = failing_since - interval '1 day' WHERE channel = 'webhook'"
        )
        make_due(conn)
        assert attempt("run-2", recovers=True) == 1
        paused = not_none(subscriptions.get(conn, failing))
        day = (since - timedelta(days=1)).astimezone(UTC).date().isoformat()
        assert paused.paused_at and paused.paused_reason == f"webhook failing since {day}: timed out after 5 s"
        assert failing_since(recovering) is None
        assert not_none(subscriptions.get(conn, recovering)).paused_at is None

        # A paused subscription's deliveries wait; resumed, they are due at once.
        make_due(conn)
        assert planned(conn, "run-3")[0].deliveries == 0
        subscriptions.resume(conn, failing)
        conn.commit()
        assert planned(conn, "run-4")[0].deliveries == 1


# -- what fails never names an address -----------------------------------------------------------


def test_no_address_or_url_is_in_the_errors_of_matching_or_deliveries(database_url, s3):
    with psycopg.connect(database_url) as conn:
        subscribe(conn), subscribe(conn, channel="webhook")
        event = matched(conn, "1", CLEANING)
        made, batches = planned(conn, "run-1")
        errors: list[BaseException] = []

        # A batch that is not what plan writes (from another version, say): what is wrong, not what was there.
        key = batch_key(made.batchesPrefix, 0)
        items = get_json(BUCKET, key)
        del items["deliveries"][0]["createdAt"]
        put_json(BUCKET, key, items)
        with pytest.raises(ValueError) as malformed_items:
            record(conn, execution("run-1"), made)
        errors.append(malformed_items.value)
        put_json(BUCKET, key, batches[0].model_dump(mode="json"))

        boto3.client("s3", region_name="us-east-1").delete_object(Bucket=BUCKET, Key=key)
        with pytest.raises(ArtifactMissing) as items_gone:
            record(conn, execution("run-1"), made)
        errors.append(items_gone.value)

        conn.rollback()
        deliveries.release(conn, execution("run-1"))
        conn.commit()
        with pytest.raises(ClientError) as no_bucket:
            plan(conn, execution("run-2"), "no-such-bucket", URL)
        errors.append(no_bucket.value)
        conn.rollback()

        conn.execute("SET lock_timeout = '1ms'")
        with psycopg.connect(database_url) as other:
            other.execute("LOCK TABLE alert_events IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(psycopg.errors.LockNotAvailable) as locked_out:
                match_event(conn, event + "/again", "alerts-2")
        errors.append(locked_out.value)

    assert len(errors) == 4
    assert "createdAt" in str(errors[0])
    for error in errors:
        text = "".join(traceback.format_exception(error))
        assert EMAIL not in text and WEBHOOK not in text and "127.0.0.1" not in text, text


def test_a_run_with_nothing_due_plans_and_records_nothing(database_url, s3):
    with psycopg.connect(database_url) as conn:
        made, batches = planned(conn, "run-1")
        assert (made.batches, made.deliveries, batches) == (0, 0, [])
        assert set(record(conn, execution("run-1"), made).model_dump().values()) == {0}
