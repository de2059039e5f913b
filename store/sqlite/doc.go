// Package sqlite is rota's embedded store: a store.Store on one SQLite file,
// using the pure Go driver modernc.org/sqlite (no cgo).
//
// # Writes
//
// Every write (Insert, Claim, Finish, ...) is an operation sent to a single
// writer goroutine that owns the only write connection. The writer takes all
// pending operations (up to a bound), runs them in one BEGIN IMMEDIATE
// transaction, each inside its own SAVEPOINT so that a failing operation
// (a full queue, a duplicate key) is rolled back alone, and commits once: one
// fsync acknowledges many concurrent callers (group commit). Statements are
// prepared once and cached on the write connection.
//
// Reads (Get, List, Counts, Queues, ...) use a pool of read-only connections;
// in WAL mode they never wait for the writer.
//
// Several processes may share a file (a server and CLI calls): each has its
// own writer, the file's write lock serializes their transactions (waiting up
// to Options.BusyTimeout), and the unique index on active keys and the
// guarded updates keep claims and finishes exact.
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
// future-scheduled and finished jobs: the claim index holds only queued jobs,
// the promote index only scheduled and retrying ones, the rescue index only
// running ones.
//
// # Notices
//
// After each commit the writer publishes notices to the subscribers in this
// process. Changes made by other processes (or other Stores on the same
// file) are detected by polling PRAGMA data_version every
// Options.PollInterval while idle, and announced as store.NoticeChanged.
package sqlite
