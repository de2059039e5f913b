package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Environment variables read by FromEnv, one per Config field.
const (
	EnvDatabaseURL       = "ROTA_DATABASE_URL"
	EnvNodeID            = "ROTA_NODE_ID"
	EnvLogLevel          = "ROTA_LOG_LEVEL"
	EnvLogFormat         = "ROTA_LOG_FORMAT"
	EnvWorkersDir        = "ROTA_WORKERS_DIR"
	EnvQueues            = "ROTA_QUEUES"
	EnvLeaseDuration     = "ROTA_LEASE_DURATION"
	EnvLeaderLease       = "ROTA_LEADER_LEASE"
	EnvShutdownTimeout   = "ROTA_SHUTDOWN_TIMEOUT"
	EnvAbortGrace        = "ROTA_ABORT_GRACE"
	EnvRetention         = "ROTA_RETENTION"
	EnvScheduleLookahead = "ROTA_SCHEDULE_LOOKAHEAD"
	EnvSQLiteSynchronous = "ROTA_SQLITE_SYNCHRONOUS"
	EnvListen            = "ROTA_LISTEN"
	EnvPostgresSchema    = "ROTA_POSTGRES_SCHEMA"
	EnvTokens            = "ROTA_TOKENS"
	EnvTokensFile        = "ROTA_TOKENS_FILE"
	EnvHTTPMaxBody       = "ROTA_HTTP_MAX_BODY"
	EnvHTTPMaxLongPolls  = "ROTA_HTTP_MAX_LONG_POLLS"
	// The CLI's remote mode.
	EnvServer = "ROTA_SERVER"
	EnvToken  = "ROTA_TOKEN"
)

// Log formats (Config.LogFormat).
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// SQLite synchronous modes (Config.SQLiteSynchronous), as in PRAGMA synchronous.
const (
	SynchronousFull   = "FULL"
	SynchronousNormal = "NORMAL"
	SynchronousOff    = "OFF"
)

// Defaults used by Default. The node id defaults to the host name, or to
// FallbackNodeID when the host name cannot be read.
const (
	DefaultDatabaseURL       = "rota.db"
	FallbackNodeID           = "rota"
	DefaultLogLevel          = slog.LevelInfo
	DefaultLogFormat         = LogFormatText
	DefaultWorkersDir        = "" // no worker files
	DefaultQueue             = "default"
	DefaultQueueWorkers      = 100
	DefaultQueues            = "default=100" // DefaultQueue=DefaultQueueWorkers, in ROTA_QUEUES syntax
	DefaultLeaseDuration     = 30 * time.Second
	DefaultLeaderLease       = 5 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultAbortGrace        = 10 * time.Second
	DefaultRetention         = 7 * 24 * time.Hour
	DefaultScheduleLookahead = 1500 * time.Millisecond
	MaxScheduleLookahead     = time.Minute
	DefaultSQLiteSynchronous = SynchronousFull
	DefaultListen            = "127.0.0.1:7700"
	DefaultPostgresSchema    = "rota"
)

