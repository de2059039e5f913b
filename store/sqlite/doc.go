// Package sqlite is rota's embedded store: a store.Store on one SQLite file,
// using the pure Go driver modernc.org/sqlite (no cgo).
//
// # Writes
//
// Every write (Insert, Claim, Finish, ...) is an operation sent to a single
// writer goroutine that owns the only write connection. The writer takes all
// pending operations (up to a bound), runs them in one BEGIN IMMEDIATE
// transaction and commits once: one fsync acknowledges many concurrent
// callers (group commit). Statements are prepared once and cached on the
// write connection.
//
// An operation that may issue several write statements (a batch insert, a
// rescue) runs inside its own SAVEPOINT, so that when it fails (a full queue,
// a duplicate key) it is rolled back alone. An operation that writes at most
// once needs no savepoint: it fails, with a store error, only before
// writing. If an operation fails in any other way, the writer rolls the
// transaction back, answers that operation with its error and runs the
// others again.
//
// Consecutive inserts without keys, from any callers, share multi-row INSERT
// statements; a batch of finishes is one UPDATE ... FROM (VALUES ...).
//
// With Synchronous FULL (the default) the write connection runs
// synchronous=NORMAL and the store fsyncs the WAL itself, outside the write
// lock: after a commit, the writer hands the durable operations to a syncer
// goroutine and goes on with the next transaction; the syncer fsyncs the WAL
// once for all the transactions handed to it, then answers them. Operations
// whose loss in a crash is harmless (a claim: the job would be queued again;
// a lease extension, a promotion or a rescue: done again) are answered right
// after the commit. See docs/decisions/0006-wal-sync-outside-the-lock.md.
//
// Reads (Get, List, Counts, Queues, ...) use a pool of read-only connections;
// in WAL mode they never wait for the writer.
//
// Several processes may share a file (a server and CLI calls): each has its
// own writer, the file's write lock serializes their transactions (waiting up
// to Options.BusyTimeout), and the unique index on active keys and the
// guarded updates keep claims and finishes exact.
//
// # Cluster-wide kind limits
//
// A claim of kinds with a global maximum or a rate limit (store.KindLimit)
// counts the kinds' running jobs (through the index of running jobs) and
// reads their rate logs (table kind_limits) in the writer's transaction:
// BEGIN IMMEDIATE serializes the claims of every process on the file, so
// nothing changes between the count and the claim. It lowers the caps
// (store.Limiter), claims, and writes the rate logs back, in a savepoint.
// A claim without such kinds runs no extra statement. The store cannot
// write in a transaction of the caller's: it does not implement
// store.TxInserter.
//
// # Storage
//
// The file runs in WAL mode with synchronous=FULL by default. Times are
// INTEGER microseconds since the Unix epoch (UTC), durations INTEGER
// microseconds, args, metadata and results JSON text. A job's attempt history
// is a JSON array on its row, so finishing an attempt is one UPDATE. The
// schema is versioned: numbered migrations are embedded in the binary and
// applied by Migrate in one immediate transaction.
//
// Partial indexes keep the hot paths independent of the number of
// future-scheduled and finished jobs: claims read the queued range of the
// index of waiting jobs, promotions the index of scheduled and retrying jobs,
// rescues the index of running jobs. Job counts by queue, kind and state are
// kept in a table that each transaction updates, so Counts and Queues do not
// scan the jobs; CountsByHour and List with filters other than the key do.
//
// # Notices
//
// After each commit the writer publishes notices to the subscribers in this
// process. Changes made by other processes (or other Stores on the same
// file) are detected by polling PRAGMA data_version every
// Options.PollInterval while idle, and announced as store.NoticeChanged.
package sqlite
