-- Stored schedules (store.Schedule) and the signals of their conditions.
-- next_fire is NULL when the schedule never fires again. A fire locks its
-- schedule's row and checks next_fire (compare-and-set) in the
-- transaction that inserts the fire's job.

CREATE TABLE schedules (
    key             text        PRIMARY KEY,
    kind            text        NOT NULL,
    queue           text        NOT NULL,
    args            jsonb,
    priority        int         NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    spec            text        NOT NULL,
    zone            text        NOT NULL DEFAULT '',
    jitter          bigint      NOT NULL DEFAULT 0,
    enabled         boolean     NOT NULL DEFAULT true,
    disabled_reason text        NOT NULL DEFAULT '',
    misfire         text        NOT NULL,
    misfire_cap     int         NOT NULL,
    misfire_grace   bigint      NOT NULL,
    overlap         text        NOT NULL,
    condition       text        NOT NULL DEFAULT '',
    next_fire       timestamptz,
    last_fire       timestamptz,
    last_outcome    text        NOT NULL DEFAULT '',
    last_job_id     bigint      NOT NULL DEFAULT 0,
    pending_job_id  bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX schedules_due ON schedules (next_fire, key) WHERE enabled AND next_fire IS NOT NULL;

-- signals: per-minute counts of named events (store.SignalBucket).
CREATE TABLE signals (
    name   text        NOT NULL,
    bucket timestamptz NOT NULL,
    n      bigint      NOT NULL,
    PRIMARY KEY (name, bucket)
);
