package config

import (
	"bytes"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// envOf returns a getenv over m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefault(t *testing.T) {
	t.Parallel()
	c := Default()
	if c.NodeID == "" {
		t.Error("NodeID is empty, want the host name")
	}
	c.NodeID = "n"
	want := Config{
		DatabaseURL: "rota.db", NodeID: "n", LogLevel: slog.LevelInfo, LogFormat: "text",
		Queues: map[string]int{"default": 100}, LeaseDuration: 30 * time.Second, LeaderLease: 5 * time.Second,
		ScheduleLookahead: 1500 * time.Millisecond, ShutdownTimeout: 30 * time.Second, AbortGrace: 10 * time.Second, Retention: 7 * 24 * time.Hour,
		SQLiteSynchronous: "FULL", Listen: "127.0.0.1:7700", PostgresSchema: "rota",
		HTTPMaxBody: 1 << 20, HTTPMaxLongPolls: 100,
		EventsMax: 100000, EventsMaxAge: 24 * time.Hour, HTTPMaxEventStreams: 100, EventLog: "on",
		Sinks: Sinks{EventsFormat: "json", EventsBatch: 100, NATSSubject: "rota.events", NATSAbortSubject: "off", NATSAbortGroup: "rota", KafkaGroup: "rota", AbortKeyField: "key"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Default() = %+v\nwant        %+v", c, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	if q, err := ParseQueues(DefaultQueues); err != nil || !reflect.DeepEqual(q, Default().Queues) {
		t.Errorf("DefaultQueues parses to %v, %v; want Default().Queues", q, err)
	}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env     string // variable
		value   string
		want    func(c *Config) // sets the expected field on a Default()
		wantErr string          // the error's Reason, when the value is bad
	}{
		{EnvDatabaseURL, "postgres://u:p@db/rota", func(c *Config) { c.DatabaseURL = "postgres://u:p@db/rota" }, ""},
		{EnvDatabaseURL, "sqlite:///var/lib/rota.db", func(c *Config) { c.DatabaseURL = "sqlite:///var/lib/rota.db" }, ""},
		{EnvDatabaseURL, "data/rota.db", func(c *Config) { c.DatabaseURL = "data/rota.db" }, ""},
		{EnvDatabaseURL, "mysql://u:secret@db/rota", nil, `not a database URL: unsupported database scheme "mysql"`},
		{EnvNodeID, "node-7", func(c *Config) { c.NodeID = "node-7" }, ""},
		{EnvNodeID, "node 7", nil, "not a node id"},
		{EnvNodeID, strings.Repeat("n", 256), nil, "too long"},
		{EnvLogLevel, "DEBUG", func(c *Config) { c.LogLevel = slog.LevelDebug }, ""},
		{EnvLogLevel, "Warning", func(c *Config) { c.LogLevel = slog.LevelWarn }, ""},
		{EnvLogLevel, "error", func(c *Config) { c.LogLevel = slog.LevelError }, ""},
		{EnvLogLevel, "verbose", nil, "not a log level (debug, info, warn or error)"},
		{EnvLogFormat, "JSON", func(c *Config) { c.LogFormat = "json" }, ""},
		{EnvLogFormat, "text", func(c *Config) { c.LogFormat = "text" }, ""},
		{EnvLogFormat, "xml", nil, "not a log format (text or json)"},
		{EnvWorkersDir, "/etc/rota/workers", func(c *Config) { c.WorkersDir = "/etc/rota/workers" }, ""},
		{EnvQueues, "default=100,mail=10", func(c *Config) { c.Queues = map[string]int{"default": 100, "mail": 10} }, ""},
		{EnvQueues, " mail = 5 , ", func(c *Config) { c.Queues = map[string]int{"mail": 5} }, ""},
		{EnvQueues, "mail=0", nil, `not a queue list (like default=100,mail=10): queue "mail": max workers "0" is not a whole number of at least 1`},
		{EnvQueues, "mail", nil, `queue "mail" has no max workers (want name=N)`},
		{EnvQueues, "mail=1,mail=2", nil, `queue "mail" is listed twice`},
		{EnvQueues, "mail=ten", nil, `max workers "ten" is not a whole number`},
		{EnvQueues, ",", nil, "no queues"},
		{EnvLeaseDuration, "45s", func(c *Config) { c.LeaseDuration = 45 * time.Second }, ""},
		{EnvLeaseDuration, "abc", nil, "not a duration (like 30s)"},
		{EnvLeaseDuration, "0s", nil, "zero; want more than 0"},
		{EnvLeaseDuration, "-5s", nil, "negative; want 0 or more"},
		{EnvLeaderLease, "2s", func(c *Config) { c.LeaderLease = 2 * time.Second }, ""},
		{EnvLeaderLease, "0s", nil, "zero; want more than 0"},
		{EnvShutdownTimeout, "2m", func(c *Config) { c.ShutdownTimeout = 2 * time.Minute }, ""},
		{EnvShutdownTimeout, "0", func(c *Config) { c.ShutdownTimeout = 0 }, ""},
		{EnvShutdownTimeout, "30", nil, "not a duration (like 30s)"},
		{EnvScheduleLookahead, "250ms", func(c *Config) { c.ScheduleLookahead = 250 * time.Millisecond }, ""},
		{EnvScheduleLookahead, "0", func(c *Config) { c.ScheduleLookahead = 0 }, ""},
		{EnvScheduleLookahead, "2m", nil, "over the maximum 1m"},
		{EnvScheduleLookahead, "-1s", nil, "negative"},
		{EnvAbortGrace, "500ms", func(c *Config) { c.AbortGrace = 500 * time.Millisecond }, ""},
		{EnvAbortGrace, "-1s", nil, "negative"},
		{EnvRetention, "30d", func(c *Config) { c.Retention = 30 * 24 * time.Hour }, ""},
		{EnvRetention, "1d12h", func(c *Config) { c.Retention = 36 * time.Hour }, ""},
		{EnvRetention, "12h", func(c *Config) { c.Retention = 12 * time.Hour }, ""},
		{EnvRetention, "1w", nil, "not a duration (like 30s)"},
		{EnvSQLiteSynchronous, "normal", func(c *Config) { c.SQLiteSynchronous = "NORMAL" }, ""},
		{EnvSQLiteSynchronous, "OFF", func(c *Config) { c.SQLiteSynchronous = "OFF" }, ""},
		{EnvSQLiteSynchronous, "EXTRA", nil, "not a SQLite synchronous mode (FULL, NORMAL or OFF)"},
		{EnvListen, ":8080", func(c *Config) { c.Listen = ":8080" }, ""},
		{EnvListen, "[::1]:7700", func(c *Config) { c.Listen = "[::1]:7700" }, ""},
		{EnvListen, "localhost", nil, "not a listen address"},
		{EnvListen, "localhost:99999", nil, "not a listen address"},
		{EnvListen, "OFF", func(c *Config) { c.Listen = "off" }, ""},
		{EnvTokens, "ci:write:0123456789abcdef, ops:ADMIN:x:y:0123456789abcdef", func(c *Config) {
			c.Tokens = []Token{{"ci", "write", "0123456789abcdef"}, {"ops", "admin", "x:y:0123456789abcdef"}}
		}, ""},
		{EnvTokens, "ci:owner:0123456789abcdef", nil, `token 1: the role (second part) is not read, write or admin`},
		{EnvTokens, "ci:read:short", nil, `token 1: the secret (third part) is shorter than 16 bytes`},
		// A secret in the role's place is not shown (the test below checks
		// that no error shows it).
		{EnvTokens, "ci:Sup3rSecretValue-0123456789:write", nil, `token 1: the role (second part)`},
		{EnvTokens, "s3cr3t/with:colon:0123456789abcdef", nil, `token 1: the name (first part)`},
		{EnvTokens, "ci:read", nil, `not a token list (name:role:secret,...): token 1: not name:role:secret`},
		{EnvTokens, "a b:read:0123456789abcdef", nil, `token 1: the name (first part) is not 1 to`},
		{EnvTokens, "ci:read:0123456789abcdef,ci:admin:0123456789abcdeg", nil, `token name "ci" is used twice`},
		{EnvTokensFile, "/etc/rota/tokens", func(c *Config) { c.TokensFile = "/etc/rota/tokens" }, ""},
		{EnvHTTPMaxBody, "4MiB", func(c *Config) { c.HTTPMaxBody = 4 << 20 }, ""},
		{EnvHTTPMaxBody, "65536", func(c *Config) { c.HTTPMaxBody = 65536 }, ""},
		{EnvHTTPMaxBody, "2MB", func(c *Config) { c.HTTPMaxBody = 2e6 }, ""},
		{EnvHTTPMaxBody, "12", nil, "out of range; want 1KiB to 1GiB"},
		{EnvHTTPMaxBody, "1TiB", nil, "not a size"},
		{EnvHTTPMaxBody, "-1", nil, "not a size"},
		{EnvHTTPMaxLongPolls, "8", func(c *Config) { c.HTTPMaxLongPolls = 8 }, ""},
		{EnvHTTPMaxLongPolls, "0", nil, "less than 1"},
		{EnvHTTPMaxLongPolls, "many", nil, "not a whole number"},
		{EnvPostgresSchema, "rota_staging", func(c *Config) { c.PostgresSchema = "rota_staging" }, ""},
		{EnvPostgresSchema, "Rota", nil, "not a schema name"},
		{EnvPostgresSchema, "9lives", nil, "not a schema name"},
		{EnvPostgresSchema, "a-b", nil, "not a schema name"},
		{EnvEventsMax, "5000", func(c *Config) { c.EventsMax = 5000 }, ""},
		{EnvEventsMax, "0", nil, "less than 1"},
		{EnvEventsMaxAge, "7d", func(c *Config) { c.EventsMaxAge = 7 * 24 * time.Hour }, ""},
		{EnvEventsMaxAge, "0s", nil, "zero; want more than 0"},
		{EnvHTTPMaxEventStreams, "3", func(c *Config) { c.HTTPMaxEventStreams = 3 }, ""},
		{EnvHTTPMaxEventStreams, "none", nil, "not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			got, err := FromEnv(envOf(map[string]string{tt.env: tt.value}))
			want := Default()
			if tt.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a *FieldError", err)
				}
				if fe.Field != tt.env || !strings.Contains(fe.Reason, tt.wantErr) {
					t.Errorf("FieldError = %+v, want Field %s and Reason containing %q", fe, tt.env, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), tt.env+": ") {
					t.Errorf("err = %q, want it to start with the variable", err)
				}
				for _, secret := range []string{"0123456789abcdef", "Sup3rSecret", "s3cr3t"} {
					if tt.env == EnvTokens && strings.Contains(err.Error(), secret) {
						t.Errorf("err = %q shows a secret", err)
					}
				}
			} else {
				if err != nil {
					t.Fatalf("FromEnv: %v", err)
				}
				tt.want(&want)
			}
			// Bad values leave the default in place.
			if !reflect.DeepEqual(got, want) {
				t.Errorf("FromEnv = %+v\nwant       %+v", got, want)
			}
		})
	}
}

