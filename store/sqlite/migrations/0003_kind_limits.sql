-- Cluster-wide kind limits (store.KindLimit): the rate log of each kind
-- with a rate limit, rewritten by the claims of the kind. (A kind's global
-- maximum of running jobs needs no row here: SQLite's write lock already
-- serializes the claims of every process on the file.)
--
-- starts: the kind's recent starts, oldest first, as JSON
-- [[unix_micros, n], ...] (store.RateLog).

CREATE TABLE kind_limits (
    kind   TEXT PRIMARY KEY,
    starts TEXT NOT NULL DEFAULT '[]'
) STRICT, WITHOUT ROWID;
