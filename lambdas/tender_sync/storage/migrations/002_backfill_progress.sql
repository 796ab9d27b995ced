-- How far each backfill has got: one row per plan (source, range and window size). Its windows are stored in
-- order, and done_to moves in the transaction that stores each one, so a rerun of a plan that did not complete
-- starts where it stopped; a plan that completed starts afresh.
CREATE TABLE backfill_progress (
    source        text        NOT NULL,
    range_from    date        NOT NULL,
    range_to      date        NOT NULL,
    window_days   integer     NOT NULL,
    done_to       date        NOT NULL,
    execution_id  text        NOT NULL,
    completed_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, range_from, range_to, window_days)
);
