package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rotahq/rota/internal/duration"
)

// Known keys of a worker file.
const (
	KeyLogLevel    = "log_level"
	KeyMaxWorkers  = "max_workers"
	KeyTimeout     = "timeout"
	KeyMaxAttempts = "max_attempts"
	KeyQueue       = "queue"
	KeyPriority    = "priority"
	KeyExec        = "exec"
	KeyInterval    = "interval"
	KeyRetention   = "retention"
	// KeyGlobalMaxWorkers and KeyRateLimit are the kind's cluster-wide
	// limits, held by the store across every node that shares it.
	KeyGlobalMaxWorkers = "global_max_workers"
	KeyRateLimit        = "rate_limit"
	// KeyRanker names the ranker that sets the priority of the kind's jobs
	// enqueued without one.
	KeyRanker = "ranker"
	// KeyBackoff is the delay before a failed attempt's retry: an
	// exponential backoff's base, max and jitter.
	KeyBackoff = "backoff"
)

// Priority bounds of the priority key (lower runs first).
const (
	MinPriority = 0
	MaxPriority = 32767
)

// ErrNotSet is returned (wrapped) by WorkerConfig.Get for a key that is not set.
var ErrNotSet = errors.New("config: key not set")

// WorkerConfig is one worker kind's configuration: its file merged over
// _defaults.json. A nil pointer is a key that is not set, so "not set" is
// told apart from a zero value; the caller picks its own default then.
type WorkerConfig struct {
	LogLevel    *slog.Level    // log_level: debug, info, warn, error, any case
	MaxWorkers  *int           // max_workers: jobs of this kind running at once per node, ≥ 0
	Timeout     *time.Duration // timeout: "30s", "1h", or a number of seconds; 0 means none
	MaxAttempts *int           // max_attempts: ≥ 1
	Queue       *string        // queue: the queue jobs of this kind go to
	Priority    *int           // priority: MinPriority..MaxPriority
	Exec        *Exec          // exec: run each job as an external command
	Interval    *string        // interval: schedule phrase, kept verbatim (makes the kind periodic)
	Retention   *time.Duration // retention: how long finished jobs are kept, > 0
	// global_max_workers: jobs of this kind running at once across every
	// node sharing the store, ≥ 0 (0: no such cap).
	GlobalMaxWorkers *int
	// rate_limit: {"n": 10, "per": "1s"}: at most n starts of this kind
	// in any interval of length per, across every node sharing the store.
	RateLimit *RateLimit
	// ranker: "recency" or {"name": "recency", "window": "3d"}: the
	// priority of a job enqueued without one comes from the ranker.
	Ranker *Ranker
	// backoff: {"base": "5s", "max": "10m", "jitter": 0.1}: the delay
	// after a failed attempt, doubling from base up to max, spread by
	// ±jitter. Parts left out take the engine's defaults.
	Backoff *Backoff

	// Custom holds every other key, as compact JSON, for the worker to
	// decode (see Get).
	Custom map[string]json.RawMessage

	// raw is every key as read (after merging), compact; nil when the value
	// was not made by parsing.
	raw map[string]json.RawMessage
}

// RateLimit is the value of the rate_limit key: at most N starts per Per.
// Both are required: N ≥ 1, Per > 0 (a duration string or a number of
// seconds).
type RateLimit struct {
	N   int
	Per time.Duration
}

// RankerRecency is the one built-in ranker: OpenKAT's recency ranker
// (rota.RecencyRanker).
const RankerRecency = "recency"

// Ranker is the value of the ranker key: the built-in ranker Name, and for
// the recency ranker its Window (0: its default, 7 days).
type Ranker struct {
	Name   string
	Window time.Duration
}

// Backoff is the value of the backoff key. A nil part is not set (the
// engine's default then): Base and Max > 0, Jitter from 0 to 1.
type Backoff struct {
	Base, Max *time.Duration
	Jitter    *float64
}

// Exec is the command of the exec key: a string is run with /bin/sh -c
// (Shell), an array of strings is an argv (Argv). Exactly one is set.
type Exec struct {
	Shell string
	Argv  []string
}

// KeyError is a known key with a value of the wrong type or out of range.
// Its message reads like
//
//	max_workers: want a whole number ≥ 0, got "ten"
type KeyError struct {
	Key  string
	Want string // what the key takes
	Got  string // the JSON found, shortened
}

// Error returns "key: want ..., got ...".
func (e *KeyError) Error() string { return e.Key + ": want " + e.Want + ", got " + e.Got }

