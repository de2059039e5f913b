package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/events"
	"github.com/rotahq/rota/store"
)

// memSink keeps what it accepted; it refuses the sends while fail > 0.
type memSink struct {
	mu    sync.Mutex
	fail  int
	sends int
	msgs  []events.Message
}

func (s *memSink) Send(_ context.Context, msgs []events.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends++
	if s.fail > 0 {
		s.fail--
		return errors.New("refused")
	}
	s.msgs = append(s.msgs, msgs...)
	return nil
}

func (s *memSink) got() []events.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// ids returns the record ids of msgs.
func ids(msgs []events.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Record.ID
	}
	return out
}

// consecutive fails the test unless ids run from first without a hole.
func consecutive(t *testing.T, ids []int64, first int64) {
	t.Helper()
	for i, id := range ids {
		if id != first+int64(i) {
			t.Fatalf("ids %v: want consecutive from %d", ids, first)
		}
	}
}

func newRelay(t *testing.T, log store.EventLog, opts events.RelayOptions) *events.Relay {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	if opts.RetryMin == 0 {
		opts.RetryMin, opts.RetryMax = time.Millisecond, 10*time.Millisecond
	}
	r, err := events.NewRelay(log, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// doneJobs counts the jobs whose done event reached the sink (a repeated
// event counts once).
func doneJobs(msgs []events.Message) int {
	done := map[int64]bool{}
	for _, m := range msgs {
		if m.Record.Type == events.TypeJob && m.Record.Event.To == rota.StateDone {
			done[m.Record.Event.JobID] = true
		}
	}
	return len(done)
}

// TestRelayDelivers runs jobs on a node and relays the event log: every
// event reaches the sink once, in the log's order, rendered as JSON, and
// the saved position follows.
func TestRelayDelivers(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	sink := &memSink{}
	n := startNode(t, newClient(t, st, rota.Options{}), func(context.Context, *rota.Job) error { return nil })
	r := newRelay(t, st, events.RelayOptions{Name: "mem", Sink: sink, Changed: n.log.Changed})
	runRelay(t, r)
	waitFor(t, "the relay to start", func() bool { _, ok, _ := st.EventCursor(t.Context(), "mem"); return ok })
	const jobs = 40
	for i := range jobs {
		if _, err := n.c.Enqueue(t.Context(), "k", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every job's done event", func() bool { return doneJobs(sink.got()) == jobs })
	got := sink.got()
	if len(got) != 3*jobs {
		t.Fatalf("%d messages, want %d (queued, running, done per job)", len(got), 3*jobs)
	}
	consecutive(t, ids(got), got[0].Record.ID)
	seen := map[int64][]rota.State{}
	for _, m := range got {
		var v struct {
			Type  string `json:"type"`
			ID    int64  `json:"id"`
			Node  string `json:"node"`
			JobID int64  `json:"job_id"`
			To    string `json:"to"`
			Kind  string `json:"kind"`
		}
		if err := json.Unmarshal(m.Payload, &v); err != nil {
			t.Fatalf("payload %s: %v", m.Payload, err)
		}
		if v.Type != "job" || v.ID != m.Record.ID || v.Node != "n1" || v.JobID != m.Record.Event.JobID || v.Kind != "k" ||
			v.To != string(m.Record.Event.To) {
			t.Fatalf("payload %s does not match its record %+v", m.Payload, m.Record)
		}
		seen[v.JobID] = append(seen[v.JobID], m.Record.Event.To)
	}
	for id, states := range seen {
		if !slices.Equal(states, []rota.State{rota.StateQueued, rota.StateRunning, rota.StateDone}) {
			t.Errorf("job %d: states %v", id, states)
		}
	}
	last := got[len(got)-1].Record.ID
	waitFor(t, "the position to reach the last record", func() bool { return r.Position() == last })
	if pos, _, err := st.EventCursor(t.Context(), "mem"); err != nil || pos != last {
		t.Errorf("saved position %d, %v; want %d", pos, err, last)
	}
	if d := r.Delivered(); d != uint64(len(got)) {
		t.Errorf("Delivered = %d, want %d", d, len(got))
	}
}

// appendJobs appends n job records of kind to the log and returns the last id.
func appendJobs(t *testing.T, st store.Store, kind string, n int) int64 {
	t.Helper()
	return appendJobsTB(t, st, kind, n)
}

// appendJobsTB is appendJobs for tests and benchmarks, in appends of at
// most 1,000 records.
func appendJobsTB(t testing.TB, st store.Store, kind string, n int) int64 {
	t.Helper()
	var last int64
	for n > 0 {
		k := min(n, 1000)
		last = appendBatch(t, st, kind, k)
		n -= k
	}
	return last
}

func appendBatch(t testing.TB, st store.Store, kind string, n int) int64 {
	t.Helper()
	recs := make([]store.EventRecord, n)
	for i := range recs {
		e := rota.Event{JobID: int64(i + 1), Kind: kind, Queue: "default", To: rota.StateQueued, At: time.Now().UTC()}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = store.EventRecord{Type: store.EventTypeJob, Node: "n0", At: e.At, Data: b}
	}
	last, err := st.AppendEvents(t.Context(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// TestRelayRetriesAndResumes: a refusing sink gets the same records
// again until it takes them, and a relay that stops and starts again goes
// on from its saved position: nothing lost, nothing skipped.
func TestRelayRetriesAndResumes(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	sink := &memSink{fail: 3}
	opts := events.RelayOptions{Name: "r", Sink: sink, FromStart: true, MaxBatch: 7, Poll: 5 * time.Millisecond}
	first := appendJobs(t, st, "k", 20)
	r := newRelay(t, st, opts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "the first 20 records", func() bool { return len(sink.got()) == 20 })
	waitFor(t, "the position of the 20th", func() bool { return r.Position() == first })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if r.Failures() != 3 {
		t.Errorf("Failures = %d, want 3", r.Failures())
	}
	consecutive(t, ids(sink.got()), 1)
	last := appendJobs(t, st, "k", 15) // while no relay runs
	if last != first+15 {
		t.Fatalf("last id %d", last)
	}
	r2 := newRelay(t, st, opts)
	runRelay(t, r2)
	waitFor(t, "the 15 records appended while stopped", func() bool { return len(sink.got()) == 35 })
	consecutive(t, ids(sink.got()), 1)
}

// TestRelayStart: a new relay starts at the log's end unless FromStart.
func TestRelayStart(t *testing.T) {
	t.Parallel()
	for _, fromStart := range []bool{false, true} {
		t.Run(fmt.Sprint("FromStart=", fromStart), func(t *testing.T) {
			t.Parallel()
			st := openSQLite(t)
			appendJobs(t, st, "old", 5)
			sink := &memSink{}
			r := newRelay(t, st, events.RelayOptions{Name: "r", Sink: sink, FromStart: fromStart, Poll: 5 * time.Millisecond})
			runRelay(t, r)
			waitFor(t, "the relay to save its start", func() bool { _, ok, _ := st.EventCursor(t.Context(), "r"); return ok })
			appendJobs(t, st, "new", 2)
			want := 2
			if fromStart {
				want = 7
			}
			waitFor(t, "the records", func() bool { return len(sink.got()) >= want })
			got := sink.got()
			if len(got) != want {
				t.Fatalf("%d records, want %d", len(got), want)
			}
			consecutive(t, ids(got), int64(8-want))
		})
	}
}

// TestEventsBatchBound: the largest batch rota serve accepts
// (ROTA_EVENTS_BATCH) is the most a relay may read at once.
func TestEventsBatchBound(t *testing.T) {
	t.Parallel()
	if config.MaxEventsBatch != store.MaxEventRead {
		t.Errorf("config.MaxEventsBatch = %d, store.MaxEventRead = %d", config.MaxEventsBatch, store.MaxEventRead)
	}
	if _, err := events.NewRelay(openSQLite(t), events.RelayOptions{Name: "r", Sink: &memSink{}, MaxBatch: config.MaxEventsBatch}); err != nil {
		t.Errorf("NewRelay with MaxBatch %d: %v", config.MaxEventsBatch, err)
	}
}

// TestRelayPrunedGap: records pruned before the relay read them show as a
// gap message naming where the relay was, warned about once although the
// first sends of the batch fail.
func TestRelayPrunedGap(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	appendJobs(t, st, "k", 10)
	if err := st.SaveEventCursor(t.Context(), "r", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PruneEvents(t.Context(), store.EventPruneParams{Keep: 3}); err != nil {
		t.Fatal(err)
	}
	sink := &memSink{fail: 2}
	var logs syncBuffer
	r := newRelay(t, st, events.RelayOptions{Name: "r", Sink: sink, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	runRelay(t, r)
	waitFor(t, "the gap and the 3 records left", func() bool { return len(sink.got()) == 4 })
	got := sink.got()
	if g := got[0].Record; g.Type != events.TypeGap || g.ID != 7 || g.Gap.Reason != events.GapPruned || g.Gap.After != 2 {
		t.Fatalf("first message %+v, want a pruned gap at 7 after 2", g)
	}
	var gap map[string]any
	if err := json.Unmarshal(got[0].Payload, &gap); err != nil || gap["type"] != "gap" || gap["reason"] != "pruned" || gap["after"] != 2.0 {
		t.Errorf("gap payload %s", got[0].Payload)
	}
	if !slices.Equal(ids(got[1:]), []int64{8, 9, 10}) {
		t.Errorf("ids after the gap %v", ids(got[1:]))
	}
	waitFor(t, "the gap counted", func() bool { return r.Gaps() == 1 })
	if r.Failures() != 2 {
		t.Errorf("Failures = %d, want 2", r.Failures())
	}
	if n := strings.Count(logs.String(), "events were pruned before it could deliver them"); n != 1 {
		t.Errorf("the gap was warned about %d times, want once:\n%s", n, logs.String())
	}
}

// TestRelayFilterAndFormat: records the filter or the format leaves out
// are passed over, and the position moves past them.
func TestRelayFilterAndFormat(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	appendJobs(t, st, "a", 3)
	appendJobs(t, st, "b", 4)
	gapData := json.RawMessage(`{"dropped": 2}`)
	last, err := st.AppendEvents(t.Context(), []store.EventRecord{{Type: store.EventTypeGap, Node: "n0", At: time.Now(), Data: gapData}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		format events.Format
		want   []int64
	}{
		{"json", events.FormatJSON, []int64{1, 2, 3, 8}}, // the gap passes any filter
		{"oma", events.FormatOMA, []int64{1, 2, 3}},      // OMA has no gap message
	} {
		sink := &memSink{}
		r := newRelay(t, st, events.RelayOptions{Name: tc.name, Sink: sink, FromStart: true, Format: tc.format,
			Filter: rota.EventFilter{Kinds: []string{"a"}}})
		runRelay(t, r)
		waitFor(t, tc.name+": the position to reach the end", func() bool { return r.Position() == last })
		if got := ids(sink.got()); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ids %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNewRelayRejects(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	for _, tc := range []struct {
		name string
		opts events.RelayOptions
	}{
		{"no name", events.RelayOptions{Sink: &memSink{}}},
		{"no sink", events.RelayOptions{Name: "r"}},
		{"negative batch", events.RelayOptions{Name: "r", Sink: &memSink{}, MaxBatch: -1}},
		{"huge batch", events.RelayOptions{Name: "r", Sink: &memSink{}, MaxBatch: store.MaxEventRead + 1}},
		{"negative poll", events.RelayOptions{Name: "r", Sink: &memSink{}, Poll: -time.Second}},
	} {
		if _, err := events.NewRelay(st, tc.opts); err == nil {
			t.Errorf("%s: NewRelay succeeded", tc.name)
		}
	}
	if _, err := events.NewRelay(nil, events.RelayOptions{Name: "r", Sink: &memSink{}}); err == nil {
		t.Error("NewRelay without a log succeeded")
	}
}

// cancelSink accepts a batch and then stops the relay that sent it.
type cancelSink struct {
	memSink
	stop context.CancelFunc
}

func (s *cancelSink) Send(ctx context.Context, msgs []events.Message) error {
	err := s.memSink.Send(ctx, msgs)
	s.stop()
	return err
}

// TestRelaySavesWhenStopped: a relay stopped while its sink takes a batch
// still saves the position of that batch, so a restart does not send it
// again.
func TestRelaySavesWhenStopped(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	last := appendJobs(t, st, "k", 5)
	ctx, cancel := context.WithCancel(t.Context())
	sink := &cancelSink{stop: cancel}
	r := newRelay(t, st, events.RelayOptions{Name: "r", Sink: sink, FromStart: true})
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if pos, _, err := st.EventCursor(t.Context(), "r"); err != nil || pos != last {
		t.Fatalf("saved position %d, %v; want %d", pos, err, last)
	}
}
