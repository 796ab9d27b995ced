"""Subscriptions, as `make cli ARGS="alerts ..."` manages them: checked before anything is written (the portal's
names, a query PostgreSQL can search with, a webhook this stack may call), added with a webhook's signing secret
(shown once, stored encrypted), listed, paused, resumed and removed. The product's app may write the table itself
(storage/migrations/007_alerts.sql)."""

import re
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tender_sync.alerts import secrets, targets
from tender_sync.alerts.models import Filters, NewSubscription, Subscription
from tender_sync.alerts.taxonomy import CATEGORIES, PROVINCES
from tender_sync.errors import DatabaseError
from tender_sync.storage.database import one_row

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

COLUMNS = (
    "id, channel, address, categories, provinces, buyers, query, min_value, frequency, updates, paused_at,"
    " paused_reason, failing_since, created_at"
)
# How many lexemes PostgreSQL finds in a query: none when it holds only stop words, or no words at all.
QUERY_WORDS_SQL = "SELECT numnode(websearch_to_tsquery('english', %s))"
INSERT_SQL = f"""
INSERT INTO alert_subscriptions
       (channel, address, categories, provinces, buyers, query, min_value, frequency, updates, signing_secret)
VALUES (%(channel)s, %(address)s, %(categories)s, %(provinces)s, %(buyers)s, %(query)s, %(min_value)s,
        %(frequency)s, %(updates)s, %(signing_secret)s)
RETURNING {COLUMNS}
"""
LIST_SQL = f"SELECT {COLUMNS} FROM alert_subscriptions ORDER BY id"
GET_SQL = f"SELECT {COLUMNS} FROM alert_subscriptions WHERE id = %s"
REMOVE_SQL = "DELETE FROM alert_subscriptions WHERE id = %s"
# Paused once: pausing again only gives the new reason.
PAUSE_SQL = "UPDATE alert_subscriptions SET paused_at = COALESCE(paused_at, now()), paused_reason = %s WHERE id = %s"
RESUME_SQL = "UPDATE alert_subscriptions SET paused_at = NULL, paused_reason = NULL, failing_since = NULL WHERE id = %s"
DUE_NOW_SQL = "UPDATE alert_deliveries SET due_at = now() WHERE subscription_id = %s AND status = 'pending'"
ROTATE_SQL = "UPDATE alert_subscriptions SET signing_secret = %s WHERE id = %s AND channel = 'webhook'"


class InvalidSubscription(ValueError):
    """A subscription refused, in one line naming the field and its value."""


def validate(conn: psycopg.Connection, new: NewSubscription, allow_loopback: bool | None = None) -> None:
    """InvalidSubscription, naming the first value refused: an address that is not an email address, or a webhook
    this stack will not call (tender_sync.alerts.targets); a category or province the portal does not list; an
    empty buyer; a query PostgreSQL cannot parse, or with no words to search for; a negative minimum value."""
    if new.channel == "email" and not EMAIL.fullmatch(new.address):
        raise InvalidSubscription(f"--email: {new.address!r} is not an email address")
    if new.channel == "webhook":
        try:
            targets.check(new.address, allow_loopback)
        except targets.WebhookRefused as refused:
            raise InvalidSubscription(f"--webhook: {refused}") from None
    filters = new.filters
    for category in filters.categories:
        if category not in CATEGORIES:
            raise InvalidSubscription(f"--category: {category!r} is not a portal category")
    for province in filters.provinces:
        if province not in PROVINCES:
            raise InvalidSubscription(f"--province: {province!r} is not a portal province")
    for buyer in filters.buyers:
        if not buyer.strip():
            raise InvalidSubscription(f"--buyer: {buyer!r} is empty")
    if filters.query is not None:
        _check_query(conn, filters.query)
    if filters.min_value is not None and filters.min_value < 0:
        raise InvalidSubscription("--min-value: must be at least 0")