// FileError is a problem with one file of a worker directory: Err (a syntax
// error, one or more *KeyError joined, a read error) prefixed with the
// file's path on every line. KeptLastGood: an earlier version of the file
// parsed and stays in force.
type FileError struct {
	Path         string
	Err          error
	KeptLastGood bool
}

// Error returns Err's message with the path before each line.
func (e *FileError) Error() string {
	lines := strings.Split(e.Err.Error(), "\n")
	for i, l := range lines {
		lines[i] = e.Path + ": " + l
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns Err.
func (e *FileError) Unwrap() error { return e.Err }

// ParseWorkerConfig parses one worker file: a JSON object whose known keys
// are checked and typed and whose other keys go to Custom. A key whose value
// is null is treated as not set. Errors are *KeyError values (every bad key,
// joined) or a description of the JSON syntax error with its line and
// column.
func ParseWorkerConfig(data []byte) (WorkerConfig, error) {
	raw, err := parseObject(data)
	if err != nil {
		return WorkerConfig{}, err
	}
	return build(raw)
}

// Get decodes the value of key (custom or known, as written in the file)
// into dst with encoding/json. A key that is not set gives an error matching
// errors.Is(err, ErrNotSet).
func (w WorkerConfig) Get(key string, dst any) error {
	v, ok := w.Raw()[key]
	if !ok {
		return fmt.Errorf("config: %s: %w", key, ErrNotSet)
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("config: %s: %w", key, err)
	}
	return nil
}

// Raw returns every key of the merged configuration as compact JSON: the
// values as written in the files (null keys removed). For a WorkerConfig not
// made by parsing, it is the values as MarshalJSON writes them. The map is
// a copy.
func (w WorkerConfig) Raw() map[string]json.RawMessage {
	if w.raw != nil {
		return maps.Clone(w.raw)
	}
	m, _ := w.toMap()
	return m
}

// MarshalJSON writes w as a worker file: known keys in canonical form (log
// levels in lower case, durations as strings) and custom keys as they are.
// ParseWorkerConfig reads the output back to an equal WorkerConfig.
func (w WorkerConfig) MarshalJSON() ([]byte, error) {
	m, err := w.toMap()
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func (w WorkerConfig) toMap() (map[string]json.RawMessage, error) {
	m := make(map[string]json.RawMessage, len(w.Custom)+12)
	for k, v := range w.Custom {
		m[k] = v
	}
	var errs []error
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", key, err))
			return
		}
		m[key] = b
	}
	if w.LogLevel != nil {
		put(KeyLogLevel, FormatLevel(*w.LogLevel))
	}
	if w.MaxWorkers != nil {
		put(KeyMaxWorkers, *w.MaxWorkers)
	}
	if w.Timeout != nil {
		put(KeyTimeout, FormatDuration(*w.Timeout))
	}
	if w.MaxAttempts != nil {
		put(KeyMaxAttempts, *w.MaxAttempts)
	}
	if w.Queue != nil {
		put(KeyQueue, *w.Queue)
	}
	if w.Priority != nil {
		put(KeyPriority, *w.Priority)
	}
	if w.Exec != nil {
		if w.Exec.Argv != nil {
			put(KeyExec, w.Exec.Argv)
		} else {
			put(KeyExec, w.Exec.Shell)
		}
	}
	if w.Interval != nil {
		put(KeyInterval, *w.Interval)
	}
	if w.Retention != nil {
		put(KeyRetention, FormatDuration(*w.Retention))
	}
	if w.GlobalMaxWorkers != nil {
		put(KeyGlobalMaxWorkers, *w.GlobalMaxWorkers)
	}
	if w.RateLimit != nil {
		put(KeyRateLimit, map[string]any{rateKeyN: w.RateLimit.N, rateKeyPer: FormatDuration(w.RateLimit.Per)})
	}
	if w.Ranker != nil {
		if w.Ranker.Window == 0 {
			put(KeyRanker, w.Ranker.Name)
		} else {
			put(KeyRanker, map[string]any{rankerKeyName: w.Ranker.Name, rankerKeyWindow: FormatDuration(w.Ranker.Window)})
		}
	}
	if b := w.Backoff; b != nil {
		o := map[string]any{}
		if b.Base != nil {
			o[backoffKeyBase] = FormatDuration(*b.Base)
		}
		if b.Max != nil {
			o[backoffKeyMax] = FormatDuration(*b.Max)
		}
		if b.Jitter != nil {
			o[backoffKeyJitter] = *b.Jitter
		}
		put(KeyBackoff, o)
	}
	return m, errors.Join(errs...)
}

// parseObject reads a JSON object into its keys, each value compact and
// HTML-escaped as encoding/json writes it, so that values compare equal
// byte for byte after a round trip. null values are kept (they unset keys
// when merging).
func parseObject(data []byte) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("empty file; want a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(data, syn.Offset)
			return nil, fmt.Errorf("line %d, column %d: %w", line, col, err)
		}
		if trimmed[0] != '{' {
			return nil, fmt.Errorf("want a JSON object, got %s", shorten(trimmed))
		}
		return nil, err
	}
	if m == nil {
		return nil, errors.New("want a JSON object, got null")
	}
	for k, v := range m {
		m[k] = canonical(v)
	}
	return m, nil
}

