package config

import (
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// writeFiles writes name → content into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// typed returns w without its raw map, to compare typed fields and Custom.
func typed(w WorkerConfig) WorkerConfig {
	w.raw = nil
	return w
}

func TestParseWorkerConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    WorkerConfig // compared without raw
		wantErr string
	}{
		{name: "empty object", in: `{}`, want: WorkerConfig{}},
		{name: "log level any case", in: `{"log_level": "DeBuG"}`, want: WorkerConfig{LogLevel: ptr(slog.LevelDebug)}},
		{name: "log level warning", in: `{"log_level": "WARNING"}`, want: WorkerConfig{LogLevel: ptr(slog.LevelWarn)}},
		{name: "log level bad", in: `{"log_level": "loud"}`, wantErr: `log_level: want a log level (debug, info, warn or error), got "loud"`},
		{name: "log level not a string", in: `{"log_level": 10}`, wantErr: `log_level: want a log level`},
		{name: "max workers", in: `{"max_workers": 10}`, want: WorkerConfig{MaxWorkers: ptr(10)}},
		{name: "max workers zero", in: `{"max_workers": 0}`, want: WorkerConfig{MaxWorkers: ptr(0)}},
		{name: "max workers word", in: `{"max_workers": "ten"}`, wantErr: `max_workers: want a whole number ≥ 0, got "ten"`},
		{name: "max workers negative", in: `{"max_workers": -1}`, wantErr: `max_workers: want a whole number ≥ 0, got -1`},
		{name: "max workers fraction", in: `{"max_workers": 1.5}`, wantErr: `max_workers: want a whole number ≥ 0, got 1.5`},
		{name: "max workers huge", in: `{"max_workers": 99999999999999999999}`, wantErr: `max_workers: want a whole number ≥ 0`},
		{name: "timeout string", in: `{"timeout": "1m30s"}`, want: WorkerConfig{Timeout: ptr(90 * time.Second)}},
		{name: "timeout days", in: `{"timeout": "1d"}`, want: WorkerConfig{Timeout: ptr(24 * time.Hour)}},
		{name: "timeout seconds", in: `{"timeout": 30}`, want: WorkerConfig{Timeout: ptr(30 * time.Second)}},
		{name: "timeout fractional seconds", in: `{"timeout": 0.25}`, want: WorkerConfig{Timeout: ptr(250 * time.Millisecond)}},
		{name: "timeout zero", in: `{"timeout": 0}`, want: WorkerConfig{Timeout: ptr(time.Duration(0))}},
		{name: "timeout negative", in: `{"timeout": "-1s"}`, wantErr: `timeout: want a duration like "30s" or a number of seconds, ≥ 0, got "-1s"`},
		{name: "timeout bad unit", in: `{"timeout": "30 seconds"}`, wantErr: `timeout: want a duration`},
		{name: "timeout overflow", in: `{"timeout": 1e300}`, wantErr: `timeout: want a duration`},
		{name: "timeout bool", in: `{"timeout": true}`, wantErr: `timeout: want a duration`},
		{name: "max attempts", in: `{"max_attempts": 5}`, want: WorkerConfig{MaxAttempts: ptr(5)}},
		{name: "max attempts zero", in: `{"max_attempts": 0}`, wantErr: `max_attempts: want a whole number ≥ 1, got 0`},
		{name: "queue", in: `{"queue": "mail"}`, want: WorkerConfig{Queue: ptr("mail")}},
		{name: "queue empty", in: `{"queue": ""}`, wantErr: `queue: want a queue name`},
		{name: "queue number", in: `{"queue": 1}`, wantErr: `queue: want a queue name`},
		{name: "priority", in: `{"priority": 32767}`, want: WorkerConfig{Priority: ptr(32767)}},
		{name: "priority zero", in: `{"priority": 0}`, want: WorkerConfig{Priority: ptr(0)}},
		{name: "priority too big", in: `{"priority": 32768}`, wantErr: `priority: want a whole number from 0 to 32767, got 32768`},
		{name: "exec string", in: `{"exec": "python3 worker.py --fast"}`, want: WorkerConfig{Exec: &Exec{Shell: "python3 worker.py --fast"}}},
		{name: "exec argv", in: `{"exec": ["python3", "worker.py", ""]}`, want: WorkerConfig{Exec: &Exec{Argv: []string{"python3", "worker.py", ""}}}},
		{name: "exec empty string", in: `{"exec": " "}`, wantErr: `exec: want a command string or a non-empty array of strings, got " "`},
		{name: "exec empty array", in: `{"exec": []}`, wantErr: `exec: want a command string`},
		{name: "exec mixed array", in: `{"exec": ["a", 1]}`, wantErr: `exec: want a command string`},
		{name: "exec empty program", in: `{"exec": [""]}`, wantErr: `exec: want a command string`},
		{name: "interval", in: `{"interval": "daily between 10:00 and 12:00"}`, want: WorkerConfig{Interval: ptr("daily between 10:00 and 12:00")}},
		{name: "interval number", in: `{"interval": 60}`, wantErr: `interval: want an interval phrase`},
		{name: "retention", in: `{"retention": "30d"}`, want: WorkerConfig{Retention: ptr(30 * 24 * time.Hour)}},
		{name: "retention zero", in: `{"retention": 0}`, wantErr: `retention: want a duration like "30s" or a number of seconds, > 0, got 0`},
		{name: "global max workers", in: `{"global_max_workers": 3}`, want: WorkerConfig{GlobalMaxWorkers: ptr(3)}},
		{name: "global max workers zero", in: `{"global_max_workers": 0}`, want: WorkerConfig{GlobalMaxWorkers: ptr(0)}},
		{name: "global max workers negative", in: `{"global_max_workers": -3}`, wantErr: `global_max_workers: want a whole number ≥ 0, got -3`},
		{name: "global max workers string", in: `{"global_max_workers": "3"}`, wantErr: `global_max_workers: want a whole number ≥ 0, got "3"`},
		{name: "rate limit", in: `{"rate_limit": {"n": 10, "per": "1s"}}`, want: WorkerConfig{RateLimit: &RateLimit{N: 10, Per: time.Second}}},
		{name: "rate limit per seconds", in: `{"rate_limit": {"per": 0.5, "n": 1}}`, want: WorkerConfig{RateLimit: &RateLimit{N: 1, Per: 500 * time.Millisecond}}},
		{name: "rate limit per day", in: `{"rate_limit": {"n": 1000, "per": "1d"}}`, want: WorkerConfig{RateLimit: &RateLimit{N: 1000, Per: 24 * time.Hour}}},
		{name: "ranker", in: `{"ranker": "recency"}`, want: WorkerConfig{Ranker: &Ranker{Name: "recency"}}},
		{name: "ranker with a window", in: `{"ranker": {"name": "recency", "window": "3d"}}`, want: WorkerConfig{Ranker: &Ranker{Name: "recency", Window: 72 * time.Hour}}},
		{name: "ranker object without window", in: `{"ranker": {"name": "recency"}}`, want: WorkerConfig{Ranker: &Ranker{Name: "recency"}}},
		{name: "ranker unknown", in: `{"ranker": "fifo"}`, wantErr: `ranker: want "recency" (the only built-in ranker), got "fifo"`},
		{name: "ranker a number", in: `{"ranker": 3}`, wantErr: `ranker: want "recency" or an object like {"name": "recency", "window": "3d"}, got 3`},
		{name: "ranker without name", in: `{"ranker": {"window": "3d"}}`, wantErr: `ranker.name: want "recency" (the only built-in ranker), got nothing`},
		{name: "ranker bad window", in: `{"ranker": {"name": "recency", "window": "-1h"}}`, wantErr: `ranker.window: want`},
		{name: "ranker zero window", in: `{"ranker": {"name": "recency", "window": 0}}`, wantErr: `ranker.window: want`},
		{name: "ranker unknown key", in: `{"ranker": {"name": "recency", "widow": "3d"}}`, wantErr: `ranker.widow: want no such key (ranker takes name and window), got "3d"`},
		{name: "rate limit not an object", in: `{"rate_limit": 10}`, wantErr: `rate_limit: want an object like {"n": 10, "per": "1s"}, got 10`},
		{name: "rate limit array", in: `{"rate_limit": [10, "1s"]}`, wantErr: `rate_limit: want an object like`},
		{name: "rate limit without n", in: `{"rate_limit": {"per": "1s"}}`, wantErr: `rate_limit.n: want a whole number ≥ 1, got nothing`},
		{name: "rate limit n null", in: `{"rate_limit": {"n": null, "per": "1s"}}`, wantErr: `rate_limit.n: want a whole number ≥ 1, got nothing`},
		{name: "rate limit n zero", in: `{"rate_limit": {"n": 0, "per": "1s"}}`, wantErr: `rate_limit.n: want a whole number ≥ 1, got 0`},
		{name: "rate limit without per", in: `{"rate_limit": {"n": 5}}`, wantErr: `rate_limit.per: want a duration like "30s" or a number of seconds, > 0, got nothing`},
		{name: "rate limit per zero", in: `{"rate_limit": {"n": 5, "per": "0s"}}`, wantErr: `rate_limit.per: want a duration like "30s" or a number of seconds, > 0, got "0s"`},
		{name: "rate limit per bad", in: `{"rate_limit": {"n": 5, "per": "soon"}}`, wantErr: `rate_limit.per: want a duration`},
		{name: "rate limit other key", in: `{"rate_limit": {"n": 5, "per": "1s", "burst": 2}}`, wantErr: `rate_limit.burst: want no such key (rate_limit takes n and per), got 2`},
		{name: "rate limit two bad keys", in: `{"rate_limit": {"n": "5", "per": -1}}`, wantErr: "rate_limit.n: want a whole number ≥ 1, got \"5\"\nrate_limit.per: want"},
		{name: "rate limit null", in: `{"rate_limit": null}`, want: WorkerConfig{}},
		{name: "backoff", in: `{"backoff": {"base": "5s", "max": "10m", "jitter": 0.1}}`,
			want: WorkerConfig{Backoff: &Backoff{Base: ptr(5 * time.Second), Max: ptr(10 * time.Minute), Jitter: ptr(0.1)}}},
		{name: "backoff base alone, in seconds", in: `{"backoff": {"base": 2}}`, want: WorkerConfig{Backoff: &Backoff{Base: ptr(2 * time.Second)}}},
		{name: "backoff without jitter", in: `{"backoff": {"jitter": 0}}`, want: WorkerConfig{Backoff: &Backoff{Jitter: ptr(0.0)}}},
		{name: "backoff empty object", in: `{"backoff": {}}`, want: WorkerConfig{Backoff: &Backoff{}}},
		{name: "backoff not an object", in: `{"backoff": "5s"}`, wantErr: `backoff: want an object like {"base": "5s", "max": "10m", "jitter": 0.1}, got "5s"`},
		{name: "backoff base zero", in: `{"backoff": {"base": 0}}`, wantErr: `backoff.base: want a duration like "30s" or a number of seconds, > 0, got 0`},
		{name: "backoff max under base", in: `{"backoff": {"base": "1m", "max": "30s"}}`, wantErr: `backoff.max: want a duration ≥ base ("1m"), got "30s"`},
		{name: "backoff jitter over 1", in: `{"backoff": {"jitter": 1.5}}`, wantErr: `backoff.jitter: want a number from 0 to 1 (0.25 is ±25%), got 1.5`},
		{name: "backoff jitter string", in: `{"backoff": {"jitter": "25%"}}`, wantErr: `backoff.jitter: want a number from 0 to 1`},
		{name: "backoff other key", in: `{"backoff": {"factor": 3}}`, wantErr: `backoff.factor: want no such key (backoff takes base, max and jitter), got 3`},
		{
			name: "custom keys kept compact",
			in:   "{\"new_value\": \"I'm a new configuration!\", \"nested\": {\"a\": [1, 2]}, \"html\": \"<b>\"}",
			want: WorkerConfig{Custom: map[string]json.RawMessage{
				"new_value": json.RawMessage(`"I'm a new configuration!"`),
				"nested":    json.RawMessage(`{"a":[1,2]}`),
				"html":      json.RawMessage(`"\u003cb\u003e"`),
			}},
		},
		{name: "null means not set", in: `{"max_workers": null, "x": null}`, want: WorkerConfig{}},
		{name: "last duplicate wins", in: `{"max_workers": "x", "max_workers": 2}`, want: WorkerConfig{MaxWorkers: ptr(2)}},
		{name: "keys are case-sensitive", in: `{"Max_Workers": "ten"}`, want: WorkerConfig{Custom: map[string]json.RawMessage{"Max_Workers": json.RawMessage(`"ten"`)}}},
		{name: "several bad keys", in: `{"priority": -1, "max_workers": "ten"}`, wantErr: "max_workers: want a whole number ≥ 0, got \"ten\"\npriority: want"},
		{name: "empty file", in: " \n", wantErr: "empty file; want a JSON object"},
		{name: "null file", in: "null", wantErr: "want a JSON object, got null"},
		{name: "array file", in: "[1]", wantErr: "want a JSON object, got [1]"},
		{name: "syntax error", in: "{\n  \"a\": 1,\n  \"b\": }\n", wantErr: "line 3, column 8: invalid character '}'"},
		{name: "truncated", in: `{"a": `, wantErr: "unexpected end of JSON input"},
		{name: "trailing data", in: `{} {}`, wantErr: "invalid character '{' after top-level value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseWorkerConfig([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseWorkerConfig(%s) = %+v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWorkerConfig(%s): %v", tt.in, err)
			}
			if !reflect.DeepEqual(typed(got), tt.want) {
				t.Errorf("ParseWorkerConfig(%s) =\n%+v\nwant\n%+v", tt.in, typed(got), tt.want)
			}
		})
	}
}

