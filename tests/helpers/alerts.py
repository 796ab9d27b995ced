"""What the alerts' storage tests share: tenders with the fields the filters read, change events announcing them
(through the outbox, as a sync records them), subscriptions, and what each subscriber has been told."""

from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from tender_sync.alerts import subscriptions
from tender_sync.alerts.models import Filters, Frequency, NewSubscription
from tender_sync.changes import outbox
from tender_sync.changes.events import Change
from tender_sync.models.jobs import SyncJob, Window
from tender_sync.storage.tenders import store_tenders
from tests.helpers.alert_sending import KEY
from tests.helpers.database import SETTINGS, tender

EMAIL = "someone@example.org"
# A webhook the tests may add: loopback is allowed where they add it.
WEBHOOK = "http://127.0.0.1:9/hook"
SERVICES = "Services: Functional (Including Cleaning and Security Services)"
WINDOW = Window(date_from=date(2025, 9, 1), date_to=date(2025, 9, 8))


def alert_tender(
    ocid: str,
    day: str = "2025-09-01",
    title: str = "Cleaning",
    description: str | None = None,
    category: str | None = None,
    province: str | None = None,
    buyer: str | None = None,
    value: int | None = None,
) -> dict[str, Any]:
    """A normalized tender as store_tenders takes it, with what the alerts' filters read."""
    return {
        **tender(ocid, day=day, status="enriched" if category else "pending", category=category, title=title),
        "description": title if description is None else description,
        "province": province,
        "buyer_name": buyer,
        "value_amount": value,
    }


def announce(conn: psycopg.Connection, execution: str, changes: dict[str, Change]) -> str:
    """The change event a sync's execution records for these changes (by ocid). Returns its id."""
    job = SyncJob(jobId=None, executionId=execution, window=WINDOW)
    outbox.record(conn, SETTINGS.source_name, job, changes)
    return outbox.event_id(job)


def store_and_announce(conn: psycopg.Connection, execution: str, *tenders: dict[str, Any]) -> str:
    """The tenders stored (each new or updated as store_tenders finds it), and the event announcing them,
    committed (a sync stores each window in a transaction of its own)."""
    event = announce(conn, execution, store_tenders(conn, SETTINGS.source_name, tenders).changed)
    conn.commit()
    return event


def enrich(conn: psycopg.Connection, execution: str, ocid: str, category: str, province: str | None = None) -> str:
    """The tender's category (and province) found by a lookup, and the event announcing it enriched."""
    conn.execute(
        "UPDATE tenders SET detailed_category = %s, province = COALESCE(%s, province), enrichment_status = 'enriched'"
        " WHERE ocid = %s",
        (category, province, ocid),
    )
    return announce(conn, execution, {ocid: "enriched"})


def subscribe(
    conn: psycopg.Connection,
    channel: str = "email",
    frequency: Frequency = "instant",
    updates: bool = False,
    **filters: Any,
) -> int:
    """A subscription added as `alerts add` adds it (a webhook to WEBHOOK, loopback allowed). Returns its id."""
    if "min_value" in filters:
        filters["min_value"] = Decimal(filters["min_value"])
    new = NewSubscription(
        channel="webhook" if channel == "webhook" else "email",
        address=WEBHOOK if channel == "webhook" else EMAIL,
        filters=Filters(**filters),
        frequency=frequency,
        updates=updates,
    )
    subscription, _ = subscriptions.add(conn, new, KEY, allow_loopback=True)
    return subscription.id


def told(conn: psycopg.Connection) -> dict[int, list[str]]:
    """Each subscription's notices, as the ocids it has been (or will be) told of, in order."""
    rows = conn.execute(
        "SELECT subscription_id, array_agg(ocid ORDER BY ocid, release_date) FROM alert_notices GROUP BY 1"
    ).fetchall()
    return dict(rows)
