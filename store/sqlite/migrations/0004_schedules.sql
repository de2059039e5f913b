-- Stored schedules (store.Schedule) and the signals of their conditions.
--
-- Times are Unix microseconds; next_fire is NULL when the schedule never
-- fires again. jitter and misfire_grace are microseconds.

CREATE TABLE schedules (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    queue           TEXT NOT NULL,
    args            TEXT,
    priority        INTEGER NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    spec            TEXT NOT NULL,
    zone            TEXT NOT NULL DEFAULT '',
    jitter          INTEGER NOT NULL DEFAULT 0,
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT NOT NULL DEFAULT '',
    misfire         TEXT NOT NULL,
    misfire_cap     INTEGER NOT NULL,
    misfire_grace   INTEGER NOT NULL,
    overlap         TEXT NOT NULL,
    condition       TEXT NOT NULL DEFAULT '',
    next_fire       INTEGER,
    last_fire       INTEGER,
    last_outcome    TEXT NOT NULL DEFAULT '',
    last_job_id     INTEGER NOT NULL DEFAULT 0,
    pending_job_id  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX schedules_due ON schedules (next_fire, key) WHERE enabled = 1 AND next_fire IS NOT NULL;

-- signals: per-minute counts of named events (store.SignalBucket).
CREATE TABLE signals (
    name   TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (name, bucket)
) STRICT, WITHOUT ROWID;
