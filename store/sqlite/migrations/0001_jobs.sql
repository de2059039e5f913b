-- Jobs and queues.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC), durations INTEGER
-- microseconds, args/metadata/result JSON text. The attempt history is a JSON
-- array on the job row so that finishing an attempt is a single UPDATE.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: stale refs and cursors stay safe
    kind             TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    args             TEXT,
    priority         INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    state            TEXT    NOT NULL,
    key              TEXT    NOT NULL DEFAULT '',
    metadata         TEXT    NOT NULL DEFAULT '{}',
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    timeout          INTEGER NOT NULL DEFAULT 0,
    result           TEXT,
    last_error       TEXT    NOT NULL DEFAULT '',
    node             TEXT    NOT NULL DEFAULT '',
    lease_until      INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    attempts         TEXT    NOT NULL DEFAULT '[]'
) STRICT;

-- Waiting jobs of a queue by state. With state = 'queued' it is the claim
-- index, in claim order; it also counts a queue's waiting jobs for MaxSize.
-- Only waiting rows are in it, so running and finished jobs cost a claim
-- nothing, and the claim reads only the queued range, so future-scheduled
-- jobs cost it nothing either.
CREATE INDEX jobs_waiting ON jobs (queue, state, priority, run_at, id)
    WHERE state IN ('ready', 'scheduled', 'queued', 'retrying');

-- Promote: waiting jobs by due time.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('scheduled', 'retrying');

-- Rescue: running jobs by lease deadline.
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'running';

-- At most one active job per (kind, key).
CREATE UNIQUE INDEX jobs_active_key ON jobs (kind, key)
    WHERE key <> '' AND state NOT IN ('done', 'error', 'aborted');

-- GetByKey (newest job of a key) and List by key.
CREATE INDEX jobs_key ON jobs (kind, key, id) WHERE key <> '';

-- LastFinished.
CREATE INDEX jobs_key_finished ON jobs (kind, key, finished_at)
    WHERE key <> '' AND state IN ('done', 'error', 'aborted');

-- Prune.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('done', 'error', 'aborted');

-- Job counts by queue, kind and state, kept by the writer: each
-- transaction adds the changes of its operations, so Counts and Queues do
-- not scan the jobs.
CREATE TABLE job_counts (
    queue TEXT    NOT NULL,
    kind  TEXT    NOT NULL,
    state TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (queue, kind, state)
) STRICT, WITHOUT ROWID;

CREATE TABLE queues (
    name            TEXT    PRIMARY KEY,
    paused          INTEGER NOT NULL DEFAULT 0,
    max_size        INTEGER NOT NULL DEFAULT 0,
    urgent_priority INTEGER NOT NULL DEFAULT -1,
    updated_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
