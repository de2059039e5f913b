-- Several nodes on one store: the leader leases and the node registry.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC), durations
-- INTEGER microseconds, lists JSON arrays of strings.

-- A named leader lease (Store.Lead): held by (node, instance) while
-- now < lease_until; node = '' when free.
CREATE TABLE leaders (
    name        TEXT    PRIMARY KEY,
    node        TEXT    NOT NULL,
    instance    TEXT    NOT NULL,
    term        INTEGER NOT NULL,
    lease_until INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The node registry (Store.RegisterNode): one row per node id, written by
-- the instance that registered it last.
CREATE TABLE nodes (
    id                 TEXT    PRIMARY KEY,
    instance           TEXT    NOT NULL,
    host               TEXT    NOT NULL DEFAULT '',
    pid                INTEGER NOT NULL DEFAULT 0,
    version            TEXT    NOT NULL DEFAULT '',
    queues             TEXT    NOT NULL DEFAULT '[]',
    kinds              TEXT    NOT NULL DEFAULT '[]',
    heartbeat_interval INTEGER NOT NULL DEFAULT 0,
    started_at         INTEGER NOT NULL,
    heartbeat_at       INTEGER NOT NULL,
    stopped_at         INTEGER
) STRICT, WITHOUT ROWID;
