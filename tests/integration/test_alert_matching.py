"""Matching change events against subscriptions, on a real PostgreSQL: every filter, a subscriber told of a tender
once (and of its newer releases when it asked for updates), an event matched once however often it comes, and two
events matched at once never telling a tender twice."""

import hashlib
import threading
import time
from collections import Counter

import psycopg

from tender_sync.alerts import subscriptions
from tender_sync.alerts.matching import MATCH_SQL, match_event
from tender_sync.alerts.taxonomy import CATEGORIES
from tests.helpers.alerts import SERVICES, alert_tender, enrich, store_and_announce, subscribe, told

# Tenders each filter tells apart.
CLEANING = alert_tender(
    "ocds-9t57fa-1",
    title="Cleaning services for offices",
    category=SERVICES,
    province="Gauteng",
    buyer="Department of Health",
    value=50_000,
)
GUARDING = alert_tender(
    "ocds-9t57fa-2",
    title="Security guarding",
    description="Security services at the depot",
    category=SERVICES,
    province="Western Cape",
    buyer="City of Cape Town",
    value=2_000_000,
)
BOTH = alert_tender(
    "ocds-9t57fa-3",
    title="Security and cleaning of the hospital",
    category=SERVICES,
    province="Gauteng",
    buyer="Gauteng Department of HEALTH",
    value=900_000,
)
FURNITURE = alert_tender("ocds-9t57fa-4", title="Supply of office furniture", province="KwaZulu-Natal", value=None)
CHAIR = alert_tender("ocds-9t57fa-5", title="A boardroom chair", description="", province="Limpopo", buyer=None)
BACKWARDS = alert_tender("ocds-9t57fa-6", title="Furniture for the office", description="", category="Accommodation")
ALL = [CLEANING, GUARDING, BOTH, FURNITURE, CHAIR, BACKWARDS]


def ocids(*tenders) -> list[str]:
    return sorted(t["ocid"] for t in tenders)


def test_each_filter_and_none(database_url):
    with psycopg.connect(database_url) as conn:
        expected = {
            subscribe(conn): ALL,
            subscribe(conn, categories=[SERVICES]): [CLEANING, GUARDING, BOTH],
            subscribe(conn, categories=["Accommodation", "Air transport"]): [BACKWARDS],
            subscribe(conn, provinces=["Gauteng", "Limpopo"]): [CLEANING, BOTH, CHAIR],
            subscribe(conn, buyers=["health", "CAPE TOWN"]): [CLEANING, GUARDING, BOTH],
            subscribe(conn, query="security -cleaning"): [GUARDING],
            # A phrase in its order, or a word, stemmed: "chairs" finds a chair.
            subscribe(conn, query='"office furniture" or chairs'): [FURNITURE, CHAIR],
            # No term to key it: checked against every tender, and still matched.
            subscribe(conn, query="-cleaning"): [GUARDING, FURNITURE, CHAIR, BACKWARDS],
            subscribe(conn, query="-cleaning", provinces=["Gauteng", "Limpopo"]): [CHAIR],
            subscribe(conn, min_value=900_000): [GUARDING, BOTH],
            subscribe(conn, categories=[SERVICES], query="security", buyers=["health"], min_value=100): [BOTH],
            subscribe(conn, provinces=["Northern Cape"]): [],
        }
        event = store_and_announce(conn, "exec-1", *ALL)
        counts = match_event(conn, event, "alerts-1")

        got = told(conn)
        assert {sub: got.get(sub, []) for sub in expected} == {sub: ocids(*t) for sub, t in expected.items()}
        notices = sum(len(tenders) for tenders in expected.values())
        subscribed = sum(1 for tenders in expected.values() if tenders)
        assert counts.model_dump() == {
            "duplicate": False,
            "notices": notices,
            "deliveries": subscribed,
            "subscriptions": subscribed,
        }
        assert conn.execute("SELECT matched FROM alert_events WHERE event_id = %s", (event,)).fetchone() == (notices,)


def test_a_paused_subscription_is_not_matched(database_url):
    with psycopg.connect(database_url) as conn:
        paused, active = subscribe(conn), subscribe(conn)
        subscriptions.pause(conn, paused, "on holiday")
        match_event(conn, store_and_announce(conn, "exec-1", CLEANING), "alerts-1")
        assert told(conn) == {active: ocids(CLEANING)}


def test_instant_subscriptions_get_one_delivery_per_event_and_daily_ones_wait_for_their_digest(database_url):
    with psycopg.connect(database_url) as conn:
        instant, daily = subscribe(conn), subscribe(conn, frequency="daily")
        event = store_and_announce(conn, "exec-1", CLEANING, GUARDING)
        match_event(conn, event, "alerts-1")
        delivery = "msg_" + hashlib.sha256(f"{instant}/{event}".encode()).hexdigest()[:26]
        assert conn.execute(
            "SELECT id, subscription_id, event_id, status, attempts FROM alert_deliveries"
        ).fetchall() == [(delivery, instant, event, "pending", 0)]
        assert conn.execute(
            "SELECT subscription_id, delivery_id, change, event_id FROM alert_notices ORDER BY subscription_id, ocid"
        ).fetchall() == [
            (instant, delivery, "new", event),
            (instant, delivery, "new", event),
            (daily, None, "new", event),
            (daily, None, "new", event),
        ]


