-- Several nodes on one store: the leader leases and the node registry, in
-- the store's schema.

-- A named leader lease (Store.Lead): held by (node, instance) while
-- now < lease_until; node = '' when free.
CREATE TABLE leaders (
    name        text        PRIMARY KEY,
    node        text        NOT NULL,
    instance    text        NOT NULL,
    term        bigint      NOT NULL,
    lease_until timestamptz NOT NULL
);

-- The node registry (Store.RegisterNode): one row per node id, written by
-- the instance that registered it last.
CREATE TABLE nodes (
    id                 text        PRIMARY KEY,
    instance           text        NOT NULL,
    host               text        NOT NULL DEFAULT '',
    pid                integer     NOT NULL DEFAULT 0,
    version            text        NOT NULL DEFAULT '',
    queues             text[]      NOT NULL DEFAULT '{}',
    kinds              text[]      NOT NULL DEFAULT '{}',
    heartbeat_interval bigint      NOT NULL DEFAULT 0, -- microseconds
    started_at         timestamptz NOT NULL,
    heartbeat_at       timestamptz NOT NULL,
    stopped_at         timestamptz
);
