"""Deliveries: the daily digests made, the due deliveries claimed for a run and written to S3 as the Map's items
(like the lookups'), and what each came to recorded: delivered, or retried later with backoff, never dropped. A
webhook failing for a day is paused.

Runs at once never send the same delivery: a run claims what it plans (FOR UPDATE SKIP LOCKED, then claimed_by)
until it records the results, or the claim expires (a run that crashed strands nothing)."""

from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel

from tender_sync.alerts.models import (
    Channel,
    Delivery,
    DeliveryBatch,
    DeliveryBatchResult,
    DeliveryItem,
    DeliveryPlan,
    DeliveryResult,
    MatchedTender,
)
from tender_sync.source.publishers import SAST
from tender_sync.storage.artifacts import get_json, put_json, read_all_json, run_prefix
from tender_sync.storage.database import one_row

# The deliveries one Map child sends: at its share of the default email rate (one every 5 s) or at a webhook's
# whole timeout (5 s) each, 5 end within DeliverBatch's 30 s.
BATCH_SIZE = 5
# The most deliveries one run plans, oldest due first: a backlog drains this many a run.
MAX_DELIVERIES_PER_RUN = 2000
# The longest an alerts run may take (its state machine's timeout): MAX_DELIVERIES_PER_RUN emails at 1 a second
# take about 33 minutes.
RUN_TIMEOUT = timedelta(hours=1)
# How long a run holds the deliveries it planned before another run may take them: longer than the run itself can
# last, so no delivery is sent by two runs (a run that fails frees its claims at once, in FailAlerts).
CLAIM_DURATION = RUN_TIMEOUT + timedelta(minutes=10)
# A failed delivery is tried again 2^attempts minutes later, at most this much later.
BACKOFF_CAP = timedelta(hours=6)
# A webhook whose every delivery has failed for this long is paused.
PAUSE_AFTER = timedelta(days=1)
# A daily digest's event: digest/YYYY-MM-DD, the day in South Africa.
DIGEST_EVENT = "digest/{day}"
NO_RESULT = "its batch ended without a result"

# The day's digest of each subscription with notices waiting (a daily one's; or one made instant since), made
# once a day: a subscription with a digest for the day already keeps what came after it for the next.
DIGEST_SQL = """
WITH waiting AS (
    SELECT DISTINCT n.subscription_id
      FROM alert_notices n JOIN alert_subscriptions s ON s.id = n.subscription_id
     WHERE n.delivery_id IS NULL AND s.paused_at IS NULL
), made AS (
    INSERT INTO alert_deliveries (id, subscription_id, event_id)
    SELECT alert_delivery_id(subscription_id, %(event)s), subscription_id, %(event)s FROM waiting
    ON CONFLICT (id) DO NOTHING
    RETURNING id, subscription_id
), assigned AS (
    UPDATE alert_notices n SET delivery_id = made.id
      FROM made
     WHERE n.subscription_id = made.subscription_id AND n.delivery_id IS NULL
)
SELECT count(*) FROM made
"""

# Due, of an active subscription, and claimed by no other run (or by one whose claim expired; a claim of this
# execution's is its own, from a try of this step that failed).
CLAIM_SQL = """
WITH due AS (
    SELECT d.id
      FROM alert_deliveries d JOIN alert_subscriptions s ON s.id = d.subscription_id
     WHERE d.status = 'pending' AND d.due_at <= now() AND s.paused_at IS NULL
       AND (d.claimed_by IS NULL OR d.claimed_by = %(execution)s OR d.claim_expires_at <= now())
     ORDER BY d.due_at, d.id
     LIMIT %(limit)s
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE alert_deliveries d SET claimed_by = %(execution)s, claim_expires_at = now() + %(claim)s
  FROM due, alert_subscriptions s
 WHERE d.id = due.id AND s.id = d.subscription_id
RETURNING d.id, d.subscription_id, d.event_id, d.created_at, d.due_at, s.channel, s.address, s.signing_secret
"""

# Each delivery's tenders, once each (a tender noticed at two releases for one digest is listed once, by its
# first change), as they are stored now.
TENDERS_SQL = """
SELECT DISTINCT ON (n.delivery_id, n.ocid)
       n.delivery_id, n.ocid, n.change, t.title, t.description, t.buyer_name, t.detailed_category, t.province,
       t.close_date, t.value_amount
  FROM alert_notices n JOIN tenders t USING (ocid)
 WHERE n.delivery_id = ANY(%s)
 ORDER BY n.delivery_id, n.ocid, n.release_date
"""