def test_an_event_delivered_twice_is_matched_once(database_url):
    with psycopg.connect(database_url) as conn:
        subscribe(conn)
        event = store_and_announce(conn, "exec-1", CLEANING)
        first = match_event(conn, event, "alerts-1")
        conn.commit()
        again = match_event(conn, event, "alerts-2")
        assert (first.duplicate, first.notices) == (False, 1)
        assert again.model_dump() == {"duplicate": True, "notices": 0, "deliveries": 0, "subscriptions": 0}
        assert conn.execute("SELECT execution_id FROM alert_events").fetchall() == [("alerts-1",)]
        assert conn.execute("SELECT count(*) FROM alert_notices").fetchone() == (1,)


def test_a_tender_is_told_once_whether_it_came_new_updated_or_enriched(database_url):
    with psycopg.connect(database_url) as conn:
        everything = subscribe(conn)
        services = subscribe(conn, categories=[SERVICES])
        pending = alert_tender("ocds-9t57fa-7", title="Cleaning of the depot")

        match_event(conn, store_and_announce(conn, "exec-1", pending), "alerts-1")
        assert told(conn) == {everything: ["ocds-9t57fa-7"]}

        # It gains its category: the category's subscriber hears of it now, for the first time.
        match_event(conn, enrich(conn, "exec-2", "ocds-9t57fa-7", SERVICES), "alerts-2")
        assert told(conn) == {everything: ["ocds-9t57fa-7"], services: ["ocds-9t57fa-7"]}
        assert conn.execute("SELECT change FROM alert_notices WHERE subscription_id = %s", (services,)).fetchall() == [
            ("enriched",)
        ]

        # A newer release: neither asked for updates.
        newer = alert_tender("ocds-9t57fa-7", day="2025-09-03", title="Cleaning of the depot", category=SERVICES)
        counts = match_event(conn, store_and_announce(conn, "exec-3", newer), "alerts-3")
        assert counts.notices == 0
        assert told(conn) == {everything: ["ocds-9t57fa-7"], services: ["ocds-9t57fa-7"]}


def test_a_subscription_with_updates_hears_of_each_newer_release_but_not_of_an_enrichment(database_url):
    with psycopg.connect(database_url) as conn:
        updates = subscribe(conn, updates=True)
        ocid = "ocds-9t57fa-8"
        match_event(conn, store_and_announce(conn, "exec-1", alert_tender(ocid)), "alerts-1")
        match_event(conn, enrich(conn, "exec-2", ocid, SERVICES), "alerts-2")
        assert told(conn) == {updates: [ocid]}

        newer = alert_tender(ocid, day="2025-09-04", category=SERVICES)
        counts = match_event(conn, store_and_announce(conn, "exec-3", newer), "alerts-3")
        assert (counts.notices, counts.deliveries) == (1, 1)
        assert conn.execute(
            "SELECT change, to_char(release_date AT TIME ZONE 'Africa/Johannesburg', 'YYYY-MM-DD') FROM alert_notices ORDER BY 2"
        ).fetchall() == [("new", "2025-09-01"), ("updated", "2025-09-04")]
        assert conn.execute("SELECT count(*) FROM alert_deliveries").fetchone() == (2,)


def test_two_events_matched_at_once_never_tell_a_tender_twice(database_url):
    """The first match holds its transaction open while the tender gets a newer release and a second event
    announces it: the second match waits for the first, and then sees what it told."""
    with psycopg.connect(database_url) as conn:
        once, updates = subscribe(conn), subscribe(conn, updates=True)
        first_event = store_and_announce(conn, "exec-1", CLEANING)
    matched, go = threading.Event(), threading.Event()
    results = {}

    def first() -> None:
        with psycopg.connect(database_url) as first_conn:
            results["first"] = match_event(first_conn, first_event, "alerts-1")
            matched.set()
            go.wait(timeout=30)

    def second(event: str) -> None:
        with psycopg.connect(database_url) as second_conn:
            results["second"] = match_event(second_conn, event, "alerts-2")

    first_thread = threading.Thread(target=first)
    first_thread.start()
    assert matched.wait(timeout=30)
    with psycopg.connect(database_url) as conn:
        newer = {**CLEANING, "release_id": "newer", "release_date": "2025-09-05T00:00:00+02:00"}
        second_event = store_and_announce(conn, "exec-2", newer)
    second_thread = threading.Thread(target=second, args=(second_event,))
    second_thread.start()
    time.sleep(0.5)
    assert second_thread.is_alive()  # waiting for the first match to commit
    go.set()
    first_thread.join(timeout=30)
    second_thread.join(timeout=30)

    assert results["first"].notices == 2 and results["second"].notices == 1
    with psycopg.connect(database_url) as conn:
        assert told(conn) == {once: [CLEANING["ocid"]], updates: [CLEANING["ocid"], CLEANING["ocid"]]}
        rows = conn.execute("SELECT subscription_id, event_id FROM alert_notices").fetchall()
        assert sorted(rows) == sorted([(once, first_event), (updates, first_event), (updates, second_event)])


def test_the_match_uses_the_subscriptions_index(database_url):
    """With many keyed subscriptions, each tender's candidates come from the GIN index on match_terms."""
    categories = sorted(CATEGORIES)
    chosen = [categories[n % len(categories)] for n in range(5000)]
    with psycopg.connect(database_url) as conn:
        with (
            conn.cursor() as cur,
            cur.copy("COPY alert_subscriptions (channel, address, categories) FROM STDIN") as copy,
        ):
            for category in chosen:
                copy.write_row(("email", "a@example.org", [category]))
        event = store_and_announce(conn, "exec-1", *ALL)
        conn.execute("ANALYZE alert_subscriptions")
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + MATCH_SQL, {"event": event}))
        assert "alert_subscriptions_match_terms_idx" in plan
        subscribed = Counter(chosen)
        assert match_event(conn, event, "alerts-1").notices == subscribed[SERVICES] * 3 + subscribed["Accommodation"]
