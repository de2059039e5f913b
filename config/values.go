package config

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"

	"github.com/rotahq/rota/internal/duration"
)

// BindFlags registers one flag per setting on fs (--database-url, --node-id,
// --log-level, --log-format, --workers-dir, --queues, --lease-duration,
// --shutdown-timeout, --abort-grace, --retention, --sqlite-synchronous,
// --listen, --tokens, --tokens-file, --http-max-body, --http-max-long-polls).
// Each flag writes into c and shows c's current value as its
// default, so binding after FromEnv layers flags over the environment over
// the defaults. A flag's value is checked as the variable's would be.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	for _, s := range c.settings() {
		fs.Var(s.value, s.flag, s.usage+" (env "+s.env+")")
		if (s.secret || s.hide != nil) && s.value.String() != "" {
			// --help shows the default: never a credential from the
			// environment.
			f := fs.Lookup(s.flag)
			f.DefValue = s.redact(f.DefValue)
		}
	}
}

// value is a pflag.Value bound to one Config field that can also check the
// field's current value (for Validate). Errors are reasons: they read after
// "<value> is".
type value interface {
	pflag.Value
	check() error
}

type stringValue struct {
	p    *string
	norm func(string) (string, error)
}

func (v *stringValue) String() string { return *v.p }
func (v *stringValue) Type() string   { return "string" }
func (v *stringValue) check() error   { _, err := v.norm(*v.p); return err }
func (v *stringValue) Set(s string) error {
	n, err := v.norm(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

type durationValue struct {
	p        *time.Duration
	positive bool          // 0 is not allowed either
	max      time.Duration // 0: no maximum
	// flag marks a DurationFlag: a bare number is seconds, and every
	// duration is taken (the command that reads it checks the range).
	flag bool
}

// DurationFlag returns a flag value (for pflag.FlagSet.Var) that reads a
// duration into *p as the HTTP API reads one: in ParseDuration's syntax
// ("90s", "1h30m", "7d", "1d12h") or as a bare number of seconds ("90",
// "1.5"). It shows *p, the flag's default, in FormatDuration's syntax
// (nothing for 0). It takes negative and large durations too: the command
// that reads *p checks its range, with the message of its field.
func DurationFlag(p *time.Duration) pflag.Value { return &durationValue{p: p, flag: true} }

func (v *durationValue) String() string {
	if v.flag && *v.p == 0 {
		return "0" // what pflag takes for a zero default: --help does not show it
	}
	return FormatDuration(*v.p)
}
func (v *durationValue) Type() string { return "duration" }
func (v *durationValue) check() error { return v.checkValue(*v.p) }
func (v *durationValue) checkValue(d time.Duration) error {
	switch {
	case v.flag:
		return nil
	case d < 0:
		return errors.New("negative; want 0 or more")
	case d == 0 && v.positive:
		return errors.New("zero; want more than 0")
	case v.max > 0 && d > v.max:
		return fmt.Errorf("over the maximum %s", FormatDuration(v.max))
	}
	return nil
}
func (v *durationValue) Set(s string) error {
	var d time.Duration
	var err error
	switch {
	case v.flag && duration.IsDecimal(s):
		if d, err = duration.ParseSeconds(s); errors.Is(err, duration.ErrRange) {
			return errors.New("a number of seconds out of range")
		} else if err != nil {
			return errors.New("not a number of seconds (like 90 or 1.5)")
		}
	case v.flag:
		if d, err = duration.Parse(s); err != nil {
			return errors.New("not a duration (like 90s, 1h30m or 7d) or a number of seconds")
		}
	default:
		if d, err = duration.Parse(s); err != nil {
			return errors.New("not a duration (like 30s)")
		}
	}
	if err := v.checkValue(d); err != nil {
		return err
	}
	*v.p = d
	return nil
}

type levelValue struct{ p *slog.Level }

func (v *levelValue) String() string { return FormatLevel(*v.p) }
func (v *levelValue) Type() string   { return "level" }
func (v *levelValue) check() error   { return nil }
func (v *levelValue) Set(s string) error {
	l, err := ParseLevel(s)
	if err != nil {
		return errors.New("not a log level (debug, info, warn or error)")
	}
	*v.p = l
	return nil
}

type queuesValue struct{ p *map[string]int }

func (v *queuesValue) String() string { return FormatQueues(*v.p) }
func (v *queuesValue) Type() string   { return "queues" }
func (v *queuesValue) check() error {
	if err := checkQueues(*v.p); err != nil {
		return fmt.Errorf("not a queue list (like default=100,mail=10): %w", err)
	}
	return nil
}

// Set replaces the whole map: a repeated --queues flag does not merge.
func (v *queuesValue) Set(s string) error {
	m, err := ParseQueues(s)
	if err != nil {
		return errors.New("not a queue list (like default=100,mail=10): " + strings.TrimPrefix(err.Error(), "config: "))
	}
	*v.p = m
	return nil
}

// ParseQueues parses a queue list such as "default=100,mail=10": each queue
// this node serves and the most of its jobs that run at once here (at least
// 1). Spaces around names and numbers are ignored; empty items are skipped.
func ParseQueues(s string) (map[string]int, error) {
	m := make(map[string]int)
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, num, ok := strings.Cut(item, "=")
		name, num = strings.TrimSpace(name), strings.TrimSpace(num)
		if !ok {
			return nil, fmt.Errorf("config: queue %q has no max workers (want name=N)", item)
		}
		if !ValidQueueName(name) {
			return nil, fmt.Errorf("config: %q is not a queue name", name)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("config: queue %q is listed twice", name)
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("config: queue %q: max workers %q is not a whole number of at least 1", name, num)
		}
		m[name] = n
	}
	if len(m) == 0 {
		return nil, errors.New("config: no queues")
	}
	return m, nil
}

// FormatQueues writes m in ParseQueues syntax, sorted by queue name.
func FormatQueues(m map[string]int) string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(m[name]))
	}
	return b.String()
}

func checkQueues(m map[string]int) error {
	if len(m) == 0 {
		return errors.New("no queues")
	}
	for name, n := range m {
		if !ValidQueueName(name) {
			return fmt.Errorf("%q is not a queue name", name)
		}
		if n < 1 {
			return fmt.Errorf("queue %q: max workers %d is less than 1", name, n)
		}
	}
	return nil
}

// ValidQueueName reports whether name can name a queue: 1 to 128 bytes of
// printable characters, without spaces, commas or equals signs (which the
// ROTA_QUEUES syntax uses).
func ValidQueueName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	return strings.IndexFunc(name, func(r rune) bool {
		return r == ',' || r == '=' || r == unicode.ReplacementChar || unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) < 0
}

// ParseDuration parses a Go duration ("30s", "1h30m", "250ms") that may start
// with a whole number of days ("7d", "1d12h"): the syntax of rota's
// durations everywhere (the settings, the worker files, the HTTP API, the
// CLI's flags, an exec worker's retry hint).
func ParseDuration(s string) (time.Duration, error) {
	d, err := duration.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("config: %w", err)
	}
	return d, nil
}

// FormatDuration writes d so that ParseDuration reads it back: whole days as
// "7d", anything else as time.Duration.String does ("36h0m0s", "1.5s").
func FormatDuration(d time.Duration) string { return duration.Format(d) }
