"""Alert subscriptions against a real PostgreSQL: each value checked before anything is written, a webhook's
signing secret shown once and stored encrypted, the match terms the trigger derives (also for a row the product's
app inserts itself), pausing, resuming, removing and rotating."""

from decimal import Decimal

import psycopg
import pytest

from tender_sync.alerts import secrets, subscriptions
from tender_sync.alerts.matching import match_event
from tender_sync.alerts.models import Filters, NewSubscription
from tender_sync.alerts.subscriptions import InvalidSubscription
from tests.helpers import not_none
from tests.helpers.alert_sending import KEY
from tests.helpers.alerts import EMAIL, SERVICES, WEBHOOK, alert_tender, store_and_announce, subscribe


def test_a_subscription_is_stored_with_its_filters_and_listed(database_url):
    new = NewSubscription(
        channel="email",
        address=EMAIL,
        filters=Filters(
            categories=[SERVICES],
            provinces=["Gauteng", "Western Cape"],
            buyers=["health"],
            query="security -cleaning",
            min_value=Decimal("250000.50"),
        ),
        frequency="daily",
        updates=True,
    )
    with psycopg.connect(database_url) as conn:
        added, secret = subscriptions.add(conn, new, KEY)
        assert secret is None
        assert added.model_dump(include=set(NewSubscription.model_fields)) == new.model_dump()
        assert (added.paused_at, added.paused_reason, added.failing_since) == (None, None, None)
        assert subscriptions.list_all(conn) == [added]
        assert subscriptions.get(conn, added.id) == added
        assert subscriptions.get(conn, added.id + 1) is None


def test_a_webhook_gets_a_signing_secret_shown_once_and_stored_encrypted(database_url):
    with psycopg.connect(database_url) as conn:
        added, secret = subscriptions.add(
            conn, NewSubscription(channel="webhook", address=WEBHOOK), KEY, allow_loopback=True
        )
        (stored,) = not_none(
            conn.execute("SELECT signing_secret FROM alert_subscriptions WHERE id = %s", (added.id,)).fetchone()
        )
    assert secret and secret.startswith("whsec_")
    assert stored != secret and secret not in stored
    assert secrets.decrypt(stored, KEY) == secret
    assert secret not in added.model_dump_json()


@pytest.mark.parametrize(
    ("channel", "address", "filters", "refused"),
    [
        ("email", "x@", {}, "--email: 'x@' is not an email address"),
        ("email", "someone at example.org", {}, "--email: 'someone at example.org' is not an email address"),
        ("webhook", "http://169.254.169.254/", {}, "--webhook: the webhook URL is not HTTPS"),
        (
            "webhook",
            "https://169.254.169.254/latest/meta-data/",
            {},
            "--webhook: the webhook's host resolves to a link-local address",
        ),
        ("webhook", "https://10.0.0.8/hook", {}, "--webhook: the webhook's host resolves to a private address"),
        ("webhook", WEBHOOK, {}, "--webhook: the webhook URL is not HTTPS"),  # loopback not allowed here
        ("email", EMAIL, {"categories": ["Cleanin"]}, "--category: 'Cleanin' is not a portal category"),
        ("email", EMAIL, {"provinces": ["Gauteng", "Gautng"]}, "--province: 'Gautng' is not a portal province"),
        ("email", EMAIL, {"buyers": [" "]}, "--buyer: ' ' is empty"),
        ("email", EMAIL, {"query": "a & ("}, "--query: 'a & (' has no words to search for"),
        ("email", EMAIL, {"query": "the and or"}, "--query: 'the and or' has no words to search for"),
        ("email", EMAIL, {"query": "roads\x00"}, "--query: 'roads\\x00' is not a query PostgreSQL can parse"),
        ("email", EMAIL, {"min_value": Decimal(-1)}, "--min-value: must be at least 0"),
    ],
)
def test_each_value_refused_is_named_in_one_line_and_nothing_is_written(
    database_url, channel, address, filters, refused
):
    new = NewSubscription(channel=channel, address=address, filters=Filters(**filters))
    with psycopg.connect(database_url) as conn:
        with pytest.raises(InvalidSubscription) as raised:
            subscriptions.add(conn, new, KEY, allow_loopback=False)
        conn.commit()
        assert str(raised.value).startswith(refused)
        assert "\n" not in str(raised.value)
        assert subscriptions.list_all(conn) == []


def test_a_query_that_parses_and_has_words_is_taken_even_when_it_only_excludes(database_url):
    with psycopg.connect(database_url) as conn:
        for query in ("security -cleaning", '"office furniture" or chairs', "-cleaning"):
            subscriptions.validate(conn, NewSubscription(channel="email", address=EMAIL, filters=Filters(query=query)))


def match_terms(conn: psycopg.Connection, subscription: int) -> list[str]:
    (terms,) = not_none(
        conn.execute("SELECT match_terms FROM alert_subscriptions WHERE id = %s", (subscription,)).fetchone()
    )
    return sorted(terms)


