"""`make bench ARGS="--alerts"`: the alerts at scale, measured in one run on this machine.

One change event of N tenders (--size, default 10,000) is matched against S subscriptions (--subscriptions,
default 100,000) in a fresh database, then delivered. It prints:
1. match_event's time (the real matching query, which also inserts the notices and the instant deliveries),
   against evaluating the same predicate (PREDICATE AND NOT_TOLD) for every pair of a cross join: timed on a
   sample of CROSS_JOIN_TENDERS tenders x every subscription (the whole N x S pairs would take far too long) and
   scaled linearly by the number of tenders (target >= 20x); and whether the two found the same pairs for those
   tenders;
2. the alerts run's other database steps: make_digests and plan (in MatchAlerts' connection), record (in
   RecordDeliveries');
3. deliveries per second: deliver_batch over the DELIVERIES deliveries plan claimed (a run claims up to 2,000),
   webhooks to a receiver on 127.0.0.1 and emails to moto's SES, with no pause between emails;
4. the most PostgreSQL connections those steps held at once, from pg_stat_activity (target <= 2).

The tenders are the sample source's live tenders (local.sample_source.releases: the 200 real portal rows of
data/ocds/etenders-za/, recycled with fresh ocids; their categories, provinces, buyers and titles), every release
normalized, stored by store_tenders and announced by the outbox, as a sync's window is. The rows carry no value:
VALUED_SHARE of the tenders get one, so that minimum values have something to compare. The subscriptions are
COPYed in (their trigger derives match_terms), their filters drawn by MIX, seeded: the same on every run.
"""

import hashlib
import math
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from unittest import mock

import boto3
import psycopg
from moto import mock_aws

from local.bench import CONNECTIONS_TARGET, met
from local.bench.connection_peak import SYNC_APPLICATION_NAME, ConnectionPeak
from local.engine.database import fresh_database
from local.sample_source.releases import LiveTenders
from tender_sync.alerts import secrets
from tender_sync.alerts.deliveries import batch_key, make_digests, plan, record, result_key
from tender_sync.alerts.matching import DOCUMENT, NOT_TOLD, PAIRS_SQL, PREDICATE, match_event
from tender_sync.alerts.models import DeliveryBatch
from tender_sync.alerts.sending import deliver_batch
from tender_sync.alerts.taxonomy import CATEGORIES, PROVINCES
from tender_sync.changes import outbox
from tender_sync.models.jobs import SyncJob, Window
from tender_sync.source.normalize import normalize_release
from tender_sync.storage import database, migrations
from tender_sync.storage.artifacts import get_json, put_json
from tender_sync.storage.database import one_row
from tender_sync.storage.tenders import store_tenders

SUBSCRIPTIONS = 100_000
CROSS_JOIN_TENDERS = 100
DELIVERIES = 500
MATCH_VS_CROSS_JOIN_TARGET = 20
SEED = 20261207

# Each subscription's filters: one line of MIX, drawn by its share. "categories": 1-3 of the portal's categories
# (tender_sync.alerts.taxonomy); "provinces": 1-2 of its provinces; "query": 1-3 words of one tender's title
# (QUERY_WORDS_AT_MOST); "buyers": one buyer's name as the tenders give it; "min value": R100,000 to R10 million,
# log-uniformly. Every choice is uniform. The last line has no filter: it matches every tender.
MIX: list[tuple[float, tuple[str, ...]]] = [
    (0.45, ("categories", "provinces")),
    (0.15, ("categories",)),
    (0.10, ("categories", "query")),
    (0.10, ("query", "provinces")),
    (0.1199, ("query",)),
    (0.03, ("buyers",)),
    (0.05, ("categories", "min value")),
    (0.0001, ()),
]
DAILY_SHARE = 0.3  # the rest instant
UPDATES_SHARE = 0.2  # also told of each newer release
WEBHOOK_SHARE = 0.1  # the rest email
# A query's words are the titles' words PostgreSQL searches by (no stop words) that are in at most this share of
# the titles: nobody searches by "supply" or "services" alone.
QUERY_WORDS_AT_MOST = 0.05
VALUED_SHARE = 0.5  # of the tenders, valued at R10,000 to R50 million, log-uniformly

