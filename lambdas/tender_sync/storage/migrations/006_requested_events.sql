-- The app's events that start workflows (tender/*.requested on the stack's bus, through the AppEvents queue): each
-- event's key once (its detail.id, else EventBridge's id), so that an event delivered twice starts one run. The
-- consumer (StartRequested) records the new keys, and the execution each started, in one transaction with the
-- starts. Cleanup forgets keys older than 7 days (tender_sync.app_events.ledger).
CREATE TABLE requested_events (
    key           text        PRIMARY KEY,
    detail_type   text        NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    -- The execution it started: several tender/enrich.requested events share one single-tender run.
    execution_arn text,
    -- A tender/enrich.requested event's publishedAt: when the app says its tender was published.
    published_at  timestamptz
);

CREATE INDEX requested_events_received_idx ON requested_events (received_at);
-- The last run a detail-type started (the single-tender runs of tender/enrich.requested go one at a time).
CREATE INDEX requested_events_last_idx ON requested_events (detail_type, received_at DESC)
    WHERE execution_arn IS NOT NULL;
