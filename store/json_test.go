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