def _check_query(conn: psycopg.Connection, query: str) -> None:
    try:
        with conn.transaction():
            (words,) = one_row(conn.execute(QUERY_WORDS_SQL, (query,)))
    except (psycopg.Error, UnicodeError):
        raise InvalidSubscription(f"--query: {query!r} is not a query PostgreSQL can parse") from None
    if not words:
        raise InvalidSubscription(f"--query: {query!r} has no words to search for (only stop words, or none)")


def add(
    conn: psycopg.Connection, new: NewSubscription, key: bytes, allow_loopback: bool | None = None
) -> tuple[Subscription, str | None]:
    """The subscription, validated then stored, and a webhook's signing secret (None for email): the only time it
    is shown, as it is stored encrypted with `key`. Nothing is written when it is refused."""
    validate(conn, new, allow_loopback)
    secret = secrets.new_signing_secret() if new.channel == "webhook" else None
    filters = new.filters
    row = conn.cursor(row_factory=dict_row).execute(
        INSERT_SQL,
        {
            "channel": new.channel,
            "address": new.address,
            "categories": filters.categories,
            "provinces": filters.provinces,
            "buyers": filters.buyers,
            "query": filters.query,
            "min_value": filters.min_value,
            "frequency": new.frequency,
            "updates": new.updates,
            "signing_secret": secrets.encrypt(secret, key) if secret else None,
        },
    )
    stored = row.fetchone()
    if stored is None:
        raise DatabaseError("an INSERT ... RETURNING returned no row")
    return _subscription(stored), secret


def list_all(conn: psycopg.Connection) -> list[Subscription]:
    return [_subscription(row) for row in conn.cursor(row_factory=dict_row).execute(LIST_SQL)]


def get(conn: psycopg.Connection, subscription: int) -> Subscription | None:
    row = conn.cursor(row_factory=dict_row).execute(GET_SQL, (subscription,)).fetchone()
    return _subscription(row) if row else None


def remove(conn: psycopg.Connection, subscription: int) -> bool:
    """The subscription deleted, with its notices and deliveries; False when there is none."""
    return conn.execute(REMOVE_SQL, (subscription,)).rowcount == 1


def pause(conn: psycopg.Connection, subscription: int, reason: str) -> bool:
    """Nothing more matched or delivered for it until it is resumed; False when there is no such subscription."""
    return conn.execute(PAUSE_SQL, (reason, subscription)).rowcount == 1


def resume(conn: psycopg.Connection, subscription: int) -> bool:
    """Matched and delivered again, no longer counted as failing, and what it still has pending due now; False when
    there is no such subscription."""
    if conn.execute(RESUME_SQL, (subscription,)).rowcount != 1:
        return False
    conn.execute(DUE_NOW_SQL, (subscription,))
    return True


def rotate_secret(conn: psycopg.Connection, subscription: int, key: bytes) -> str:
    """A new signing secret for a webhook, stored encrypted with `key` in place of its old one, which stops working
    at once."""
    secret = secrets.new_signing_secret()
    if conn.execute(ROTATE_SQL, (secrets.encrypt(secret, key), subscription)).rowcount == 1:
        return secret
    found = get(conn, subscription)
    if found is None:
        raise InvalidSubscription(f"subscription {subscription} does not exist")
    raise InvalidSubscription(f"subscription {subscription} is an {found.channel} subscription: it has no secret")


def _subscription(row: dict[str, Any]) -> Subscription:
    return Subscription(
        id=row["id"],
        channel=row["channel"],
        address=row["address"],
        filters=Filters(
            categories=row["categories"],
            provinces=row["provinces"],
            buyers=row["buyers"],
            query=row["query"],
            min_value=row["min_value"],
        ),
        frequency=row["frequency"],
        updates=row["updates"],
        paused_at=row["paused_at"],
        paused_reason=row["paused_reason"],
        failing_since=row["failing_since"],
        created_at=row["created_at"],
    )