// Config is the configuration of one rota node.
type Config struct {
	// DatabaseURL names the store: postgres://..., sqlite:///abs/path.db,
	// sqlite:rel/path.db or a bare SQLite file path. See ParseDatabaseURL.
	DatabaseURL string
	// NodeID identifies this node in leases and attempt history.
	NodeID string
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
	// LogFormat is LogFormatText or LogFormatJSON.
	LogFormat string
	// WorkersDir is the directory of per-worker JSON files; empty for none.
	WorkersDir string
	// Queues maps each queue this node serves to the most jobs of it that
	// run at once on this node.
	Queues map[string]int
	// LeaseDuration is how long a claim on a running job lasts without a
	// heartbeat before other nodes take the job back.
	LeaseDuration time.Duration
	// LeaderLease is how long the leader lease lasts without renewal: of
	// the nodes on one store, its holder runs the rescuer and the pruner,
	// and a leader that dies is replaced within it.
	LeaderLease time.Duration
	// ScheduleLookahead is how long before its fire time the leader writes
	// the job of a schedule fire that cannot depend on the moment (no
	// condition, overlap allow), scheduled for the fire time; 0: off.
	ScheduleLookahead time.Duration
	// ShutdownTimeout is how long running jobs get to finish on shutdown
	// before they are interrupted and put back in their queue.
	ShutdownTimeout time.Duration
	// AbortGrace is how long an aborted, timed-out or interrupted job gets
	// to stop after its context is cancelled: a worker still running then
	// is finished without it (and logged). An exec worker's process group
	// gets SIGTERM at once and SIGKILL after half of AbortGrace.
	AbortGrace time.Duration
	// Retention is how long finished jobs are kept before they are pruned.
	Retention time.Duration
	// SQLiteSynchronous is the SQLite synchronous mode: FULL, NORMAL or OFF.
	SQLiteSynchronous string
	// Listen is the address the HTTP server listens on (host:port), or
	// ListenOff for no HTTP server.
	Listen string
	// Tokens are the HTTP API's bearer tokens from ROTA_TOKENS; LoadTokens
	// adds those of TokensFile. Without any, the API is open, which rota
	// serve allows on a loopback address only.
	Tokens []Token
	// TokensFile is a file of tokens, one name:role:secret per line; empty
	// for none. It is read when the server starts (LoadTokens).
	TokensFile string
	// HTTPMaxBody is the largest request body the HTTP API reads, in bytes.
	HTTPMaxBody int64
	// HTTPMaxLongPolls is how many HTTP requests may wait for work at once
	// (pop with a wait); more are refused with 429.
	HTTPMaxLongPolls int
	// PostgresSchema is the PostgreSQL schema of the store's tables, so
	// several deployments can share one database.
	PostgresSchema string

	// EventsMax and EventsMaxAge bound the durable event log behind
	// GET /v1/events (by count and by age).
	EventsMax    int
	EventsMaxAge time.Duration
	// HTTPMaxEventStreams is how many GET /v1/events streams may be open
	// at once; more are refused with 429.
	HTTPMaxEventStreams int
	// EventLog is "on" (the default) or "off": whether this node writes
	// its job events to the durable event log.
	EventLog string
	// Server is the URL of a rota serve (http://host:port) that the CLI's
	// commands drive over its HTTP API instead of opening the store; empty
	// for the store.
	Server string
	// Token is the bearer token sent to Server. It is never shown: not in
	// --help, errors or logs.
	Token string
	// Sinks are where rota serve sends job events (webhook, NATS, Kafka)
	// and hears abort messages.
	Sinks Sinks
}

// Default returns the built-in configuration: every Default* constant, and
// the host name as node id.
func Default() Config {
	node, err := os.Hostname()
	if err != nil || node == "" {
		node = FallbackNodeID
	}
	return Config{
		DatabaseURL:       DefaultDatabaseURL,
		NodeID:            node,
		LogLevel:          DefaultLogLevel,
		LogFormat:         DefaultLogFormat,
		WorkersDir:        DefaultWorkersDir,
		Queues:            map[string]int{DefaultQueue: DefaultQueueWorkers},
		LeaseDuration:     DefaultLeaseDuration,
		LeaderLease:       DefaultLeaderLease,
		ScheduleLookahead: DefaultScheduleLookahead,
		ShutdownTimeout:   DefaultShutdownTimeout,
		AbortGrace:        DefaultAbortGrace,
		Retention:         DefaultRetention,
		SQLiteSynchronous: DefaultSQLiteSynchronous,
		Listen:            DefaultListen,
		PostgresSchema:    DefaultPostgresSchema,
		HTTPMaxBody:       DefaultHTTPMaxBody,
		HTTPMaxLongPolls:  DefaultHTTPMaxLongPolls,

		EventsMax:           DefaultEventsMax,
		EventsMaxAge:        DefaultEventsMaxAge,
		EventLog:            EventLogOn,
		HTTPMaxEventStreams: DefaultHTTPMaxEventStreams,
		Sinks:               defaultSinks(),
	}
}

// FieldError is an invalid setting: the environment variable or flag that
// held it, the value, and what is wrong with it. Its message reads like
//
//	ROTA_LEASE_DURATION: "abc" is not a duration (like 30s)
type FieldError struct {
	Field  string // ROTA_LEASE_DURATION (Validate also names fields by their variable)
	Value  string // the offending value, with any password removed
	Reason string // what is wrong, phrased to follow "<value> is"
}

// Error returns `Field: "Value" is Reason`.
func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %q is %s", e.Field, e.Value, e.Reason)
}

