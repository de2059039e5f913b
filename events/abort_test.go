package events_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/events"
)

func TestParseAbort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg, keyField string
		want          events.AbortRequest
		err           string
	}{
		{`{"id": 12}`, "", events.AbortRequest{ID: 12, Reason: events.DefaultAbortReason}, ""},
		{`{"id": "12", "reason": "user"}`, "", events.AbortRequest{ID: 12, Reason: "user"}, ""},
		{`{"kind": "scan", "key": "host-1"}`, "", events.AbortRequest{Kind: "scan", Key: "host-1", Reason: events.DefaultAbortReason}, ""},
		{`{"analysis_id": "65e0"}`, "analysis_id", events.AbortRequest{Key: "65e0", Reason: events.DefaultAbortReason}, ""},
		{`{"analysis_id": "65e0", "extra": [1]}`, "analysis_id", events.AbortRequest{Key: "65e0", Reason: events.DefaultAbortReason}, ""},
		{`{"key": "x"}`, "analysis_id", events.AbortRequest{}, "names no job"},
		{`{}`, "", events.AbortRequest{}, "names no job"},
		{`{"id": 0}`, "", events.AbortRequest{}, "not a job id"},
		{`{"id": -3}`, "", events.AbortRequest{}, "not a job id"},
		{`{"id": 1.5}`, "", events.AbortRequest{}, "not a job id"},
		{`{"id": 99999999999999999999}`, "", events.AbortRequest{}, "not a job id"},
		{`{"id": true}`, "", events.AbortRequest{}, "not a number"},
		{`{"id": 3, "key": "x"}`, "", events.AbortRequest{}, "twice"},
		{`{"key": 5}`, "", events.AbortRequest{}, `"key" is not a string`},
		{`[1]`, "", events.AbortRequest{}, "not a JSON object"},
		{`null`, "", events.AbortRequest{}, "not a JSON object"},
		{`abort 12`, "", events.AbortRequest{}, "not a JSON object"},
		{`{"id": 3, "reason": 4}`, "", events.AbortRequest{}, `"reason" is not a string`},
	} {
		got, err := events.ParseAbort([]byte(tc.msg), tc.keyField)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseAbort(%s): error %v, want one containing %q", tc.msg, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseAbort(%s) = %+v, %v; want %+v", tc.msg, got, err, tc.want)
		}
	}
	if _, err := events.ParseAbort([]byte(`{"key":"`+strings.Repeat("x", events.MaxAbortMessage)+`"}`), ""); err == nil {
		t.Error("an oversized message was read")
	}
}

// TestAborter aborts running jobs named by id and by key (with and
// without a kind); messages that name no running job change nothing.
func TestAborter(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	started := make(chan int64, 10)
	c := newClient(t, st, rota.Options{})
	n := startNode(t, c, func(ctx context.Context, j *rota.Job) error {
		started <- j.ID
		<-ctx.Done()
		return ctx.Err()
	})
	a, err := events.NewAborter(n.c, "analysis_id", quiet)
	if err != nil {
		t.Fatal(err)
	}
	run := func(key string) *rota.Job {
		t.Helper()
		j, err := n.c.Enqueue(t.Context(), "k", nil, rota.Key(key, ""))
		if err != nil {
			t.Fatal(err)
		}
		if id := <-started; id != j.ID {
			t.Fatalf("started %d, want %d", id, j.ID)
		}
		return j
	}
	waitAborted := func(j *rota.Job, reason string) {
		t.Helper()
		waitFor(t, "the job to end aborted", func() bool {
			g, err := n.c.Get(t.Context(), j.ID)
			return err == nil && g.State == rota.StateAborted && strings.Contains(g.LastError, reason)
		})
	}
	j1 := run("a1")
	j2 := run("a2")
	for _, msg := range []string{`{"id": 999999}`, `{"analysis_id": "nobody"}`, `{"kind": "other", "analysis_id": "a1"}`} {
		if got, err := a.Handle(t.Context(), []byte(msg)); err != nil || got != nil {
			t.Fatalf("Handle(%s) = %v, %v; want nothing aborted", msg, got, err)
		}
	}
	if a.Ignored() != 3 || a.Aborted() != 0 {
		t.Fatalf("ignored %d, aborted %d; want 3, 0", a.Ignored(), a.Aborted())
	}
	if got, err := a.Handle(t.Context(), []byte(`{"id": `+itoa(j1.ID)+`, "reason": "stop one"}`)); err != nil || !slices.Equal(got, []int64{j1.ID}) {
		t.Fatalf("abort by id: %v, %v", got, err)
	}
	waitAborted(j1, "stop one")
	if got, err := a.Handle(t.Context(), []byte(`{"analysis_id": "a2"}`)); err != nil || !slices.Equal(got, []int64{j2.ID}) {
		t.Fatalf("abort by OMA key: %v, %v", got, err)
	}
	waitAborted(j2, events.DefaultAbortReason)
	j3 := run("a3")
	if got, err := a.Handle(t.Context(), []byte(`{"kind": "k", "analysis_id": "a3"}`)); err != nil || !slices.Equal(got, []int64{j3.ID}) {
		t.Fatalf("abort by kind and key: %v, %v", got, err)
	}
	waitAborted(j3, events.DefaultAbortReason)
	// An ended job is no longer running: the message is ignored.
	if got, err := a.Handle(t.Context(), []byte(`{"id": `+itoa(j1.ID)+`}`)); err != nil || got != nil {
		t.Fatalf("abort of an aborted job: %v, %v", got, err)
	}
	if _, err := a.Handle(t.Context(), []byte(`not json`)); !errors.Is(err, events.ErrBadAbortMessage) || a.Invalid() != 1 {
		t.Fatalf("an unreadable message: %v (invalid %d)", err, a.Invalid())
	}
	if a.Aborted() != 3 || a.Ignored() != 4 {
		t.Errorf("aborted %d, ignored %d; want 3, 4", a.Aborted(), a.Ignored())
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