def test_the_match_terms_come_from_the_most_selective_filter_that_has_them(database_url):
    with psycopg.connect(database_url) as conn:
        by_category = subscribe(conn, categories=[SERVICES, "Accommodation"], query="security", provinces=["Limpopo"])
        by_query = subscribe(conn, query='"office furniture" or chairs', provinces=["Limpopo"])
        by_province = subscribe(conn, query="-cleaning", provinces=["Limpopo", "Free State"])
        unkeyed = subscribe(conn, query="-cleaning", buyers=["health"], min_value=1000)
        everything = subscribe(conn)

        assert match_terms(conn, by_category) == ["cp:Accommodation|Limpopo", f"cp:{SERVICES}|Limpopo"]
        assert match_terms(conn, by_query) == ["q:chair", "q:furnitur", "q:offic"]
        assert match_terms(conn, by_province) == ["p:Free State", "p:Limpopo"]
        assert match_terms(conn, unkeyed) == match_terms(conn, everything) == []

        # Derived again on every change, and for a row the product's app writes itself.
        conn.execute("UPDATE alert_subscriptions SET provinces = '{}' WHERE id = %s", (by_category,))
        assert match_terms(conn, by_category) == ["c:Accommodation", f"c:{SERVICES}"]
        conn.execute("UPDATE alert_subscriptions SET categories = '{}' WHERE id = %s", (by_category,))
        assert match_terms(conn, by_category) == ["q:secur"]
        (inserted,) = not_none(
            conn.execute(
                "INSERT INTO alert_subscriptions (channel, address, query) VALUES ('email', %s, %s) RETURNING id",
                (EMAIL, "O'Brien's roads"),
            ).fetchone()
        )
        assert match_terms(conn, inserted) == ["q:brien", "q:o", "q:road"]


def test_only_a_webhook_has_a_signing_secret(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        for channel, secret in (("webhook", None), ("email", "sealed")):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(
                    "INSERT INTO alert_subscriptions (channel, address, signing_secret) VALUES (%s, 'a', %s)",
                    (channel, secret),
                )


def delivery(conn: psycopg.Connection, subscription: int, due_in_hours: float) -> None:
    conn.execute(
        "INSERT INTO alert_deliveries (id, subscription_id, event_id, due_at, attempts)"
        " VALUES (alert_delivery_id(%s, 'e'), %s, 'e', now() + make_interval(secs => %s), 3)",
        (subscription, subscription, due_in_hours * 3600),
    )


def test_pause_resume_and_remove(database_url):
    with psycopg.connect(database_url) as conn:
        webhook = subscribe(conn, channel="webhook")
        other = subscribe(conn)
        delivery(conn, webhook, 5)
        conn.execute(
            "UPDATE alert_subscriptions SET failing_since = now() - interval '2 hours' WHERE id = %s", (webhook,)
        )

        assert subscriptions.pause(conn, webhook, "on holiday")
        paused = not_none(subscriptions.get(conn, webhook))
        assert paused.paused_at and paused.paused_reason == "on holiday"
        assert subscriptions.pause(conn, webhook, "unsubscribed")
        again = not_none(subscriptions.get(conn, webhook))
        assert (again.paused_at, again.paused_reason) == (paused.paused_at, "unsubscribed")

        assert subscriptions.resume(conn, webhook)
        resumed = not_none(subscriptions.get(conn, webhook))
        assert (resumed.paused_at, resumed.paused_reason, resumed.failing_since) == (None, None, None)
        (due_now,) = not_none(
            conn.execute(
                "SELECT due_at <= now() FROM alert_deliveries WHERE subscription_id = %s", (webhook,)
            ).fetchone()
        )
        assert due_now

        missing = other + 100
        assert not subscriptions.pause(conn, missing, "x")
        assert not subscriptions.resume(conn, missing)
        assert not subscriptions.remove(conn, missing)
        assert subscriptions.remove(conn, webhook)
        assert [s.id for s in subscriptions.list_all(conn)] == [other]
        assert conn.execute("SELECT count(*) FROM alert_deliveries").fetchone() == (0,)


def test_removing_a_subscription_removes_what_it_was_told(database_url):
    with psycopg.connect(database_url) as conn:
        kept, removed = subscribe(conn), subscribe(conn)
        event = store_and_announce(conn, "exec-1", alert_tender("ocds-9t57fa-1"))
        match_event(conn, event, "alerts-1")
        assert subscriptions.remove(conn, removed)
        assert conn.execute("SELECT DISTINCT subscription_id FROM alert_notices").fetchall() == [(kept,)]
        assert conn.execute("SELECT DISTINCT subscription_id FROM alert_deliveries").fetchall() == [(kept,)]


def test_rotating_a_webhooks_secret_replaces_it(database_url):
    with psycopg.connect(database_url) as conn:
        added, first = subscriptions.add(
            conn, NewSubscription(channel="webhook", address=WEBHOOK), KEY, allow_loopback=True
        )
        second = subscriptions.rotate_secret(conn, added.id, KEY)
        (stored,) = not_none(
            conn.execute("SELECT signing_secret FROM alert_subscriptions WHERE id = %s", (added.id,)).fetchone()
        )
        assert second.startswith("whsec_") and second != first
        assert secrets.decrypt(stored, KEY) == second

        email = subscribe(conn)
        with pytest.raises(InvalidSubscription, match=f"subscription {email} is an email subscription"):
            subscriptions.rotate_secret(conn, email, KEY)
        with pytest.raises(InvalidSubscription, match=f"subscription {email + 1} does not exist"):
            subscriptions.rotate_secret(conn, email + 1, KEY)