func TestFromEnvMessages(t *testing.T) {
	t.Parallel()
	_, err := FromEnv(envOf(map[string]string{
		EnvLeaseDuration: "abc",
		EnvLogLevel:      "loud",
		EnvDatabaseURL:   "mysql://rota:hunter2@db/rota",
	}))
	msg := err.Error()
	for _, want := range []string{
		`ROTA_LEASE_DURATION: "abc" is not a duration (like 30s)`,
		`ROTA_LOG_LEVEL: "loud" is not a log level (debug, info, warn or error)`,
		`ROTA_DATABASE_URL: "mysql://rota:xxxxx@db/rota" is not a database URL`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\ndoes not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error %q shows the password", msg)
	}
	// Unset and empty variables keep the defaults.
	c, err := FromEnv(envOf(map[string]string{EnvQueues: ""}))
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("FromEnv(empty) = %+v, %v; want Default()", c, err)
	}
}

func TestBindFlagsLayering(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		EnvLogLevel:      "debug",
		EnvQueues:        "default=5,mail=2",
		EnvLeaseDuration: "1m",
		EnvListen:        ":9000",
	})
	tests := []struct {
		name    string
		args    []string
		want    func(c *Config)
		wantErr string
	}{
		{
			name: "env over defaults, no flags",
			want: func(c *Config) {},
		},
		{
			name: "flags over env",
			args: []string{"--log-level=ERROR", "--queues", "bulk=50", "--listen", "0.0.0.0:7700",
				"--database-url", "sqlite:rel.db", "--node-id", "n2", "--log-format", "json",
				"--workers-dir", "w", "--shutdown-timeout", "1s", "--abort-grace", "2s",
				"--retention", "1d", "--sqlite-synchronous", "normal", "--lease-duration", "10s"},
			want: func(c *Config) {
				c.LogLevel = slog.LevelError
				c.Queues = map[string]int{"bulk": 50}
				c.Listen = "0.0.0.0:7700"
				c.DatabaseURL = "sqlite:rel.db"
				c.NodeID = "n2"
				c.LogFormat = "json"
				c.WorkersDir = "w"
				c.ShutdownTimeout = time.Second
				c.AbortGrace = 2 * time.Second
				c.Retention = 24 * time.Hour
				c.SQLiteSynchronous = "NORMAL"
				c.LeaseDuration = 10 * time.Second
			},
		},
		{
			name:    "bad flag",
			args:    []string{"--lease-duration", "abc"},
			wantErr: `invalid argument "abc" for "--lease-duration" flag: not a duration (like 30s)`,
		},
		{
			name:    "bad queues flag",
			args:    []string{"--queues", "a=1,a=2"},
			wantErr: `queue "a" is listed twice`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := FromEnv(env)
			if err != nil {
				t.Fatal(err)
			}
			c.NodeID = "n1"
			fs := pflag.NewFlagSet("rota", pflag.ContinueOnError)
			fs.SetOutput(&bytes.Buffer{})
			c.BindFlags(fs)
			err = fs.Parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			want.NodeID = "n1"
			want.LogLevel = slog.LevelDebug
			want.Queues = map[string]int{"default": 5, "mail": 2}
			want.LeaseDuration = time.Minute
			want.Listen = ":9000"
			tt.want(&want)
			if !reflect.DeepEqual(c, want) {
				t.Errorf("config = %+v\nwant     %+v", c, want)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestBindFlagsDefaultsShown(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(envOf(map[string]string{EnvQueues: "mail=10,default=100", EnvRetention: "14d", EnvLogLevel: "WARN"}))
	if err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("rota", pflag.ContinueOnError)
	c.BindFlags(fs)
	want := map[string]string{
		"database-url": "rota.db", "log-level": "warn", "log-format": "text", "workers-dir": "",
		"queues": "default=100,mail=10", "lease-duration": "30s", "leader-lease": "5s", "shutdown-timeout": "30s",
		"schedule-lookahead": "1.5s",
		"abort-grace":        "10s", "retention": "14d", "sqlite-synchronous": "FULL", "listen": "127.0.0.1:7700",
		"node-id": c.NodeID, "postgres-schema": "rota",
		"tokens": "", "tokens-file": "", "http-max-body": "1MiB", "http-max-long-polls": "100",
		"events-max": "100000", "events-max-age": "1d", "http-max-event-streams": "100", "event-log": "on",
	}
	want["server"], want["token"] = "", "" // the CLI's remote mode
	for f, d := range map[string]string{   // the event sinks
		"events-format": "json", "events-kinds": "", "events-queues": "", "events-batch": "100", "webhook-url": "", "webhook-secret": "",
		"nats-url": "", "nats-subject": "rota.events", "nats-jetstream": "off", "nats-abort-subject": "off", "nats-abort-group": "rota",
		"kafka-brokers": "", "kafka-topic": "", "kafka-abort-topic": "", "kafka-group": "rota", "abort-key-field": "key",
		"kafka-tls": "off", "kafka-sasl": "", "kafka-user": "", "kafka-password": "",
		"nats-creds": "", "nats-nkey": "", "nats-tls-ca": "", "nats-tls-cert": "", "nats-tls-key": "",
		"kafka-tls-ca": "", "kafka-tls-cert": "", "kafka-tls-key": "",
	} {
		want[f] = d
	}
	n := 0
	fs.VisitAll(func(f *pflag.Flag) {
		n++
		if w, ok := want[f.Name]; !ok {
			t.Errorf("unexpected flag --%s", f.Name)
		} else if f.DefValue != w {
			t.Errorf("--%s default = %q, want %q", f.Name, f.DefValue, w)
		}
		if !strings.Contains(f.Usage, "ROTA_") {
			t.Errorf("--%s usage %q does not name its variable", f.Name, f.Usage)
		}
	})
	if n != len(want) {
		t.Errorf("%d flags, want %d", n, len(want))
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(c *Config)
		field  string // "" for valid
	}{
		{"default", func(c *Config) {}, ""},
		{"any-case format", func(c *Config) { c.LogFormat = "JSON"; c.SQLiteSynchronous = "normal" }, ""},
		{"empty database", func(c *Config) { c.DatabaseURL = "" }, EnvDatabaseURL},
		{"bad database", func(c *Config) { c.DatabaseURL = "redis://x" }, EnvDatabaseURL},
		{"empty node", func(c *Config) { c.NodeID = "" }, EnvNodeID},
		{"bad format", func(c *Config) { c.LogFormat = "" }, EnvLogFormat},
		{"no queues", func(c *Config) { c.Queues = nil }, EnvQueues},
		{"zero workers", func(c *Config) { c.Queues = map[string]int{"a": 0} }, EnvQueues},
		{"bad queue name", func(c *Config) { c.Queues = map[string]int{"a b": 1} }, EnvQueues},
		{"zero lease", func(c *Config) { c.LeaseDuration = 0 }, EnvLeaseDuration},
		{"negative shutdown", func(c *Config) { c.ShutdownTimeout = -1 }, EnvShutdownTimeout},
		{"negative grace", func(c *Config) { c.AbortGrace = -time.Second }, EnvAbortGrace},
		{"lookahead over the maximum", func(c *Config) { c.ScheduleLookahead = time.Hour }, EnvScheduleLookahead},
		{"zero retention", func(c *Config) { c.Retention = 0 }, EnvRetention},
		{"bad sync", func(c *Config) { c.SQLiteSynchronous = "FAST" }, EnvSQLiteSynchronous},
		{"bad listen", func(c *Config) { c.Listen = "nowhere" }, EnvListen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a *FieldError for %s", err, tt.field)
			}
		})
	}
	// Several problems are all reported.
	c := Default()
	c.NodeID, c.Listen = "", "x"
	if err := c.Validate(); !strings.Contains(err.Error(), EnvNodeID) || !strings.Contains(err.Error(), EnvListen) {
		t.Errorf("Validate = %v, want both problems", err)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in             string
		driver, target string
		wantErr        string
	}{
		{"postgres://u:p@localhost:5432/rota?sslmode=disable", "postgres", "postgres://u:p@localhost:5432/rota?sslmode=disable", ""},
		{"postgresql://localhost/rota", "postgres", "postgresql://localhost/rota", ""},
		{"POSTGRES://localhost/rota", "postgres", "POSTGRES://localhost/rota", ""},
		{"sqlite:///abs/path.db", "sqlite", "/abs/path.db", ""},
		{"sqlite:///abs/path.db?_txlock=immediate", "sqlite", "/abs/path.db?_txlock=immediate", ""},
		{"sqlite:rel/path.db", "sqlite", "rel/path.db", ""},
		{"sqlite:/abs/path.db", "sqlite", "/abs/path.db", ""},
		{"rota.db", "sqlite", "rota.db", ""},
		{"/var/lib/rota/rota.db", "sqlite", "/var/lib/rota/rota.db", ""},
		{"./data/rota.db", "sqlite", "./data/rota.db", ""},
		{":memory:", "sqlite", ":memory:", ""},
		{"", "", "", "empty database URL"},
		{"mysql://u:p@db/rota", "", "", `unsupported database scheme "mysql"`},
		{"http://example.com/db", "", "", `unsupported database scheme "http"`},
		{"sqlite://host/path.db", "", "", "needs an absolute path"},
		{"sqlite:", "", "", "no file path"},
		{"sqlite://", "", "", "needs an absolute path"},
		{"postgres:rota", "", "", "must start with postgres://"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			driver, target, err := ParseDatabaseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDatabaseURL(%q) = %q, %q, %v; want error %q", tt.in, driver, target, err, tt.wantErr)
				}
				return
			}
			if err != nil || driver != tt.driver || target != tt.target {
				t.Errorf("ParseDatabaseURL(%q) = %q, %q, %v; want %q, %q", tt.in, driver, target, err, tt.driver, tt.target)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"postgres://u:secret@h/db":        "postgres://u:xxxxx@h/db",
		"postgres://u:p@ss@h/db?x=1":      "postgres://u:xxxxx@h/db?x=1",
		"postgres://u@h/db":               "postgres://u@h/db",
		"postgres://h/db?password=secret": "postgres://h/db?password=secret", // query passwords are the driver's business
		"rota.db":                         "rota.db",
	}
	for in, want := range tests {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"debug", slog.LevelDebug, false},
		{"DEBUG", slog.LevelDebug, false},
		{"Info", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{"WARNING", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{" error ", slog.LevelError, false},
		{"debug-4", slog.LevelDebug - 4, false},
		{"INFO+2", slog.LevelInfo + 2, false},
		{"", 0, true},
		{"trace", 0, true},
		{"fatal", 0, true},
		{"3", 0, true},
		{"info+", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "not a log level") {
			t.Errorf("ParseLevel(%q) error = %q", tt.in, err)
		}
	}
	for _, l := range []slog.Level{slog.LevelDebug - 8, slog.LevelDebug, slog.LevelInfo, slog.LevelInfo + 1, slog.LevelWarn, slog.LevelError, slog.LevelError + 100} {
		if got, err := ParseLevel(FormatLevel(l)); err != nil || got != l {
			t.Errorf("ParseLevel(FormatLevel(%v)) = %v, %v", l, got, err)
		}
	}
}

// TestParseDuration checks ParseDuration and FormatDuration, the syntax's
// exported names; internal/duration's tests have the syntax's cases.
func TestParseDuration(t *testing.T) {
	t.Parallel()
	if d, err := ParseDuration("1d12h"); err != nil || d != 36*time.Hour {
		t.Errorf("ParseDuration(1d12h) = %v, %v", d, err)
	}
	for _, s := range []string{"abc", "30", "1.5d", "200000d"} {
		if d, err := ParseDuration(s); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
			t.Errorf("ParseDuration(%q) = %v, %v; want an error starting config: ", s, d, err)
		}
	}
	for _, d := range []time.Duration{0, 1500 * time.Millisecond, -72 * time.Hour, 1<<63 - 1} {
		if got, err := ParseDuration(FormatDuration(d)); err != nil || got != d {
			t.Errorf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", d, FormatDuration(d), got, err)
		}
	}
}

func TestDurationFlag(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string // in the error; "" for none
	}{
		{"90s", 90 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"7d", 7 * day, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"90", 90 * time.Second, ""},
		{"1.5", 1500 * time.Millisecond, ""},
		{"2e3", 2000 * time.Second, ""},
		{"0", 0, ""},
		// Any sign and size: the command checks the range.
		{"-5s", -5 * time.Second, ""},
		{"-90", -90 * time.Second, ""},
		{"-2d", -2 * day, ""},
		{"soon", 0, "not a duration (like 90s, 1h30m or 7d) or a number of seconds"},
		{"", 0, "not a duration"},
		{"1.5d", 0, "not a duration"},
		{"NaN", 0, "not a duration"},
		{"Inf", 0, "not a duration"},
		{"0x10", 0, "not a duration"},
		{"1e", 0, "not a number of seconds"},
		{"1-2", 0, "not a number of seconds"},
		{"1e400", 0, "out of range"},
		{"-1e400", 0, "out of range"},
		{"1e10", 0, "out of range"},
		{"200000d", 0, "not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			const unset = time.Minute
			d := unset
			err := DurationFlag(&d).Set(tt.in)
			switch {
			case tt.wantErr == "" && (err != nil || d != tt.want):
				t.Errorf("Set(%q) = %v, %v; want %v", tt.in, d, err, tt.want)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Set(%q): error %v, want one with %q", tt.in, err, tt.wantErr)
			case tt.wantErr != "" && d != unset:
				t.Errorf("Set(%q) failed but changed the value to %v", tt.in, d)
			}
		})
	}
}

