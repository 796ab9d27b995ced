-- Alerts: saved searches (subscriptions) matched against each change event, and the matches delivered once, by
-- email or by signed webhook (tender_sync.alerts). The product's app may write alert_subscriptions (INSERT,
-- UPDATE, DELETE: match_terms is derived by its trigger) and read every table here; the rest is written by the
-- alerts runs. Email addresses and webhook URLs are personal data.

CREATE TABLE alert_subscriptions (
    id              bigserial   PRIMARY KEY,
    channel         text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    -- The email address, or the webhook's HTTPS URL.
    address         text        NOT NULL,
    -- The filters, each optional: none matches every tender.
    categories      text[]      NOT NULL DEFAULT '{}',
    provinces       text[]      NOT NULL DEFAULT '{}',
    buyers          text[]      NOT NULL DEFAULT '{}',
    query           text,
    min_value       numeric     CHECK (min_value >= 0),
    frequency       text        NOT NULL DEFAULT 'instant' CHECK (frequency IN ('instant', 'daily')),
    updates         boolean     NOT NULL DEFAULT false,
    -- The webhook's Standard Webhooks secret (whsec_...), encrypted with the alerts key (AES-GCM).
    signing_secret  text,
    -- Derived by the trigger below; never written by hand.
    match_terms     text[]      NOT NULL DEFAULT '{}',
    paused_at       timestamptz,
    paused_reason   text,
    -- Since when every delivery to this webhook has failed; cleared by a success.
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((channel = 'webhook') = (signing_secret IS NOT NULL))
);

COMMENT ON TABLE alert_subscriptions IS
    'Saved searches: the product''s app may insert, update and delete them (match_terms is derived by a trigger). '
    'Filters: categories, provinces (any of, exact), buyers (any of, a case-insensitive substring of buyer_name), '
    'query (websearch_to_tsquery(''english'', ...) over title and description), min_value; none matches everything.';
COMMENT ON COLUMN alert_subscriptions.match_terms IS
    'The terms a matching tender must hold one of (c:category, q:lexeme or p:province), for the GIN index; '
    '{} when none can be required, and the subscription is checked against every tender.';