SOURCE = "etenders-za"
SYNC_EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:SyncStateMachine:bench"
ALERTS_EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:AlertsStateMachine:bench"
REGION = "us-east-1"
BUCKET = "bench-alerts"
FROM_ADDRESS = "alerts@tenders.example.org"
UNSUBSCRIBE_URL = "https://tenders.example.org/unsubscribe"
TENDER_URL = "https://www.etenders.gov.za/tender/{ocid}"
KEY = hashlib.sha256(b"make bench --alerts").digest()

WORD = re.compile(r"[a-z]+")
WINDOW_SQL = "SELECT min(release_date)::date, max(release_date)::date + 1 FROM tenders"
TITLES_SQL = "SELECT title FROM tenders WHERE title IS NOT NULL ORDER BY ocid"
BUYERS_SQL = "SELECT DISTINCT buyer_name FROM tenders WHERE buyer_name IS NOT NULL ORDER BY 1"
SEARCHED_SQL = "SELECT word FROM unnest(%s::text[]) AS word WHERE numnode(websearch_to_tsquery('english', word)) > 0"
SUBSCRIPTION_COLUMNS = (
    "channel, address, categories, provinces, buyers, query, min_value, frequency, updates, signing_secret"
)
# The subscriptions by what keys them in the GIN index: the first of their match_terms' kind (c: category,
# q: query, p: province), or none (checked against every tender).
KEYED_SQL = "SELECT coalesce(left(match_terms[1], 1), '-'), count(*) FROM alert_subscriptions GROUP BY 1"
KEYS = {"c": "keyed by category", "q": "by query", "p": "by province", "-": "unkeyed"}
# Every pair of the sample's tenders and the subscriptions, through the same predicate and the same check of what
# each subscriber was told; each tender's document computed once, as MATCH_SQL computes it.
CROSS_JOIN_SQL = f"""
WITH sample AS MATERIALIZED (
    SELECT t.*, {DOCUMENT} AS document FROM tenders t WHERE t.ocid = ANY(%s)
)
SELECT s.id, t.ocid
  FROM sample t CROSS JOIN alert_subscriptions s
 WHERE s.paused_at IS NULL AND {PREDICATE} AND {NOT_TOLD}
"""
NOTICED_SQL = "SELECT subscription_id, ocid FROM alert_notices WHERE ocid = ANY(%s)"


# -- the tenders and the subscriptions -------------------------------------------------------------


def window_tenders(size: int) -> Iterator[dict[str, Any]]:
    """What UpsertTenders hands store_tenders for a window of `size` live tenders: every release, normalized."""
    live, rng = LiveTenders(), random.Random(SEED)
    for k in range(size):
        value = round(10 ** rng.uniform(4, math.log10(50e6))) if rng.random() < VALUED_SHARE else None
        for _, release in live.releases_of(k):
            yield {**normalize_release(release).model_dump(mode="json"), "value_amount": value}


def query_words(conn: psycopg.Connection, titles: list[str]) -> set[str]:
    """The words a query is made of: QUERY_WORDS_AT_MOST."""
    titles_with = Counter(word for title in titles for word in set(WORD.findall(title.lower())))
    rare = [word for word, count in titles_with.items() if count <= QUERY_WORDS_AT_MOST * len(titles)]
    return {word for (word,) in conn.execute(SEARCHED_SQL, (rare,))}