// FromEnv returns Default() overlaid with the ROTA_* variables that getenv
// reports (pass os.Getenv). An empty variable counts as unset. Every invalid
// variable is reported, each as a *FieldError, joined into one error; the
// returned Config then holds the defaults for those fields.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Default()
	err := c.ApplyEnv(getenv)
	return c, err
}

// ApplyEnv overlays c with the ROTA_* variables that getenv reports, leaving
// the fields whose variable is empty or invalid as they are. Errors are as
// in FromEnv.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	var errs []error
	for _, s := range c.settings() {
		raw := getenv(s.env)
		if raw == "" {
			continue
		}
		if err := s.value.Set(raw); err != nil {
			errs = append(errs, &FieldError{Field: s.env, Value: s.redact(raw), Reason: err.Error()})
		}
	}
	return errors.Join(errs...)
}

// Validate checks every field, as FromEnv would check the same text, and
// reports each invalid one as a *FieldError named by its environment
// variable, joined into one error.
func (c Config) Validate() error {
	var errs []error
	for _, s := range c.settings() {
		if err := s.value.check(); err != nil {
			errs = append(errs, &FieldError{Field: s.env, Value: s.redact(s.value.String()), Reason: err.Error()})
		}
	}
	return errors.Join(errs...)
}

// NewLogger returns a logger writing to w in c's format at c's level.
func (c Config) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if strings.EqualFold(c.LogFormat, LogFormatJSON) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// setting ties one Config field to its variable, its flag and its parser.
type setting struct {
	env, flag, usage string
	value            value
	secret           bool                // may hold a password: redact in errors
	hide             func(string) string // redacts the value in errors when set
}

func (s setting) redact(v string) string {
	switch {
	case s.hide != nil:
		return s.hide(v)
	case s.secret:
		return redactURL(v)
	}
	return v
}

// settings lists c's fields in the order flags are shown. Each value writes
// through to c.
func (c *Config) settings() []setting {
	return append(append(c.baseSettings(), c.eventSettings()...), c.sinkSettings()...)
}

// baseSettings lists the settings other than eventSettings.
func (c *Config) baseSettings() []setting {
	return []setting{
		{env: EnvDatabaseURL, flag: "database-url", secret: true,
			usage: "store: postgres://..., sqlite:///abs/path.db, sqlite:rel/path.db or a file path",
			value: &stringValue{p: &c.DatabaseURL, norm: normDatabaseURL}},
		{env: EnvNodeID, flag: "node-id", usage: "this node's id in leases and attempt history (the default is the host name)",
			value: &stringValue{p: &c.NodeID, norm: normNodeID}},
		{env: EnvLogLevel, flag: "log-level", usage: "log level: debug, info, warn or error",
			value: &levelValue{p: &c.LogLevel}},
		{env: EnvLogFormat, flag: "log-format", usage: "log format: text or json",
			value: &stringValue{p: &c.LogFormat, norm: normLogFormat}},
		{env: EnvWorkersDir, flag: "workers-dir", usage: "directory of per-worker <kind>.json files (empty: none)",
			value: &stringValue{p: &c.WorkersDir, norm: func(s string) (string, error) { return s, nil }}},
		{env: EnvQueues, flag: "queues", usage: "queues served and their max workers, like default=100,mail=10",
			value: &queuesValue{p: &c.Queues}},
		{env: EnvLeaseDuration, flag: "lease-duration", usage: "how long a job's lease lasts without a heartbeat",
			value: &durationValue{p: &c.LeaseDuration, positive: true}},
		{env: EnvLeaderLease, flag: "leader-lease", usage: "how long the leader lease lasts without renewal (a dead leader is replaced within it)",
			value: &durationValue{p: &c.LeaderLease, positive: true}},
		{env: EnvScheduleLookahead, flag: "schedule-lookahead",
			usage: "how long before its fire time a schedule fire's job is written (fires with no condition and overlap allow); 0: off",
			value: &durationValue{p: &c.ScheduleLookahead, max: MaxScheduleLookahead}},
		{env: EnvShutdownTimeout, flag: "shutdown-timeout", usage: "how long running jobs get to finish on shutdown",
			value: &durationValue{p: &c.ShutdownTimeout}},
		{env: EnvAbortGrace, flag: "abort-grace", usage: "how long a worker has to return once its job is aborted, timed out or interrupted, before the job is finished without it; an exec worker gets SIGTERM, then SIGKILL after half of it",
			value: &durationValue{p: &c.AbortGrace}},
		{env: EnvRetention, flag: "retention", usage: "how long finished jobs are kept (like 7d or 12h)",
			value: &durationValue{p: &c.Retention, positive: true}},
		{env: EnvSQLiteSynchronous, flag: "sqlite-synchronous", usage: "SQLite synchronous mode: FULL, NORMAL or OFF",
			value: &stringValue{p: &c.SQLiteSynchronous, norm: normSynchronous}},
		{env: EnvListen, flag: "listen", usage: "HTTP API listen address (host:port), or off",
			value: &stringValue{p: &c.Listen, norm: normListen}},
		{env: EnvTokens, flag: "tokens", hide: redactTokens,
			usage: "HTTP API bearer tokens, name:role:secret,... (role read, write or admin); prefer the variable or a file",
			value: &tokensValue{p: &c.Tokens}},
		{env: EnvTokensFile, flag: "tokens-file", usage: "file of HTTP API tokens, one name:role:secret per line",
			value: &stringValue{p: &c.TokensFile, norm: normPath}},
		{env: EnvHTTPMaxBody, flag: "http-max-body", usage: "largest HTTP request body (like 1MiB)",
			value: &byteSizeValue{p: &c.HTTPMaxBody}},
		{env: EnvHTTPMaxLongPolls, flag: "http-max-long-polls", usage: "HTTP requests that may wait for work at once",
			value: &intValue{p: &c.HTTPMaxLongPolls}},
		{env: EnvPostgresSchema, flag: "postgres-schema", usage: "PostgreSQL schema of rota's tables (postgres stores only)",
			value: &stringValue{p: &c.PostgresSchema, norm: normSchema}},
		// The CLI's remote mode.
		{env: EnvServer, flag: "server", secret: true, usage: "drive the rota serve at this URL (like http://127.0.0.1:7700) instead of the store",
			value: &stringValue{p: &c.Server, norm: normServer}},
		{env: EnvToken, flag: "token", hide: func(string) string { return "xxxxx" },
			usage: "bearer token for --server; prefer the variable (it is never shown)",
			value: &secretValue{p: &c.Token}},
	}
}

