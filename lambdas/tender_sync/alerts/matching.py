"""Matching: a change event's tenders against the active subscriptions, once per event (the alert_events ledger).

A subscriber hears of a tender once, the first time it matches, whatever the change (new, updated, or enriched:
it gained its category); one that asked for updates also hears of each later newer release. What it is told is
recorded as notices; an instant subscription gets one delivery per event, a daily one waits for its digest
(tender_sync.alerts.deliveries.make_digests).

One query finds the pairs: each tender's terms (c:category, p:province, q:each lexeme of its title and
description) against the subscriptions' match_terms through their GIN index, with the subscriptions no term can
key added to every tender; then every filter (PREDICATE) and what each subscriber was already told."""

import psycopg
from pydantic import BaseModel

from tender_sync.storage.database import one_row

# Matching one event at a time: two events at once that change the same tender must not both notify it.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('tender_sync.alerts.match'))"
LEDGER_SQL = "INSERT INTO alert_events (event_id, execution_id) VALUES (%s, %s) ON CONFLICT (event_id) DO NOTHING"
MATCHED_SQL = "UPDATE alert_events SET matched = %s WHERE event_id = %s"

# A tender's text as the subscriptions' queries search it (t: a tenders row).
DOCUMENT = "to_tsvector('english', coalesce(t.title, '') || ' ' || coalesce(t.description, ''))"

# Whether subscription s matches tender t: t a tenders row with its `document` (DOCUMENT), s an
# alert_subscriptions row. Each filter is optional; one with none matches every tender.
PREDICATE = """
    (cardinality(s.categories) = 0 OR t.detailed_category = ANY (s.categories))
AND (cardinality(s.provinces) = 0 OR t.province = ANY (s.provinces))
AND (cardinality(s.buyers) = 0
     OR EXISTS (SELECT 1 FROM unnest(s.buyers) AS buyer WHERE strpos(lower(t.buyer_name), lower(buyer)) > 0))
AND (s.query IS NULL OR t.document @@ websearch_to_tsquery('english', s.query))
AND (s.min_value IS NULL OR t.value_amount >= s.min_value)
"""

# Not yet told of the tender; or, when s asked for updates, not of this release nor a newer one.
NOT_TOLD = """
NOT EXISTS (SELECT 1 FROM alert_notices n
             WHERE n.subscription_id = s.id AND n.ocid = t.ocid
               AND (NOT s.updates OR n.release_date >= t.release_date))
"""

# The event's tenders, and for each the subscriptions it may match: those a term of its keys through the GIN index,
# and the unkeyed ones its buyer lets through. The event's tenders are materialized: each one's document and terms
# computed once, and its terms a plain value the GIN index scan takes.
CANDIDATES = f"""
changed AS MATERIALIZED (
    SELECT t.ocid, t.release_date, t.detailed_category, t.province, t.buyer_name, t.value_amount, c.change,
           {DOCUMENT} AS document
      FROM tender_changes c JOIN tenders t USING (ocid)
     WHERE c.event_id = %(event)s
), termed AS MATERIALIZED (
    SELECT changed.*,
           array_remove(ARRAY['c:' || detailed_category, 'p:' || province, 'cp:' || detailed_category || '|' || province], NULL)
           || ARRAY(SELECT 'q:' || lexeme FROM unnest(tsvector_to_array(document)) AS lexeme) AS terms
      FROM changed
), unkeyed AS MATERIALIZED (
    -- The subscriptions no term keys, found once for each buyer of the event (their one costly filter), not once
    -- for each tender.
    SELECT b.buyer_name, s.id
      FROM (SELECT DISTINCT coalesce(buyer_name, '') AS buyer_name FROM changed) b
      JOIN alert_subscriptions s ON s.match_terms = '{{}}' AND s.paused_at IS NULL
     WHERE cardinality(s.buyers) = 0
        OR EXISTS (SELECT 1 FROM unnest(s.buyers) AS buyer WHERE strpos(lower(b.buyer_name), lower(buyer)) > 0)
), candidates AS (
    SELECT t.ocid, s.id
      FROM termed t
      CROSS JOIN LATERAL (
          SELECT id FROM alert_subscriptions WHERE match_terms && t.terms AND paused_at IS NULL
      ) s
    UNION ALL
    SELECT t.ocid, u.id FROM termed t JOIN unkeyed u ON u.buyer_name = coalesce(t.buyer_name, '')
)
"""

# Every pair of the event's tenders and the subscriptions they match, not told of them yet: t the tender (its
# change, its document), s the subscription.
PAIRS = f"""
      FROM candidates c
      JOIN termed t ON t.ocid = c.ocid
      JOIN alert_subscriptions s ON s.id = c.id
     WHERE {PREDICATE} AND {NOT_TOLD}
"""

# How many pairs the match finds, without writing them: what `make bench ARGS=--alerts` compares with evaluating
# PREDICATE for every pair.
PAIRS_SQL = f"WITH {CANDIDATES} SELECT count(*) {PAIRS}"

MATCH_SQL = f"""
WITH {CANDIDATES}, noticed AS (
    INSERT INTO alert_notices (subscription_id, ocid, release_date, change, event_id, delivery_id)
    SELECT s.id, t.ocid, t.release_date, t.change, %(event)s,
           CASE WHEN s.frequency = 'instant' THEN alert_delivery_id(s.id, %(event)s) END
    {PAIRS}
     -- Every pair is found before the first is inserted (a sort reads all its input): NOT_TOLD never re-reads the
     -- notices being inserted, which made a first match on a small table quadratic.
     ORDER BY s.id, t.ocid
    ON CONFLICT DO NOTHING
    RETURNING subscription_id, delivery_id
), delivering AS (
    INSERT INTO alert_deliveries (id, subscription_id, event_id)
    SELECT DISTINCT delivery_id, subscription_id, %(event)s FROM noticed WHERE delivery_id IS NOT NULL
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
SELECT (SELECT count(*) FROM noticed),
       (SELECT count(DISTINCT subscription_id) FROM noticed),
       (SELECT count(*) FROM delivering)
"""


class MatchCounts(BaseModel):
    """What matching one event did: nothing when it was matched before (duplicate)."""

    duplicate: bool
    notices: int
    deliveries: int
    subscriptions: int


def match_event(conn: psycopg.Connection, event_id: str, execution_id: str) -> MatchCounts:
    """The event's tenders matched against the active subscriptions, its notices and instant deliveries recorded,
    and the event in the ledger; an event already in the ledger is not matched again. In the caller's transaction,
    holding the matching lock until it commits."""
    conn.execute(LOCK_SQL)
    if conn.execute(LEDGER_SQL, (event_id, execution_id)).rowcount == 0:
        return MatchCounts(duplicate=True, notices=0, deliveries=0, subscriptions=0)
    notices, subscriptions, deliveries = one_row(conn.execute(MATCH_SQL, {"event": event_id}))
    conn.execute(MATCHED_SQL, (notices, event_id))
    return MatchCounts(duplicate=False, notices=notices, deliveries=deliveries, subscriptions=subscriptions)
