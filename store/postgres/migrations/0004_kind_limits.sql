-- Cluster-wide kind limits (store.KindLimit): one row per kind that has a
-- global maximum of running jobs or a rate limit. A claim of such a kind
-- locks its row (FOR UPDATE), so the claims of the kind are serialized
-- across every node, and rewrites its rate log.
--
-- starts: the kind's recent starts, oldest first, [[unix_micros, n], ...]
-- (store.RateLog).

CREATE TABLE kind_limits (
    kind   text  PRIMARY KEY,
    starts jsonb NOT NULL DEFAULT '[]'
);
