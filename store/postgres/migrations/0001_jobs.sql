-- Jobs and queues, in the store's schema (the connection's search_path).
--
-- Times are timestamptz (microseconds), durations bigint microseconds,
-- args/metadata/result jsonb. The attempt history is a jsonb array on the job
-- row, appended by the finishing UPDATE.

CREATE TABLE jobs (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- never reused
    kind             text        NOT NULL,
    queue            text        NOT NULL,
    args             jsonb,
    priority         integer     NOT NULL,
    run_at           timestamptz NOT NULL,
    state            text        NOT NULL,
    key              text        NOT NULL DEFAULT '',
    metadata         jsonb       NOT NULL DEFAULT '{}',
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL,
    timeout          bigint      NOT NULL DEFAULT 0,
    result           jsonb,
    last_error       text        NOT NULL DEFAULT '',
    node             text        NOT NULL DEFAULT '',
    lease_until      timestamptz,
    cancel_requested boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    attempts         jsonb       NOT NULL DEFAULT '[]'
);

-- Claim: the queued jobs of a queue in claim order. Only queued rows are in
-- it, so scheduled, running and finished jobs cost a claim nothing.
CREATE INDEX jobs_claim ON jobs (queue, priority, run_at, id) WHERE state = 'queued';

-- Queue caps: a queue's waiting jobs.
CREATE INDEX jobs_waiting ON jobs (queue) WHERE state IN ('ready', 'scheduled', 'queued', 'retrying');

-- Promote: scheduled and retrying jobs by due time.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('scheduled', 'retrying');

-- Rescue: running jobs by lease deadline.
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'running';

-- At most one active job per (kind, key); the arbiter of INSERT ... ON CONFLICT.
CREATE UNIQUE INDEX jobs_active_key ON jobs (kind, key)
    WHERE key <> '' AND state NOT IN ('done', 'error', 'aborted');

-- GetByKey, List by key, LastFinished.
CREATE INDEX jobs_key ON jobs (kind, key, id) WHERE key <> '';

-- Prune.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('done', 'error', 'aborted');

CREATE TABLE queues (
    name            text        PRIMARY KEY,
    paused          boolean     NOT NULL DEFAULT false,
    max_size        integer     NOT NULL DEFAULT 0,
    urgent_priority integer     NOT NULL DEFAULT -1,
    updated_at      timestamptz NOT NULL
);