# What each delivery came to; then, per webhook, whether it is failing (a success clears it) and, failing for
# PAUSE_AFTER, paused with its last error. A delivery another run has delivered meanwhile stays delivered.
RECORD_SQL = """
WITH outcome AS (
    SELECT * FROM unnest(%(ids)s::text[], %(delivered)s::boolean[], %(errors)s::text[], %(attempted)s::boolean[])
        AS o(id, delivered, error, attempted)
), not_attempted AS (
    UPDATE alert_deliveries d SET due_at = now()
      FROM outcome o
     WHERE d.id = o.id AND d.status = 'pending' AND NOT o.attempted
), updated AS (
    UPDATE alert_deliveries d SET
        attempts = d.attempts + 1,
        status = CASE WHEN o.delivered THEN 'delivered' ELSE 'pending' END,
        delivered_at = CASE WHEN o.delivered THEN now() END,
        last_error = o.error,
        due_at = CASE WHEN o.delivered THEN d.due_at
                      ELSE now() + LEAST(interval '1 minute' * 2 ^ LEAST(d.attempts + 1, 20), %(cap)s) END
      FROM outcome o
     WHERE d.id = o.id AND d.status = 'pending' AND o.attempted
    RETURNING d.subscription_id, o.delivered, o.error
), webhook AS (
    SELECT s.id AS subscription_id, bool_or(u.delivered) AS delivered,
           (array_agg(u.error) FILTER (WHERE NOT u.delivered))[1] AS error,
           NOT bool_or(u.delivered) AND s.paused_at IS NULL AND s.failing_since <= now() - %(pause_after)s AS pausing
      FROM updated u JOIN alert_subscriptions s ON s.id = u.subscription_id
     WHERE s.channel = 'webhook'
     GROUP BY s.id
), marked AS (
    UPDATE alert_subscriptions s SET
        failing_since = CASE WHEN w.delivered THEN NULL ELSE COALESCE(s.failing_since, now()) END,
        paused_at = CASE WHEN w.pausing THEN now() ELSE s.paused_at END,
        paused_reason = CASE WHEN w.pausing
            THEN 'webhook failing since ' || to_char(s.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ': ' || w.error
            ELSE s.paused_reason END
      FROM webhook w
     WHERE s.id = w.subscription_id
    RETURNING w.pausing
)
SELECT count(*) FILTER (WHERE pausing) FROM marked
"""
RELEASE_CLAIMS_SQL = "UPDATE alert_deliveries SET claimed_by = NULL, claim_expires_at = NULL WHERE claimed_by = %s"
# Failed at least once and not delivered yet, whichever run planned them, of the active subscriptions (a paused
# one's wait for it to be resumed, its reason shown by `alerts list`).
UNDELIVERED_SQL = """
SELECT count(*) FROM alert_deliveries d JOIN alert_subscriptions s ON s.id = d.subscription_id
 WHERE d.status = 'pending' AND d.attempts > 0 AND s.paused_at IS NULL
"""


class RecordCounts(BaseModel):
    """What a run's deliveries came to: planned (deliveries, of how many subscriptions; by channel: emails and
    webhooks), delivered and failed; pending after a failure, of every run (undelivered); webhooks paused now."""

    deliveries: int
    subscriptions: int
    emails: int
    webhooks: int
    delivered: int
    failed: int
    undelivered: int
    paused: int


def make_digests(conn: psycopg.Connection, now: datetime, digest_hour: int) -> int:
    """Once the day's digest hour has passed in South Africa, each subscription's digest for the day, holding the
    notices waiting for one. Returns how many were made now."""
    local = now.astimezone(SAST)
    if local.hour < digest_hour:
        return 0
    (made,) = one_row(conn.execute(DIGEST_SQL, {"event": DIGEST_EVENT.format(day=local.date().isoformat())}))
    return int(made)


