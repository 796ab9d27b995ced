-- Tenders, the job log and the sync state. Column names are read by other tools: keep them.
CREATE TABLE tenders (
    ocid               text PRIMARY KEY,
    release_id         text        NOT NULL,
    release_date       timestamptz NOT NULL,
    tender_number      text,
    title              text,
    description        text,
    status             text,
    main_category      text,
    detailed_category  text,
    province           text,
    buyer_name         text,
    close_date         timestamptz,
    value_amount       numeric,
    currency           text,
    enrichment_status  text        NOT NULL DEFAULT 'pending'
        CHECK (enrichment_status IN ('pending', 'enriched', 'not_found', 'failed')),
    enrichment_error   text,
    enriched_at        timestamptz,
    details            jsonb,
    raw                jsonb       NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tenders_release_date_idx ON tenders (release_date DESC);
CREATE INDEX tenders_enrichment_pending_idx ON tenders (release_date DESC)
    WHERE enrichment_status IN ('pending', 'failed');

CREATE TABLE job_log (
    id                         bigserial PRIMARY KEY,
    workflow                   text        NOT NULL,
    status                     text        NOT NULL
        CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILED', 'SKIPPED')),
    window_from                date,
    window_to                  date,
    fetched                    integer,
    enriched                   integer,
    not_found                  integer,
    enrichment_failed          integer,
    upserted                   integer,
    quarantined                integer,
    error                      text,
    execution_id               text,
    triggered_by               text,
    started_at                 timestamptz NOT NULL DEFAULT now(),
    finished_at                timestamptz
);

CREATE INDEX job_log_started_at_idx ON job_log (started_at DESC);
CREATE UNIQUE INDEX job_log_execution_idx ON job_log (execution_id) WHERE status <> 'SKIPPED';

CREATE TABLE sync_state (
    source            text PRIMARY KEY,
    cursor            date,
    lease_holder      text,
    lease_expires_at  timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE quarantine (
    id             bigserial PRIMARY KEY,
    source         text        NOT NULL,
    ocid           text,
    reason         text        NOT NULL,
    payload        jsonb,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    seen_count     integer     NOT NULL DEFAULT 1
);

CREATE UNIQUE INDEX quarantine_identity_idx ON quarantine (source, md5(payload::text));
