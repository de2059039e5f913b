package store_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// TestDurationsAsTheAPIWritesThem: jobs and schedules write their
// durations as strings ("1m30s"), as the HTTP API does, and read them back,
// and numbers of nanoseconds too.
func TestDurationsAsTheAPIWritesThem(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	job := store.Job{ID: 7, Kind: "k", Queue: "q", Args: json.RawMessage(`{"a":1}`), State: store.StateQueued,
		Timeout: 90 * time.Second, CreatedAt: at, UpdatedAt: at, RunAt: at}
	sched := store.Schedule{Key: "s", Kind: "k", Queue: "q", Args: json.RawMessage(`{}`), Spec: "every 10 minutes",
		Jitter: 1500 * time.Millisecond, MisfireGrace: time.Minute, Enabled: true}
	noTimeout, noJitter := job, sched
	noTimeout.Timeout, noJitter.Jitter, noJitter.MisfireGrace = 0, 0, 0
	tests := []struct {
		name  string
		v     any
		want  []string // in the JSON
		lacks []string
		back  any // what decodes it
	}{
		{"job", job, []string{`"timeout":"1m30s"`, `"id":7`}, nil, &store.Job{}},
		{"job without a timeout", noTimeout, nil, []string{`"timeout"`}, &store.Job{}},
		{"schedule", sched, []string{`"jitter":"1.5s"`, `"misfire_grace":"1m0s"`, `"key":"s"`}, nil, &store.Schedule{}},
		{"schedule without jitter", noJitter, []string{`"misfire_grace":"0s"`}, []string{`"jitter"`}, &store.Schedule{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s: no %s", b, w)
				}
			}
			for _, w := range tt.lacks {
				if strings.Contains(string(b), w) {
					t.Errorf("%s: has %s", b, w)
				}
			}
			if err := json.Unmarshal(b, tt.back); err != nil {
				t.Fatal(err)
			}
			if got := reflect.ValueOf(tt.back).Elem().Interface(); !reflect.DeepEqual(got, tt.v) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.v)
			}
		})
	}
	var j store.Job
	if err := json.Unmarshal([]byte(`{"id":1,"timeout":90000000000}`), &j); err != nil || j.Timeout != 90*time.Second {
		t.Errorf("timeout in nanoseconds: %v, %v", j.Timeout, err)
	}
	if err := json.Unmarshal([]byte(`{"id":1,"timeout":"soon"}`), &j); err == nil || !strings.Contains(err.Error(), "soon") {
		t.Errorf("bad timeout: %v, want an error naming it", err)
	}
}

// TestAttemptAppendJSON: an attempt record is written byte for byte as
// json.Marshal writes it, whatever its strings and times hold, and a time
// json.Marshal refuses is refused.
func TestAttemptAppendJSON(t *testing.T) {
	t.Parallel()
	// AppendJSON writes each field by name: a field added to Attempt must
	// be added there, and to the cases below.
	if n := reflect.TypeFor[store.Attempt]().NumField(); n != 7 {
		t.Fatalf("store.Attempt has %d fields; AppendJSON writes 7", n)
	}
	start := time.Date(2026, 12, 2, 7, 0, 0, 123456000, time.UTC)
	tests := []struct {
		name string
		a    store.Attempt
	}{
		{"done", store.Attempt{Number: 1, Node: "node-1", StartedAt: start, FinishedAt: start.Add(time.Second), Outcome: store.OutcomeDone}},
		{"zero", store.Attempt{}},
		{"error with quotes and markup", store.Attempt{Number: 3, Node: "n", StartedAt: start, FinishedAt: start,
			Outcome: store.OutcomeError, Error: `open "x": <nil> & \ more`, Location: "a.go:1 -> b.go:2"}},
		{"control characters and unicode", store.Attempt{Number: 25, Node: "nœud\u2028", StartedAt: start, FinishedAt: start,
			Outcome: store.OutcomePanic, Error: "line\nnext\ttab\x00\x7f", Location: "\xff invalid utf-8"}},
		{"offset zone", store.Attempt{StartedAt: start.In(time.FixedZone("x", -(5*3600 + 30*60))), FinishedAt: start.In(time.FixedZone("y", 37))}},
		{"negative number", store.Attempt{Number: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, err := json.Marshal(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.a.AppendJSON([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+string(want) {
				t.Errorf("AppendJSON =\n%s\nwant\n%s", got, "prefix"+string(want))
			}
		})
	}
	for _, year := range []int{-1, 10000} {
		a := store.Attempt{StartedAt: time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)}
		if _, err := json.Marshal(a); err == nil {
			t.Fatalf("json.Marshal took year %d", year)
		}
		if b, err := a.AppendJSON(nil); err == nil {
			t.Errorf("year %d: AppendJSON = %s, want an error", year, b)
		}
	}
}

// FuzzAttemptAppendJSON: for any strings, AppendJSON writes what
// json.Marshal writes.
func FuzzAttemptAppendJSON(f *testing.F) {
	f.Add("node", "boom", "a.go:1", int64(0))
	f.Add("n\"<>&", "\x00\u2028\xff", "é", int64(1<<40))
	f.Fuzz(func(t *testing.T, node, errText, loc string, nanos int64) {
		at := time.Unix(0, nanos).UTC()
		a := store.Attempt{Number: 2, Node: node, StartedAt: at, FinishedAt: at, Outcome: store.OutcomeError, Error: errText, Location: loc}
		want, werr := json.Marshal(a)
		got, gerr := a.AppendJSON(nil)
		if (werr == nil) != (gerr == nil) || string(got) != string(want) {
			t.Fatalf("AppendJSON = %s, %v; json.Marshal = %s, %v", got, gerr, want, werr)
		}
	})
}