func normDatabaseURL(s string) (string, error) {
	if _, _, err := ParseDatabaseURL(s); err != nil {
		return "", errors.New("not a database URL: " + strings.TrimPrefix(err.Error(), "config: "))
	}
	return s, nil
}

func normNodeID(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("empty; want a node id")
	case len(s) > 255:
		return "", errors.New("too long; want at most 255 bytes")
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return "", errors.New("not a node id (no spaces or control characters)")
	}
	return s, nil
}

func normLogFormat(s string) (string, error) {
	switch strings.ToLower(s) {
	case LogFormatText:
		return LogFormatText, nil
	case LogFormatJSON:
		return LogFormatJSON, nil
	}
	return "", errors.New("not a log format (text or json)")
}

func normSynchronous(s string) (string, error) {
	switch u := strings.ToUpper(s); u {
	case SynchronousFull, SynchronousNormal, SynchronousOff:
		return u, nil
	}
	return "", errors.New("not a SQLite synchronous mode (FULL, NORMAL or OFF)")
}

// normSchema accepts a lower-case PostgreSQL identifier (the store checks it
// again, with its own limits).
func normSchema(s string) (string, error) {
	if s == "" || len(s) > 48 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '_') {
		return "", errors.New("not a schema name (lower-case letters, digits and _, at most 48, not starting with a digit)")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return "", errors.New("not a schema name (lower-case letters, digits and _, at most 48, not starting with a digit)")
		}
	}
	return s, nil
}

func normListen(s string) (string, error) {
	if strings.EqualFold(s, ListenOff) {
		return ListenOff, nil
	}
	bad := errors.New("not a listen address (host:port, like 127.0.0.1:7700 or :7700, or off)")
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", bad
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return "", bad
	}
	return s, nil
}

// ParseLevel parses a log level name in any case: debug, info, warn (or
// warning) or error. slog's offset form ("debug-4", "INFO+2") is accepted
// too, so FormatLevel's output always parses back.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	var l slog.Level
	if s != "" && strings.ContainsAny(s, "+-") && l.UnmarshalText([]byte(s)) == nil {
		return l, nil
	}
	return 0, fmt.Errorf("config: %q is not a log level (debug, info, warn or error)", s)
}