def subscription_rows(
    count: int, titles: list[str], buyers: list[str], words: set[str], webhook_url: str
) -> Iterator[tuple[Any, ...]]:
    """`count` subscriptions, each a row of SUBSCRIPTION_COLUMNS, their filters drawn by MIX from the portal's
    categories and provinces and the tenders' titles (`words` of them) and buyers."""
    rng = random.Random(SEED)
    categories, provinces = sorted(CATEGORIES), sorted(PROVINCES)
    title_words = [
        kept for kept in ([w for w in WORD.findall(title.lower()) if w in words] for title in titles) if kept
    ]
    shares, kinds = zip(*MIX, strict=True)
    secret = secrets.encrypt(secrets.new_signing_secret(), KEY)
    for number in range(count):
        [kind] = rng.choices(kinds, shares)
        title = rng.choice(title_words)
        webhook = rng.random() < WEBHOOK_SHARE
        yield (
            "webhook" if webhook else "email",
            webhook_url if webhook else f"reader{number}@example.org",
            rng.sample(categories, rng.randint(1, 3)) if "categories" in kind else [],
            rng.sample(provinces, rng.randint(1, 2)) if "provinces" in kind else [],
            [rng.choice(buyers)] if "buyers" in kind else [],
            " ".join(sorted(set(rng.choices(title, k=rng.randint(1, 3))), key=title.index))
            if "query" in kind
            else None,
            round(10 ** rng.uniform(5, 7)) if "min value" in kind else None,
            "daily" if rng.random() < DAILY_SHARE else "instant",
            rng.random() < UPDATES_SHARE,
            secret if webhook else None,
        )


def load(conn: psycopg.Connection, size: int, subscriptions: int, webhook_url: str) -> tuple[str, list[str]]:
    """A window of `size` tenders stored (streamed) and announced as a sync does it, the subscriptions drawn from
    them inserted, and the tables analyzed (as autovacuum keeps them). Returns the change event's id and the ocids
    it announces."""
    changed = store_tenders(conn, SOURCE, window_tenders(size)).changed
    first, last = one_row(conn.execute(WINDOW_SQL))
    job = SyncJob(jobId=None, executionId=SYNC_EXECUTION, window=Window(date_from=first, date_to=last))
    outbox.record(conn, SOURCE, job, changed)
    titles = [title for (title,) in conn.execute(TITLES_SQL)]
    buyers = [buyer for (buyer,) in conn.execute(BUYERS_SQL)]
    words = query_words(conn, titles)
    with conn.cursor() as cur, cur.copy(f"COPY alert_subscriptions ({SUBSCRIPTION_COLUMNS}) FROM STDIN") as copy:
        for row in subscription_rows(subscriptions, titles, buyers, words, webhook_url):
            copy.write_row(row)
    conn.commit()
    conn.execute("ANALYZE")
    return outbox.event_id(job), sorted(changed)


