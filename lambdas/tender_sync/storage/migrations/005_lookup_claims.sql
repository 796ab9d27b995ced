-- Runs at once share the portal. A run's planned lookups are claimed until they are stored (or the claim expires,
-- when a run crashed), so that runs at once never look up the same tender; and each run's lookups are given a time
-- range of the portal's one schedule, so that runs at once never exceed its rate together.
CREATE TABLE lookup_claims (
    ocid         text        PRIMARY KEY REFERENCES tenders (ocid) ON DELETE CASCADE,
    execution_id text        NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX lookup_claims_execution_idx ON lookup_claims (execution_id);

-- Per source: when the portal is next free, after the ranges already given to runs.
CREATE TABLE portal_schedule (
    source    text        PRIMARY KEY,
    next_free timestamptz NOT NULL
);