// canonical returns v compact and HTML-escaped.
func canonical(v json.RawMessage) json.RawMessage {
	var c, e bytes.Buffer
	if err := json.Compact(&c, v); err != nil {
		return v
	}
	json.HTMLEscape(&e, c.Bytes())
	return e.Bytes()
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:])
	if col == 0 {
		col = 1
	}
	return line, col
}

// merge returns base with over's keys laid on top; a null in over removes
// the key.
func merge(base, over map[string]json.RawMessage) map[string]json.RawMessage {
	m := maps.Clone(base)
	if m == nil {
		m = make(map[string]json.RawMessage, len(over))
	}
	for k, v := range over {
		if isNull(v) {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

// build types the known keys of raw and keeps the others in Custom.
func build(raw map[string]json.RawMessage) (WorkerConfig, error) {
	w := WorkerConfig{raw: make(map[string]json.RawMessage, len(raw))}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		v := raw[k]
		if isNull(v) {
			continue
		}
		w.raw[k] = v
		var err error
		switch k {
		case KeyLogLevel:
			w.LogLevel, err = decodeLevel(v)
		case KeyMaxWorkers:
			w.MaxWorkers, err = decodeInt(v, 0, math.MaxInt, "a whole number ≥ 0")
		case KeyTimeout:
			w.Timeout, err = decodeDuration(v, false)
		case KeyMaxAttempts:
			w.MaxAttempts, err = decodeInt(v, 1, math.MaxInt, "a whole number ≥ 1")
		case KeyQueue:
			w.Queue, err = decodeQueue(v)
		case KeyPriority:
			w.Priority, err = decodeInt(v, MinPriority, MaxPriority, fmt.Sprintf("a whole number from %d to %d", MinPriority, MaxPriority))
		case KeyExec:
			w.Exec, err = decodeExec(v)
		case KeyInterval:
			w.Interval, err = decodeInterval(v)
		case KeyRetention:
			w.Retention, err = decodeDuration(v, true)
		case KeyGlobalMaxWorkers:
			w.GlobalMaxWorkers, err = decodeInt(v, 0, math.MaxInt, "a whole number ≥ 0")
		case KeyRateLimit:
			w.RateLimit, err = decodeRateLimit(v)
		case KeyRanker:
			w.Ranker, err = decodeRanker(v)
		case KeyBackoff:
			w.Backoff, err = decodeBackoff(v)
		default:
			if w.Custom == nil {
				w.Custom = make(map[string]json.RawMessage)
			}
			w.Custom[k] = v
		}
		var ke *KeyError
		switch {
		case errors.As(err, &ke): // names a key inside the value
			errs = append(errs, err)
		case err != nil:
			errs = append(errs, &KeyError{Key: k, Want: err.Error(), Got: shorten(v)})
		}
	}
	if len(errs) > 0 {
		return WorkerConfig{}, errors.Join(errs...)
	}
	return w, nil
}

// shorten returns v for an error message, cut to about 60 bytes.
func shorten(v []byte) string {
	const max = 60
	if len(v) <= max {
		return string(v)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return string(v[:cut]) + "…"
}

// The decoders return what the key wants as the error text.

func decodeString(v json.RawMessage) (string, bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

func decodeLevel(v json.RawMessage) (*slog.Level, error) {
	want := errors.New("a log level (debug, info, warn or error)")
	s, ok := decodeString(v)
	if !ok {
		return nil, want
	}
	l, err := ParseLevel(s)
	if err != nil {
		return nil, want
	}
	return &l, nil
}

func decodeInt(v json.RawMessage, lo, hi int, want string) (*int, error) {
	n, err := strconv.Atoi(string(v))
	if err != nil || n < lo || n > hi {
		return nil, errors.New(want)
	}
	return &n, nil
}

func decodeDuration(v json.RawMessage, positive bool) (*time.Duration, error) {
	want := `a duration like "30s" or a number of seconds, ≥ 0`
	if positive {
		want = `a duration like "30s" or a number of seconds, > 0`
	}
	// null (in an object: a top-level null unsets the key) is no duration.
	d, err := duration.ParseJSON(v)
	if err != nil || isNull(v) || d < 0 || (positive && d == 0) {
		return nil, errors.New(want)
	}
	return &d, nil
}

func decodeQueue(v json.RawMessage) (*string, error) {
	s, ok := decodeString(v)
	if !ok || !ValidQueueName(s) {
		return nil, errors.New("a queue name (a string without spaces, commas or =)")
	}
	return &s, nil
}

func decodeInterval(v json.RawMessage) (*string, error) {
	s, ok := decodeString(v)
	if !ok || strings.TrimSpace(s) == "" {
		return nil, errors.New(`an interval phrase (a non-empty string, like "hourly")`)
	}
	return &s, nil
}

func decodeExec(v json.RawMessage) (*Exec, error) {
	want := errors.New("a command string or a non-empty array of strings")
	if s, ok := decodeString(v); ok {
		if strings.TrimSpace(s) == "" {
			return nil, want
		}
		return &Exec{Shell: s}, nil
	}
	if len(v) == 0 || v[0] != '[' {
		return nil, want
	}
	var parts []json.RawMessage
	if json.Unmarshal(v, &parts) != nil || len(parts) == 0 {
		return nil, want
	}
	argv := make([]string, len(parts))
	for i, p := range parts {
		s, ok := decodeString(p)
		if !ok || (i == 0 && s == "") {
			return nil, want
		}
		argv[i] = s
	}
	return &Exec{Argv: argv}, nil
}

// The keys of a rate_limit object.
const (
	rateKeyN   = "n"
	rateKeyPer = "per"
)

// The keys inside a backoff value.
const (
	backoffKeyBase   = "base"
	backoffKeyMax    = "max"
	backoffKeyJitter = "jitter"
)

// keyErrors collects the *KeyError values of the keys inside the object
// value of a known key (rate_limit.n, backoff.max, ...).
type keyErrors struct {
	parent string
	errs   []error
}

// add records that key wants want and got got (nil: the key is missing).
func (e *keyErrors) add(key, want string, got []byte) {
	g := "nothing"
	if got != nil {
		g = shorten(canonical(got))
	}
	e.errs = append(e.errs, &KeyError{Key: e.parent + "." + key, Want: want, Got: g})
}

// others records every key of m but known as "no such key", naming what
// the parent takes.
func (e *keyErrors) others(m map[string]json.RawMessage, takes string, known ...string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(known, k) {
			e.add(k, "no such key ("+e.parent+" takes "+takes+")", m[k])
		}
	}
}

// err joins what was recorded; nil when nothing was.
func (e *keyErrors) err() error { return errors.Join(e.errs...) }

// decodeObject reads an object value; ok is false for any other value.
func decodeObject(v json.RawMessage) (m map[string]json.RawMessage, ok bool) {
	if len(v) == 0 || v[0] != '{' || json.Unmarshal(v, &m) != nil {
		return nil, false
	}
	return m, true
}

// decodeBackoff reads {"base": "5s", "max": "10m", "jitter": 0.1}, each
// part optional. A value that is not an object fails as a whole; a bad
// part, or another key, fails as a *KeyError naming backoff.<key>.
func decodeBackoff(v json.RawMessage) (*Backoff, error) {
	m, ok := decodeObject(v)
	if !ok {
		return nil, fmt.Errorf(`an object like {"%s": "5s", "%s": "10m", "%s": 0.1}`, backoffKeyBase, backoffKeyMax, backoffKeyJitter)
	}
	var b Backoff
	errs := keyErrors{parent: KeyBackoff}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		val := m[k]
		if isNull(val) {
			continue
		}
		switch k {
		case backoffKeyBase, backoffKeyMax:
			d, err := decodeDuration(val, true)
			switch {
			case err != nil:
				errs.add(k, err.Error(), val)
			case *d <= 0:
				errs.add(k, `a duration like "30s" or a number of seconds, > 0`, val)
			case k == backoffKeyBase:
				b.Base = d
			default:
				b.Max = d
			}
		case backoffKeyJitter:
			f, err := strconv.ParseFloat(string(val), 64)
			if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
				errs.add(k, "a number from 0 to 1 (0.25 is ±25%)", val)
				continue
			}
			b.Jitter = &f
		default:
			errs.add(k, "no such key (backoff takes base, max and jitter)", val)
		}
	}
	if b.Base != nil && b.Max != nil && *b.Max < *b.Base {
		errs.add(backoffKeyMax, "a duration ≥ base ("+string(canonical(m[backoffKeyBase]))+")", m[backoffKeyMax])
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return &b, nil
}

// decodeRateLimit reads {"n": 10, "per": "1s"}. A value that is not an
// object fails as a whole; a bad or missing n or per, or another key,
// fails as a *KeyError naming rate_limit.<key> (joined when several).
func decodeRateLimit(v json.RawMessage) (*RateLimit, error) {
	m, ok := decodeObject(v)
	if !ok {
		return nil, fmt.Errorf(`an object like {"%s": 10, "%s": "1s"}`, rateKeyN, rateKeyPer)
	}
	var r RateLimit
	errs := keyErrors{parent: KeyRateLimit}
	const wantN = "a whole number ≥ 1"
	if n, ok := m[rateKeyN]; !ok || isNull(n) {
		errs.add(rateKeyN, wantN, nil)
	} else if p, err := decodeInt(n, 1, math.MaxInt, wantN); err != nil {
		errs.add(rateKeyN, err.Error(), n)
	} else {
		r.N = *p
	}
	const wantPer = `a duration like "30s" or a number of seconds, > 0`
	if per, ok := m[rateKeyPer]; !ok || isNull(per) {
		errs.add(rateKeyPer, wantPer, nil)
	} else if d, err := decodeDuration(per, true); err != nil {
		errs.add(rateKeyPer, err.Error(), per)
	} else {
		r.Per = *d
	}
	errs.others(m, "n and per", rateKeyN, rateKeyPer)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return &r, nil
}

// The keys of a ranker object.
const (
	rankerKeyName   = "name"
	rankerKeyWindow = "window"
)

// decodeRanker reads "recency" or {"name": "recency", "window": "3d"}. A
// value of another type fails as a whole; a bad name or window, or another
// key, fails as a *KeyError naming ranker.<key> (joined when several).
func decodeRanker(v json.RawMessage) (*Ranker, error) {
	const wantName = `"` + RankerRecency + `" (the only built-in ranker)`
	if name, ok := decodeString(v); ok {
		if name != RankerRecency {
			return nil, errors.New(wantName)
		}
		return &Ranker{Name: name}, nil
	}
	m, ok := decodeObject(v)
	if !ok {
		return nil, fmt.Errorf(`"%s" or an object like {"%s": "%s", "%s": "3d"}`, RankerRecency, rankerKeyName, RankerRecency, rankerKeyWindow)
	}
	var r Ranker
	errs := keyErrors{parent: KeyRanker}
	if n, ok := m[rankerKeyName]; !ok || isNull(n) {
		errs.add(rankerKeyName, wantName, nil)
	} else if name, ok := decodeString(n); !ok || name != RankerRecency {
		errs.add(rankerKeyName, wantName, n)
	} else {
		r.Name = name
	}
	if w, ok := m[rankerKeyWindow]; ok && !isNull(w) {
		if d, err := decodeDuration(w, true); err != nil {
			errs.add(rankerKeyWindow, err.Error(), w)
		} else {
			r.Window = *d
		}
	}
	errs.others(m, "name and window", rankerKeyName, rankerKeyWindow)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return &r, nil
}

// KeyHints returns, for each custom key of w that looks like a misspelt
// known key (such as "attempts" or "max_attempt" for max_attempts), the
// known key it resembles. Custom keys are the worker's own, so they are
// never refused; a hint is only worth a warning.
func (w WorkerConfig) KeyHints() map[string]string {
	var hints map[string]string
	for key := range w.Custom {
		if known, ok := resembles(key); ok {
			if hints == nil {
				hints = make(map[string]string)
			}
			hints[key] = known
		}
	}
	return hints
}

// resembles reports the known key that key looks like a misspelling of:
// the same letters but for case, '-' or '_'; one edit away (two for keys
// of 8 letters or more); or a distinctive part of it ("attempts",
// "worker").
func resembles(key string) (string, bool) {
	known := []string{KeyLogLevel, KeyMaxWorkers, KeyTimeout, KeyMaxAttempts, KeyQueue, KeyPriority,
		KeyExec, KeyInterval, KeyRetention, KeyGlobalMaxWorkers, KeyRateLimit, KeyRanker, KeyBackoff}
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("-", "", "_", "", " ", "").Replace(s))
	}
	k := norm(key)
	if len(k) < 4 {
		return "", false
	}
	for _, kn := range known {
		n := norm(kn)
		edits := 1
		if len(n) >= 8 {
			edits = 2
		}
		if editDistance(k, n) <= edits {
			return kn, true
		}
		for _, part := range strings.Split(kn, "_") {
			if len(part) >= 7 && strings.TrimSuffix(k, "s") == strings.TrimSuffix(part, "s") {
				return kn, true
			}
		}
	}
	return "", false
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
