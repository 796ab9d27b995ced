-- Change events, an outbox: what each stored window changed, recorded in the transaction that stores it (and its
-- lookups'), then announced on EventBridge and marked sent. An event not sent is sent by a later run.
CREATE TABLE change_events (
    -- What consumers deduplicate on: the execution and the window (tender_sync.changes.event_id).
    id            text        PRIMARY KEY,
    source        text        NOT NULL,
    workflow      text        NOT NULL,
    execution_id  text        NOT NULL,
    window_from   date,
    window_to     date,
    -- Its changes object, in the artifacts bucket: written when it is sent.
    changes_key   text        NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    -- The execution that sent it: its own, or a later one when it was late.
    sent_by       text
);

CREATE INDEX change_events_unsent_idx ON change_events (source, recorded_at) WHERE sent_at IS NULL;
CREATE INDEX change_events_execution_idx ON change_events (execution_id);

-- Each tender an event announces, once, by its first change in the run: new, updated (a newer release) or
-- enriched (it gained its category).
CREATE TABLE tender_changes (
    event_id  text NOT NULL REFERENCES change_events (id) ON DELETE CASCADE,
    ocid      text NOT NULL,
    change    text NOT NULL CHECK (change IN ('new', 'updated', 'enriched')),
    PRIMARY KEY (event_id, ocid)
);

-- How many tender changes a run's events announced, and how many events were still unsent when it finished.
ALTER TABLE job_log
    ADD COLUMN changes_published integer,
    ADD COLUMN events_late       integer;
