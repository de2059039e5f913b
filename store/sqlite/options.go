package sqlite

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Defaults for Options.
const (
	// DefaultSynchronous is the synchronous mode when Options.Synchronous is
	// empty: every commit is fsynced to the WAL before it is acknowledged.
	DefaultSynchronous = "FULL"
	// DefaultBusyTimeout is how long a connection waits for a lock held by
	// another connection (another process on the same file) before failing.
	DefaultBusyTimeout = 10 * time.Second
	// DefaultPollInterval is how often an idle writer checks whether another
	// connection changed the file (PRAGMA data_version).
	DefaultPollInterval = 50 * time.Millisecond
)

// Limits of the driver.
const (
	// maxBatchOps is the most operations the writer runs in one transaction.
	maxBatchOps = 256
	// opQueueSize is the capacity of the writer's operation channel.
	opQueueSize = 1024
	// maxReadConns is the size of the read-only connection pool.
	maxReadConns = 4
	// writerCacheKiB is the page cache of the write connection (the read
	// connections keep SQLite's default of 2 MiB).
	writerCacheKiB = 16 << 10
	// maxCachedStmts bounds the writer's prepared statement cache.
	maxCachedStmts = 256
)

// Options configures a Store. The zero value is valid and uses the defaults.
type Options struct {
	// Synchronous is SQLite's synchronous mode for the write connection:
	// "FULL" (the default: durable at every commit), "NORMAL" (durable at
	// checkpoints; a power loss can lose the last commits) or "OFF".
	Synchronous string
	// BusyTimeout is how long to wait for a lock held by another process
	// (DefaultBusyTimeout when zero).
	BusyTimeout time.Duration
	// PollInterval is how often an idle writer looks for changes made by
	// other processes to send NoticeChanged (DefaultPollInterval when zero).
	PollInterval time.Duration
	// Logger receives the driver's diagnostics (slog.Default() when nil).
	Logger *slog.Logger

	// datasync replaces the fsync of the WAL in tests.
	datasync func(*os.File) error
}

// withDefaults validates o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	switch s := strings.ToUpper(strings.TrimSpace(o.Synchronous)); s {
	case "":
		o.Synchronous = DefaultSynchronous
	case "FULL", "NORMAL", "OFF":
		o.Synchronous = s
	default:
		return o, fmt.Errorf("sqlite: Options.Synchronous %q: want FULL, NORMAL or OFF", o.Synchronous)
	}
	switch {
	case o.BusyTimeout < 0:
		return o, fmt.Errorf("sqlite: Options.BusyTimeout %v: must not be negative", o.BusyTimeout)
	case o.BusyTimeout == 0:
		o.BusyTimeout = DefaultBusyTimeout
	}
	switch {
	case o.PollInterval < 0:
		return o, fmt.Errorf("sqlite: Options.PollInterval %v: must not be negative", o.PollInterval)
	case o.PollInterval == 0:
		o.PollInterval = DefaultPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