# -- the webhook receiver ---------------------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def webhook_receiver() -> Iterator[str]:
    """A receiver on 127.0.0.1 answering every POST 204: its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/tenders"
    finally:
        server.shutdown()
        server.server_close()


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class AlertFigures:
    tenders: int
    subscriptions: int
    keyed: dict[str, int]  # the subscriptions by what keys them: KEYS
    cross_join_tenders: int
    cross_join_seconds: float
    cross_join_pairs: int
    indexed_pairs: int  # the notices match_event made for the cross join's tenders
    agree: bool  # the same pairs
    # The matching query's pairs found, without writing them (PAIRS_SQL): what compares with the cross join.
    pairs: int
    pairs_seconds: float
    match_seconds: float
    notices: int
    matched_subscriptions: int
    instant_deliveries: int
    digest_seconds: float
    digests: int
    plan_seconds: float
    planned: int
    deliver_seconds: float
    emails: int
    webhooks: int
    delivered: int
    record_seconds: float
    peak_connections: int
    connection_samples: int

    @property
    def cross_join_estimate(self) -> float:
        """The cross join's seconds scaled linearly to every tender of the event."""
        return self.cross_join_seconds * self.tenders / self.cross_join_tenders

    @property
    def vs_cross_join(self) -> float:
        """Finding the pairs by the index, against evaluating the predicate for every pair."""
        return self.cross_join_estimate / self.pairs_seconds

    @property
    def match_vs_cross_join(self) -> float:
        """match_event, which writes each pair as a notice too, against the cross join, which writes nothing."""
        return self.cross_join_estimate / self.match_seconds

    @property
    def deliveries_per_second(self) -> float:
        return self.planned / self.deliver_seconds


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def bench_alerts(
    url: str,
    size: int,
    subscriptions: int = SUBSCRIPTIONS,
    cross_join_tenders: int = CROSS_JOIN_TENDERS,
    deliveries: int = DELIVERIES,
) -> AlertFigures:
    """An alerts run for a change event of `size` tenders against `subscriptions` subscriptions, in the migrated,
    empty database at `url`."""
    with webhook_receiver() as webhook_url, psycopg.connect(url) as conn:
        event, ocids = load(conn, size, subscriptions, webhook_url)
        keyed: dict[str, int] = dict(conn.execute(KEYED_SQL).fetchall())
        # Before the match: afterwards NOT_TOLD would rule out every pair it noticed.
        sample = ocids[:: max(1, len(ocids) // cross_join_tenders)][:cross_join_tenders]
        crossed, cross_join_seconds = timed(lambda: set(conn.execute(CROSS_JOIN_SQL, (sample,)).fetchall()))
        (pairs,), pairs_seconds = timed(lambda: one_row(conn.execute(PAIRS_SQL, {"event": event})))
        conn.commit()
        with (
            mock_aws(),
            mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION, "WEBHOOK_ALLOW_LOOPBACK": "1"}),
            ConnectionPeak(url) as peak,
        ):
            steps = alerts_run(url, event, deliveries)
        noticed = set(conn.execute(NOTICED_SQL, (sample,)).fetchall())
    return AlertFigures(
        tenders=len(ocids),
        subscriptions=subscriptions,
        keyed=keyed,
        cross_join_tenders=len(sample),
        cross_join_seconds=cross_join_seconds,
        cross_join_pairs=len(crossed),
        indexed_pairs=len(noticed),
        agree=crossed == noticed,
        pairs=pairs,
        pairs_seconds=pairs_seconds,
        peak_connections=peak.peak,
        connection_samples=peak.samples,
        **steps,
    )