// FormatLevel returns l's name in lower case ("info", "debug-4").
func FormatLevel(l slog.Level) string { return strings.ToLower(l.String()) }

// ParseDatabaseURL tells which driver a database URL is for and what to
// open:
//
//	postgres://... or postgresql://...  → "postgres", the URL unchanged
//	sqlite:///abs/path.db               → "sqlite", "/abs/path.db"
//	sqlite:rel/path.db                  → "sqlite", "rel/path.db"
//	rel/or/abs/path.db (no scheme)      → "sqlite", the path
//
// Anything after the path (a ?query) is kept in target for the driver. Any
// other scheme is an error.
func ParseDatabaseURL(s string) (driver, target string, err error) {
	if strings.TrimSpace(s) == "" {
		return "", "", errors.New("config: empty database URL")
	}
	scheme, rest, hasScheme := splitScheme(s)
	switch {
	case !hasScheme:
		return "sqlite", s, nil
	case scheme == "postgres" || scheme == "postgresql":
		if !strings.HasPrefix(rest, "//") {
			return "", "", fmt.Errorf("config: %s URL must start with %s://", scheme, scheme)
		}
		return "postgres", s, nil
	case scheme == "sqlite":
		if p, ok := strings.CutPrefix(rest, "//"); ok {
			if !strings.HasPrefix(p, "/") {
				return "", "", errors.New("config: sqlite:// URL needs an absolute path (sqlite:///abs/path.db); use sqlite:rel/path.db for a relative one")
			}
			rest = p
		}
		if rest == "" || strings.HasPrefix(rest, "?") {
			return "", "", errors.New("config: sqlite URL has no file path")
		}
		return "sqlite", rest, nil
	}
	return "", "", fmt.Errorf("config: unsupported database scheme %q (want postgres://, sqlite: or a file path)", scheme)
}

// splitScheme splits "scheme:rest" when s starts with a URL scheme followed
// by "://", or is "sqlite:..."/"postgres:...". A bare path such as
// "data/rota.db" or ":memory:" has no scheme.
func splitScheme(s string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", false
	}
	scheme = strings.ToLower(s[:i])
	for j, r := range scheme {
		isLetter := r >= 'a' && r <= 'z'
		if !isLetter && (j == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return "", "", false
		}
	}
	rest = s[i+1:]
	switch {
	case scheme == "sqlite" || scheme == "postgres" || scheme == "postgresql":
		return scheme, rest, true
	case strings.HasPrefix(rest, "//"):
		return scheme, rest, true
	}
	return "", "", false
}

// RedactURLs hides the credentials of each comma-separated URL of s: the
// whole user information, user and password alike (a NATS token is the
// user part: "nats://TOKEN@h:4222" becomes "nats://xxxxx@h:4222").
func RedactURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, raw := range parts {
		p := strings.TrimLeft(raw, " \t")
		lead := raw[:len(raw)-len(p)]
		_, rest, ok := splitScheme(p)
		if !ok || !strings.HasPrefix(rest, "//") {
			continue
		}
		auth := rest[2:]
		if j := strings.IndexAny(auth, "/?#"); j >= 0 {
			auth = auth[:j]
		}
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			start := len(p) - len(rest) + 2 // through "scheme://"
			parts[i] = lead + p[:start] + "xxxxx" + p[start+at:]
		}
	}
	return strings.Join(parts, ",")
}

// URLOrigin returns the scheme and host of a URL ("https://h/a/b?c" gives
// "https://h/…"), for URLs that may carry a secret in their path or
// query, such as a webhook's; s itself when it is not such a URL.
func URLOrigin(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return RedactURLs(s)
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil {
		out = u.Scheme + "://xxxxx@" + u.Host
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		out += "/…"
	}
	return out
}

// redactURL hides the password of a URL-looking value ("postgres://u:pw@h"
// becomes "postgres://u:xxxxx@h").
func redactURL(s string) string {
	_, rest, ok := splitScheme(s)
	if !ok || !strings.HasPrefix(rest, "//") {
		return s
	}
	auth := rest[2:]
	if i := strings.IndexAny(auth, "/?#"); i >= 0 {
		auth = auth[:i]
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return s
	}
	colon := strings.IndexByte(auth[:at], ':')
	if colon < 0 {
		return s
	}
	prefix := len(s) - len(rest) + 2 // through "scheme://"
	return s[:prefix+colon+1] + "xxxxx" + s[prefix+at:]
}