def plan(
    conn: psycopg.Connection,
    execution_id: str,
    bucket: str,
    url_template: str,
    batch_size: int = BATCH_SIZE,
    limit: int = MAX_DELIVERIES_PER_RUN,
) -> DeliveryPlan:
    """The due deliveries, oldest due first (up to `limit`), claimed for this execution, each with its tenders
    (linked by url_template.format(ocid=...)), in batches of batch_size, each written to S3 as an object of its
    own; the Map's items are the batches' numbers."""
    claimed = (
        conn.cursor(row_factory=dict_row)
        .execute(CLAIM_SQL, {"execution": execution_id, "limit": limit, "claim": CLAIM_DURATION})
        .fetchall()
    )
    claimed.sort(key=lambda row: (row["due_at"], row["id"]))
    tenders: dict[str, list[MatchedTender]] = {row["id"]: [] for row in claimed}
    for row in conn.cursor(row_factory=dict_row).execute(TENDERS_SQL, (list(tenders),)):
        tenders[row["delivery_id"]].append(
            MatchedTender(
                ocid=row["ocid"],
                title=row["title"],
                description=row["description"],
                buyer=row["buyer_name"],
                detailedCategory=row["detailed_category"],
                province=row["province"],
                closeDate=row["close_date"],
                valueAmount=row["value_amount"],
                url=url_template.format(ocid=row["ocid"]),
                change=row["change"],
            )
        )
    deliveries = [
        Delivery(
            id=row["id"],
            subscription=row["subscription_id"],
            channel=row["channel"],
            address=row["address"],
            secret=row["signing_secret"],
            event=row["event_id"],
            createdAt=row["created_at"],
            tenders=tenders[row["id"]],
        )
        for row in claimed
    ]
    batches = [
        DeliveryBatch(batch=number, deliveries=deliveries[start : start + batch_size])
        for number, start in enumerate(range(0, len(deliveries), batch_size))
    ]
    prefix = run_prefix(execution_id)
    delivery_plan = DeliveryPlan(
        bucket=bucket,
        itemsKey=f"{prefix}deliveries.json",
        batchesPrefix=f"{prefix}deliveries/",
        resultsPrefix=f"{prefix}delivered/",
        batches=len(batches),
        deliveries=len(deliveries),
    )
    for batch in batches:
        put_json(bucket, batch_key(delivery_plan.batchesPrefix, batch.batch), batch.model_dump(mode="json"))
    put_json(bucket, delivery_plan.itemsKey, [DeliveryItem(batch=batch.batch).model_dump() for batch in batches])
    return delivery_plan


def batch_key(batches_prefix: str, batch: int) -> str:
    """Where a batch's DeliveryBatch is written."""
    return f"{batches_prefix}{batch:06d}.json"


def result_key(results_prefix: str, batch: int) -> str:
    """Where a batch's DeliveryBatchResult is written."""
    return f"{results_prefix}{batch:06d}.json"


def release(conn: psycopg.Connection, execution_id: str) -> int:
    """The execution's claims released: what it planned and did not record is due for the next run. Returns how
    many."""
    return conn.execute(RELEASE_CLAIMS_SQL, (execution_id,)).rowcount


def record(conn: psycopg.Connection, execution_id: str, plan: DeliveryPlan) -> RecordCounts:
    """What each planned delivery came to, from its batch's result (none: failed, NO_RESULT), stored: delivered, or
    due again after its backoff; webhooks' failing_since kept, and those failing for PAUSE_AFTER paused; and this
    execution's claims released."""
    batches = [
        DeliveryBatch.model_validate(get_json(plan.bucket, batch_key(plan.batchesPrefix, batch)))
        for batch in range(plan.batches)
    ]
    found = {
        result.batch: {each.id: each for each in result.results}
        for result in map(DeliveryBatchResult.model_validate, read_all_json(plan.bucket, plan.resultsPrefix))
    }
    ids: list[str] = []
    delivered: list[bool] = []
    errors: list[str | None] = []
    attempted: list[bool] = []
    channels: dict[Channel, int] = {"email": 0, "webhook": 0}
    subscriptions: set[int] = set()
    for batch in batches:
        results = found.get(batch.batch, {})
        for delivery in batch.deliveries:
            result = results.get(delivery.id) or DeliveryResult(id=delivery.id, delivered=False, error=NO_RESULT)
            ids.append(result.id)
            delivered.append(result.delivered)
            errors.append(result.error)
            attempted.append(result.attempted)
            channels[delivery.channel] += 1
            subscriptions.add(delivery.subscription)
    (paused,) = one_row(
        conn.execute(
            RECORD_SQL,
            {
                "ids": ids,
                "delivered": delivered,
                "errors": errors,
                "attempted": attempted,
                "cap": BACKOFF_CAP,
                "pause_after": PAUSE_AFTER,
            },
        )
    )
    release(conn, execution_id)
    (undelivered,) = one_row(conn.execute(UNDELIVERED_SQL))
    return RecordCounts(
        deliveries=len(ids),
        subscriptions=len(subscriptions),
        emails=channels["email"],
        webhooks=channels["webhook"],
        delivered=sum(delivered),
        failed=len(ids) - sum(delivered),
        undelivered=undelivered,
        paused=paused,
    )