func TestKeyErrorIsTyped(t *testing.T) {
	t.Parallel()
	_, err := ParseWorkerConfig([]byte(`{"max_workers": "ten"}`))
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "max_workers" || ke.Got != `"ten"` {
		t.Fatalf("err = %#v, want a *KeyError for max_workers", err)
	}
	long := `{"queue": ["` + strings.Repeat("é", 100) + `"]}`
	_, err = ParseWorkerConfig([]byte(long))
	if !errors.As(err, &ke) || len(ke.Got) > 70 || !strings.HasSuffix(ke.Got, "…") {
		t.Errorf("Got = %q, want it shortened", ke.Got)
	}
	// A bad key inside rate_limit is named with its path.
	_, err = ParseWorkerConfig([]byte(`{"rate_limit": {"n": 2, "per": "never"}}`))
	if !errors.As(err, &ke) || ke.Key != "rate_limit.per" || ke.Got != `"never"` {
		t.Fatalf("err = %#v, want a *KeyError for rate_limit.per", err)
	}
}

func TestWorkerConfigGetAndRaw(t *testing.T) {
	t.Parallel()
	w, err := ParseWorkerConfig([]byte(`{"timeout": 30, "new_value": "hi", "limits": {"cpu": 2}, "log_level": "DEBUG"}`))
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := w.Get("new_value", &s); err != nil || s != "hi" {
		t.Errorf("Get(new_value) = %q, %v", s, err)
	}
	var limits struct{ CPU int }
	if err := w.Get("limits", &limits); err != nil || limits.CPU != 2 {
		t.Errorf("Get(limits) = %+v, %v", limits, err)
	}
	var n float64
	if err := w.Get("timeout", &n); err != nil || n != 30 {
		t.Errorf("Get(timeout) = %v, %v; want the value as written", n, err)
	}
	if err := w.Get("missing", &s); !errors.Is(err, ErrNotSet) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Get(missing) = %v, want ErrNotSet naming the key", err)
	}
	if err := w.Get("new_value", &n); err == nil || errors.Is(err, ErrNotSet) || !strings.Contains(err.Error(), "new_value") {
		t.Errorf("Get(new_value) into a number = %v, want a decode error naming the key", err)
	}
	raw := w.Raw()
	want := map[string]json.RawMessage{
		"timeout": json.RawMessage(`30`), "new_value": json.RawMessage(`"hi"`),
		"limits": json.RawMessage(`{"cpu":2}`), "log_level": json.RawMessage(`"DEBUG"`),
	}
	if !reflect.DeepEqual(raw, want) {
		t.Errorf("Raw() = %s, want %s", raw, want)
	}
	raw["timeout"] = json.RawMessage(`1`) // a copy
	if w.Raw()["timeout"] == nil || string(w.Raw()["timeout"]) != "30" {
		t.Error("Raw() returned the config's own map")
	}

	// A hand-made config: Raw and Get work from the typed fields.
	h := WorkerConfig{MaxWorkers: ptr(3), Exec: &Exec{Argv: []string{"a"}}}
	var mw int
	if err := h.Get(KeyMaxWorkers, &mw); err != nil || mw != 3 {
		t.Errorf("hand-made Get(max_workers) = %d, %v", mw, err)
	}
	if got := string(h.Raw()[KeyExec]); got != `["a"]` {
		t.Errorf("hand-made Raw()[exec] = %s", got)
	}
}