-- The terms every tender this subscription matches holds one of, from its most selective filter that has them:
-- its categories with its provinces (each pair); its categories; else its query's lexemes, when an empty text does not match the query (then every match holds
-- one of them: `-cleaning` holds none); else its provinces; else none.
CREATE FUNCTION alert_subscriptions_match_terms() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parsed tsquery;
    lexemes text[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    IF cardinality(NEW.categories) > 0 AND cardinality(NEW.provinces) > 0 THEN
        NEW.match_terms := ARRAY(
            SELECT DISTINCT 'cp:' || category || '|' || province
              FROM unnest(NEW.categories) category CROSS JOIN unnest(NEW.provinces) province
        );
        RETURN NEW;
    END IF;
    IF cardinality(NEW.categories) > 0 THEN
        NEW.match_terms := ARRAY(SELECT DISTINCT 'c:' || category FROM unnest(NEW.categories) category);
        RETURN NEW;
    END IF;
    IF NEW.query IS NOT NULL THEN
        parsed := websearch_to_tsquery('english', NEW.query);
        IF NOT (to_tsvector('english', '') @@ parsed) THEN
            -- A tsquery's text quotes each lexeme, doubling the quotes and backslashes inside it.
            lexemes := ARRAY(
                SELECT DISTINCT 'q:' || regexp_replace(quoted[1], $re$(['\\])\1$re$, '\1', 'g')
                  FROM regexp_matches(parsed::text, $re$'((?:''|\\\\|[^'\\])*)'$re$, 'g') AS quoted
            );
            IF cardinality(lexemes) > 0 THEN
                NEW.match_terms := lexemes;
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    IF cardinality(NEW.provinces) > 0 THEN
        NEW.match_terms := ARRAY(SELECT DISTINCT 'p:' || province FROM unnest(NEW.provinces) province);
        RETURN NEW;
    END IF;
    NEW.match_terms := '{}';
    RETURN NEW;
END
$$;

CREATE TRIGGER alert_subscriptions_match_terms BEFORE INSERT OR UPDATE ON alert_subscriptions
    FOR EACH ROW EXECUTE FUNCTION alert_subscriptions_match_terms();

-- Without a pending list: subscriptions change seldom, and every search would scan the list's entries one by one.
CREATE INDEX alert_subscriptions_match_terms_idx ON alert_subscriptions USING gin (match_terms) WITH (fastupdate = off);
-- The active subscriptions no term can key: checked against every tender.
CREATE INDEX alert_subscriptions_unkeyed_idx ON alert_subscriptions (id) WHERE match_terms = '{}' AND paused_at IS NULL;

-- The change events matched, each once (an event delivered twice matches once).
CREATE TABLE alert_events (
    event_id      text        PRIMARY KEY,
    execution_id  text        NOT NULL,
    matched       integer,
    received_at   timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE alert_events IS 'The change events (Tenders Changed detail.id) matched, each once, and their notices.';

-- What each subscriber has been, or will be, told: a tender at a release, once.
CREATE TABLE alert_notices (
    subscription_id  bigint      NOT NULL REFERENCES alert_subscriptions (id) ON DELETE CASCADE,
    ocid             text        NOT NULL,
    release_date     timestamptz NOT NULL,
    change           text        NOT NULL CHECK (change IN ('new', 'updated', 'enriched')),
    event_id         text        NOT NULL,
    -- Its delivery: set when matched for an instant subscription, by the day's digest for a daily one.
    delivery_id      text,
    noticed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, ocid, release_date)
);

COMMENT ON TABLE alert_notices IS
    'What each subscriber has been (or will be) told: a tender at a release, once; delivery_id NULL until a daily '
    'subscription''s digest is made.';

CREATE INDEX alert_notices_delivery_idx ON alert_notices (delivery_id);
CREATE INDEX alert_notices_undelivered_idx ON alert_notices (subscription_id) WHERE delivery_id IS NULL;

-- One notification to one subscription: per change event (instant) or per day (daily, event digest/YYYY-MM-DD).
CREATE TABLE alert_deliveries (
    -- The webhook-id and the email's Message-ID: alert_delivery_id(subscription, event), the same on every attempt.
    id                text        PRIMARY KEY,
    subscription_id   bigint      NOT NULL REFERENCES alert_subscriptions (id) ON DELETE CASCADE,
    event_id          text        NOT NULL,
    status            text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
    attempts          integer     NOT NULL DEFAULT 0,
    due_at            timestamptz NOT NULL DEFAULT now(),
    -- Why its last attempt failed; never the address.
    last_error        text,
    -- The alerts run sending it, until it records what came of it (or its claim expires).
    claimed_by        text,
    claim_expires_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz
);

COMMENT ON TABLE alert_deliveries IS
    'Notifications, each retried with backoff until delivered: one per subscription and change event (instant) or '
    'day (daily: event digest/YYYY-MM-DD).';

CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (due_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_subscription_idx ON alert_deliveries (subscription_id);
CREATE INDEX alert_deliveries_claimed_idx ON alert_deliveries (claimed_by) WHERE claimed_by IS NOT NULL;

-- A delivery's id: msg_ and the first 26 hex digits of the SHA-256 of "<subscription>/<event>".
CREATE FUNCTION alert_delivery_id(subscription bigint, event text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT 'msg_' || left(encode(sha256(convert_to(subscription || '/' || event, 'UTF8')), 'hex'), 26) $$;

-- Each alerts run: what it matched and delivered, or why it failed.
CREATE TABLE alert_runs (
    execution_id  text        PRIMARY KEY,
    triggered_by  text,
    -- The change event that started it, when one did.
    event_id      text,
    status        text        NOT NULL CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILED')),
    matched       integer,
    deliveries    integer,
    delivered     integer,
    failed        integer,
    error         text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);

COMMENT ON TABLE alert_runs IS 'Each alerts run: what it matched and delivered, or why it failed.';

CREATE INDEX alert_runs_started_at_idx ON alert_runs (started_at DESC);
