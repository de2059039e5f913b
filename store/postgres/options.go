package postgres

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"
)

// Defaults for Options.
const (
	// DefaultSchema is the PostgreSQL schema of the store's tables when
	// Options.Schema is empty.
	DefaultSchema = "rota"
	// DefaultMaxConns is the pool size when Options.MaxConns is zero.
	DefaultMaxConns = 10
	// DefaultReconnectDelay is the first wait before the listener reconnects
	// after its connection dropped; it doubles up to MaxReconnectDelay.
	DefaultReconnectDelay = 50 * time.Millisecond
	// MaxReconnectDelay bounds the listener's reconnect backoff.
	MaxReconnectDelay = 5 * time.Second
	// DefaultListenTimeout is how long Subscribe waits for the listener to be
	// listening before it returns anyway (a NoticeChanged follows when it is).
	DefaultListenTimeout = 5 * time.Second
)

// Limits of the driver.
const (
	// maxSchemaLen keeps the notification channel name ("<schema>.notify")
	// within PostgreSQL's 63-byte identifiers.
	maxSchemaLen = 48
	// flushInterval is how often a subscriber that lost notices is offered
	// its NoticeChanged when no new notice comes.
	flushInterval = 100 * time.Millisecond
	// maxTxRetries bounds the retries of a transaction that hit a deadlock
	// or a serialization failure.
	maxTxRetries = 5
	// maxPayload is the largest NOTIFY payload sent; a larger one is
	// replaced by a "changed" notice (PostgreSQL's limit is 8000 bytes).
	maxPayload = 7900
)

// schemaName is what Options.Schema accepts: a lower-case identifier, so it
// never needs quoting.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Options configures a Store. The zero value is valid and uses the defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds the store's tables
	// (DefaultSchema when empty). Several deployments can share a database
	// with one schema each. It must be a lower-case identifier of at most
	// 48 characters: letters a-z, digits and underscores, not starting with
	// a digit.
	Schema string
	// MaxConns is the most connections of the pool (DefaultMaxConns when
	// zero). The listener uses one more connection of its own.
	MaxConns int32
	// ReconnectDelay is the listener's first reconnect delay
	// (DefaultReconnectDelay when zero).
	ReconnectDelay time.Duration
	// ListenTimeout is how long Subscribe waits for the listener
	// (DefaultListenTimeout when zero).
	ListenTimeout time.Duration
	// Logger receives the driver's diagnostics (slog.Default() when nil).
	Logger *slog.Logger
}

// withDefaults validates o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Schema == "":
		o.Schema = DefaultSchema
	case len(o.Schema) > maxSchemaLen || !schemaName.MatchString(o.Schema):
		return o, fmt.Errorf("postgres: Options.Schema %q: want a lower-case identifier of at most %d characters ([a-z_][a-z0-9_]*)",
			o.Schema, maxSchemaLen)
	}
	switch {
	case o.MaxConns < 0:
		return o, fmt.Errorf("postgres: Options.MaxConns %d: must not be negative", o.MaxConns)
	case o.MaxConns == 0:
		o.MaxConns = DefaultMaxConns
	}
	switch {
	case o.ReconnectDelay < 0:
		return o, fmt.Errorf("postgres: Options.ReconnectDelay %v: must not be negative", o.ReconnectDelay)
	case o.ReconnectDelay == 0:
		o.ReconnectDelay = DefaultReconnectDelay
	}
	switch {
	case o.ListenTimeout < 0:
		return o, fmt.Errorf("postgres: Options.ListenTimeout %v: must not be negative", o.ListenTimeout)
	case o.ListenTimeout == 0:
		o.ListenTimeout = DefaultListenTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