func TestWorkerConfigMarshal(t *testing.T) {
	t.Parallel()
	in := `{"log_level":"WARNING","max_workers":2,"timeout":90,"max_attempts":3,"queue":"q","priority":7,` +
		`"exec":["python3","worker.py"],"interval":"every 10 minutes","retention":"7d","custom":{"k":[true,null]},` +
		`"global_max_workers":3,"rate_limit":{"per":60,"n":100},"backoff":{"jitter":0.1,"base":5}}`
	w, err := ParseWorkerConfig([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"backoff":{"base":"5s","jitter":0.1},"custom":{"k":[true,null]},"exec":["python3","worker.py"],"global_max_workers":3,"interval":"every 10 minutes",` +
		`"log_level":"warn","max_attempts":3,"max_workers":2,"priority":7,"queue":"q",` +
		`"rate_limit":{"n":100,"per":"1m0s"},"retention":"7d","timeout":"1m30s"}`
	if string(b) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", b, want)
	}
	again, err := ParseWorkerConfig(b)
	if err != nil || !reflect.DeepEqual(typed(again), typed(w)) {
		t.Errorf("round trip = %+v, %v\nwant %+v", typed(again), err, typed(w))
	}
	sh, _ := json.Marshal(WorkerConfig{Exec: &Exec{Shell: "echo hi"}})
	if string(sh) != `{"exec":"echo hi"}` {
		t.Errorf("Marshal(shell exec) = %s", sh)
	}
}

func TestLoadWorkerDirMerge(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "workers")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"_defaults.json":     `{"log_level": "info", "max_workers": 4, "timeout": "1m", "shared": {"a": 1}, "note": "from defaults"}`,
		"analysis.ssi.json":  `{"log_level": "DEBUG", "interval": "hourly", "shared": {"b": 2}}`,
		"divvy.unset.json":   `{"timeout": null, "note": null, "max_attempts": 2}`,
		"broken.json":        `{"max_workers": "ten"}`,
		"syntax.json":        `{"max_workers": `,
		"_default.json":      `{}`,
		".hidden.json":       `not json`,
		"notes.txt":          `not json`,
		"analysis.ssi.json~": `not json`,
	})

	ws, errs := LoadWorkerDir(dir)

	if got, want := ws.Kinds(), []string{"analysis.ssi", "divvy.unset"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Kinds() = %v, want %v", got, want)
	}
	// The kind's keys replace the defaults' keys, whole values (no deep merge).
	a := ws.Kind("analysis.ssi")
	if *a.LogLevel != slog.LevelDebug || *a.MaxWorkers != 4 || *a.Timeout != time.Minute || *a.Interval != "hourly" {
		t.Errorf("analysis.ssi = %+v", typed(a))
	}
	var shared map[string]int
	if err := a.Get("shared", &shared); err != nil || !reflect.DeepEqual(shared, map[string]int{"b": 2}) {
		t.Errorf("shared = %v, %v; want the kind's whole value", shared, err)
	}
	var note string
	if err := a.Get("note", &note); err != nil || note != "from defaults" {
		t.Errorf("note = %q, %v", note, err)
	}
	// null in a kind's file removes the default.
	u := ws.Kind("divvy.unset")
	if u.Timeout != nil || u.Custom["note"] != nil || *u.MaxWorkers != 4 || *u.MaxAttempts != 2 {
		t.Errorf("divvy.unset = %+v", typed(u))
	}
	// A kind without a file gets the defaults; Lookup tells it has none.
	if n := ws.Kind("no.file"); n.MaxWorkers == nil || *n.MaxWorkers != 4 {
		t.Errorf("Kind(no.file) = %+v, want the defaults", typed(n))
	}
	if _, ok := ws.Lookup("no.file"); ok {
		t.Error("Lookup(no.file) found a file")
	}
	if d := ws.Defaults(); *d.MaxWorkers != 4 || d.Interval != nil {
		t.Errorf("Defaults() = %+v", typed(d))
	}
	// Broken files are left out and reported with their path.
	var msgs []string
	for _, err := range errs {
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Errorf("error %v is not a *FileError", err)
		}
		msgs = append(msgs, err.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		filepath.Join(dir, "broken.json") + `: max_workers: want a whole number ≥ 0, got "ten"`,
		filepath.Join(dir, "syntax.json") + ": line 1, column 16: unexpected end of JSON input",
		filepath.Join(dir, "_default.json") + `: file names starting with "_" are reserved`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("errors:\n%s\nwant one containing %q", all, want)
		}
	}
	if len(errs) != 3 {
		t.Errorf("%d errors, want 3:\n%s", len(errs), all)
	}
	// Configs handed out are copies.
	*a.MaxWorkers = 99
	a.Custom["shared"] = nil
	if b := ws.Kind("analysis.ssi"); *b.MaxWorkers != 4 || b.Custom["shared"] == nil {
		t.Error("changing a returned config changed the Workers")
	}
}

// Not parallel: it changes the working directory.
func TestLoadWorkerDirErrorMessage(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "workers")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"analysis.ssi.json": `{"max_workers": "ten"}`})
	t.Chdir(root)
	_, errs := LoadWorkerDir("workers")
	if len(errs) != 1 || errs[0].Error() != `workers/analysis.ssi.json: max_workers: want a whole number ≥ 0, got "ten"` {
		t.Errorf("errs = %v", errs)
	}
}

func TestLoadWorkerDirMissing(t *testing.T) {
	t.Parallel()
	ws, errs := LoadWorkerDir(filepath.Join(t.TempDir(), "nope"))
	if len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) || len(ws.Kinds()) != 0 {
		t.Errorf("LoadWorkerDir(missing) = %v, %v", ws.Kinds(), errs)
	}
	if _, errs := LoadWorkerDir(""); len(errs) != 1 {
		t.Errorf("LoadWorkerDir(\"\") errors = %v", errs)
	}
	if w := (Workers{}).Kind("x"); w.MaxWorkers != nil {
		t.Errorf("zero Workers gave %+v", w)
	}
}

func TestKeyHints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want map[string]string
	}{
		{`{"max_workers": 1, "new_value": 3}`, nil},
		{`{"attempts": 3}`, map[string]string{"attempts": KeyMaxAttempts}},
		{`{"max_attempt": 3, "MaxWorkers": 2, "time-out": "1m"}`, map[string]string{"max_attempt": KeyMaxAttempts, "MaxWorkers": KeyMaxWorkers, "time-out": KeyTimeout}},
		{`{"workers": 2, "retension": "1d", "ranking": "x"}`, map[string]string{"workers": KeyMaxWorkers, "retension": KeyRetention}},
		{`{"limit": 5, "spec": "x", "name": "y", "rank": 1, "queues": ["a"]}`, map[string]string{"queues": KeyQueue}},
	}
	for _, tt := range tests {
		wc, err := ParseWorkerConfig([]byte(tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := wc.KeyHints(); !maps.Equal(got, tt.want) {
			t.Errorf("KeyHints of %s = %v, want %v", tt.file, got, tt.want)
		}
	}
}