def alerts_run(url: str, event: str, deliveries: int) -> dict[str, Any]:
    """The alerts run's steps as tender_sync.runs.alerts takes them, each database step on its function's one
    connection: MatchAlerts (match, digests, plan), DeliverAlerts' batches (no database), RecordDeliveries. S3 and
    SES are moto's."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    ses = boto3.client("sesv2", region_name=REGION)
    ses.create_email_identity(EmailIdentity=FROM_ADDRESS)
    with database.connect(url) as conn:
        matched, match_seconds = timed(lambda: match_event(conn, event, ALERTS_EXECUTION))
        conn.commit()
        # Hour 0: the day's digests are due whatever the time.
        digests, digest_seconds = timed(lambda: make_digests(conn, datetime.now(UTC), digest_hour=0))
        conn.commit()
        delivery_plan, plan_seconds = timed(lambda: plan(conn, ALERTS_EXECUTION, BUCKET, TENDER_URL, limit=deliveries))
    batches = [
        DeliveryBatch.model_validate(get_json(BUCKET, batch_key(delivery_plan.batchesPrefix, number)))
        for number in range(delivery_plan.batches)
    ]
    results, deliver_seconds = timed(
        lambda: [
            deliver_batch(
                batch,
                ses=ses,
                from_address=FROM_ADDRESS,
                configuration_set="",
                unsubscribe_url=UNSUBSCRIBE_URL,
                key=KEY,
                seconds_between_emails=0,
                time_left=lambda: math.inf,
            )
            for batch in batches
        ]
    )
    for result in results:
        put_json(BUCKET, result_key(delivery_plan.resultsPrefix, result.batch), result.model_dump(mode="json"))
    with database.connect(url) as conn:
        counts, record_seconds = timed(lambda: record(conn, ALERTS_EXECUTION, delivery_plan))
    return {
        "match_seconds": match_seconds,
        "notices": matched.notices,
        "matched_subscriptions": matched.subscriptions,
        "instant_deliveries": matched.deliveries,
        "digest_seconds": digest_seconds,
        "digests": digests,
        "plan_seconds": plan_seconds,
        "planned": delivery_plan.deliveries,
        "deliver_seconds": deliver_seconds,
        "emails": counts.emails,
        "webhooks": counts.webhooks,
        "delivered": counts.delivered,
        "record_seconds": record_seconds,
    }


def run(server_url: str, size: int, subscriptions: int) -> AlertFigures:
    """bench_alerts in a fresh database on the server."""
    with fresh_database(server_url) as url:
        with psycopg.connect(url) as conn:
            migrations.migrate(conn)
        return bench_alerts(url, size, subscriptions)


def report(figures: AlertFigures) -> None:
    keyed = ", ".join(f"{figures.keyed.get(key, 0):,} {name}" for key, name in KEYS.items())
    target = met(figures.vs_cross_join >= MATCH_VS_CROSS_JOIN_TARGET)
    print(
        f"1. matching: one change event of {figures.tenders:,} tenders, {figures.subscriptions:,} subscriptions "
        f"({keyed})\n"
        f"   cross join, PREDICATE AND NOT_TOLD on every pair: {figures.cross_join_seconds:.2f} s for "
        f"{figures.cross_join_tenders} tenders x {figures.subscriptions:,} subscriptions, scaled linearly to "
        f"{figures.tenders:,} tenders\n"
        f"                                    {figures.cross_join_estimate:6.1f} s\n"
        f"   the matching query's pairs, found  {figures.pairs_seconds:6.1f} s  {figures.pairs:,} pairs: "
        f"{figures.vs_cross_join:.1f}x faster than the cross join (target >= {MATCH_VS_CROSS_JOIN_TARGET}x: "
        f"{target})\n"
        f"   match_event, the pairs written    {figures.match_seconds:6.1f} s  {figures.notices:,} notices for "
        f"{figures.matched_subscriptions:,} subscriptions, {figures.instant_deliveries:,} instant deliveries: "
        f"{figures.match_vs_cross_join:.1f}x the cross join, which writes nothing\n"
        f"   on those {figures.cross_join_tenders} tenders: {figures.cross_join_pairs:,} pairs by the cross join, "
        f"{figures.indexed_pairs:,} by match_event: {'the same' if figures.agree else 'NOT THE SAME'}"
    )
    print(
        f"2. the run's other database steps: make_digests {figures.digest_seconds:.1f} s ({figures.digests:,} "
        f"digests), plan {figures.plan_seconds:.1f} s ({figures.planned:,} deliveries claimed), record "
        f"{figures.record_seconds:.1f} s"
    )
    print(
        f"3. deliveries: {figures.planned:,} ({figures.emails:,} emails to moto's SES, {figures.webhooks:,} webhooks "
        f"to 127.0.0.1), no pause between emails: {figures.deliver_seconds:.1f} s, "
        f"{figures.deliveries_per_second:.0f} deliveries/s, {figures.delivered:,} delivered"
    )
    print(
        f"4. peak PostgreSQL connections of those steps (client backends in pg_stat_activity, application_name "
        f"'{SYNC_APPLICATION_NAME}'): {figures.peak_connections} ({figures.connection_samples:,} samples) "
        f"(target <= {CONNECTIONS_TARGET}: {met(figures.peak_connections <= CONNECTIONS_TARGET)})",
        flush=True,
    )


def summary(figures: AlertFigures) -> str:
    parts = [
        f"{figures.tenders:,} tenders x {figures.subscriptions:,} subscriptions",
        f"pairs found {figures.pairs_seconds:.1f} s, {figures.vs_cross_join:.1f}x the cross join "
        f"(>= {MATCH_VS_CROSS_JOIN_TARGET}x {met(figures.vs_cross_join >= MATCH_VS_CROSS_JOIN_TARGET)}), "
        f"{'same pairs' if figures.agree else 'DIFFERENT PAIRS'}",
        f"{figures.deliveries_per_second:.0f} deliveries/s",
        f"peak connections {figures.peak_connections} "
        f"(<= {CONNECTIONS_TARGET} {met(figures.peak_connections <= CONNECTIONS_TARGET)})",
    ]
    return "summary: " + " | ".join(parts)