func TestDurationFlagDefaultShown(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		def  time.Duration
		want string
	}{{0, ""}, {1500 * time.Millisecond, "1.5s"}, {7 * 24 * time.Hour, "7d"}} {
		d := tt.def
		fs := pflag.NewFlagSet("rota", pflag.ContinueOnError)
		fs.Var(DurationFlag(&d), "delay", "delay")
		got := ""
		if _, after, ok := strings.Cut(fs.FlagUsages(), "(default "); ok {
			got, _, _ = strings.Cut(after, ")")
		}
		if got != tt.want {
			t.Errorf("default %v shown as %q in %q, want %q", tt.def, got, fs.FlagUsages(), tt.want)
		}
	}
}

func TestParseQueues(t *testing.T) {
	t.Parallel()
	good := map[string]map[string]int{
		"default=100":                 {"default": 100},
		"default=100,mail=10":         {"default": 100, "mail": 10},
		" a = 1 ,b=2,, ":              {"a": 1, "b": 2},
		"analysis.ssi=3,q:low-prio=1": {"analysis.ssi": 3, "q:low-prio": 1},
	}
	for in, want := range good {
		got, err := ParseQueues(in)
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("ParseQueues(%q) = %v, %v; want %v", in, got, err, want)
		}
		if again, err := ParseQueues(FormatQueues(got)); err != nil || !maps.Equal(again, got) {
			t.Errorf("FormatQueues round trip of %v = %v, %v", got, again, err)
		}
	}
	for _, in := range []string{"", ",", "a", "a=", "=1", "a=0", "a=-1", "a=1.5", "a=1,a=2", "a b=1", "a=1=2"} {
		if got, err := ParseQueues(in); err == nil {
			t.Errorf("ParseQueues(%q) = %v, want an error", in, got)
		}
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := Default()
	c.LogFormat, c.LogLevel = LogFormatJSON, slog.LevelWarn
	l := c.NewLogger(&buf)
	l.Info("hidden")
	l.Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown"`) {
		t.Errorf("log output = %q", out)
	}
}
