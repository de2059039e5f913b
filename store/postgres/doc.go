// Package postgres is rota's PostgreSQL store: a store.Store on one
// PostgreSQL schema, through github.com/jackc/pgx/v5 (pgxpool), for
// several nodes sharing the work.
//
// # Schema
//
// The tables live in a configurable schema (Options.Schema, "rota" by
// default), so that several deployments share a database; the pool's
// connections have it as their search_path. Migrations are SQL files
// embedded in the binary and recorded in schema_migrations; Migrate
// applies them in one transaction under pg_advisory_xact_lock, so that
// nodes starting together apply each one once.
//
// Times are timestamptz (microseconds; times are truncated, not rounded,
// before they are sent, and returned in UTC), durations bigint
// microseconds, args, metadata and results jsonb. A job's attempt history is
// a jsonb array on its row, appended by the statement that ends the attempt.
// Partial indexes keep the hot paths independent of the number of scheduled
// and finished jobs: the claim index holds only queued jobs, in claim order
// (queue, priority, run_at, id); promotions read an index of scheduled and
// retrying jobs by run_at, rescues one of running jobs by lease, pruning
// one of final jobs by finished_at. A partial unique index on (kind, key)
// of active jobs holds key uniqueness.
//
// # Hot paths
//
// A claim is one statement: a CTE selects the candidates in claim order
// with FOR UPDATE SKIP LOCKED, and UPDATE ... RETURNING claims them; with
// per-kind caps, the candidates are ranked per kind and cut at the caps,
// and another pass runs when the caps cut some. Finishing any number of
// attempts is one UPDATE ... FROM unnest(...) guarded by id, attempt and
// state; a requested abort wins over a finish that would run the job
// again.
//
// Inserts without keys are group-committed: concurrent Insert calls are
// merged by a few committer goroutines into one statement that inserts all
// their rows (INSERT ... SELECT FROM unnest(...)) and sends their coalesced
// notice, one round trip and one commit for the group. When a queue of the
// group has a size cap, the group runs in a transaction instead that locks
// the capped queues' rows and admits the calls in order (a call that does
// not fit fails alone with ErrQueueFull).
//
// An insert with keys is one transaction (all or none). A keyed job is one
// INSERT ... ON CONFLICT DO NOTHING against the unique index, so concurrent
// inserts of one key make one job; a batch with several keys first takes
// advisory locks on them in one global order, so batches sharing keys do
// not deadlock. Inserting into a queue with a size cap locks the queue's
// settings row, so the cap holds under concurrency. Transactions that hit
// a deadlock or a serialization failure are retried.
//
// # Cluster-wide kind limits
//
// A claim of kinds with a global maximum or a rate limit (store.KindLimit)
// is a transaction: it locks the kinds' rows of kind_limits (FOR UPDATE, in
// kind order), then in later statements, whose snapshots see every claim
// committed before the lock was granted, counts the kinds' running jobs
// (through the index of running jobs), lowers the caps (store.Limiter),
// claims, and writes the kinds' rate logs back. The claims of a limited kind
// are thus serialized across every node; a claim without such kinds is the
// one statement above. A finish whose kind has a global maximum
// (FinishParams.Limited) adds the kind to its notification, so that nodes
// held back by the maximum claim again.
//
// # Enqueue in the caller's transaction
//
// InsertTx (store.TxInserter) inserts inside a pgx.Tx of the caller's, in a
// savepoint with the store's schema as search_path (restored after), and
// sends the notification in that transaction, so nodes hear of the jobs
// when it commits. A failed call rolls back to the savepoint: nothing of it
// remains and the caller's transaction stays usable.
//
// # Notices
//
// Writes announce themselves with one NOTIFY per operation on the channel
// "<schema>.notify" (coalesced: each queue once, the earliest scheduled
// time, the cancelled job ids). Subscribe starts a listener on a dedicated
// connection (LISTEN) that fans notifications out to the subscribers of
// the Store; since every Store on the schema notifies the same channel,
// subscribers see the changes of all nodes. When the listener's
// connection drops, it reconnects with backoff and sends a NoticeChanged,
// since notifications may have been missed meanwhile.
package postgres
