-- Enrichment as a backlog: what needs a portal lookup is decided from what is stored. A failed lookup is tried
-- again when due, backing off with its attempts; a tender the portal did not list is re-checked when due.
ALTER TABLE tenders
    ADD COLUMN enrichment_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN enrichment_due_at   timestamptz;

DROP INDEX tenders_enrichment_pending_idx;
CREATE INDEX tenders_enrichment_backlog_idx ON tenders (release_date DESC, ocid) WHERE enrichment_status <> 'enriched';

-- What a run's lookups did: how many were made, how many the portal throttled (429), and the rate seen.
ALTER TABLE job_log
    ADD COLUMN lookups            integer,
    ADD COLUMN throttled          integer,
    ADD COLUMN lookups_per_second numeric;
