package rota_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// TestEventLogRecordsEveryEvent: the writer logs every event the client
// publishes, in order, those of its shutdown included.
func TestEventLogRecordsEveryEvent(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	c := newClient(t, st, rota.Options{})
	must(t, c.Register("t.ok", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })))
	ref := c.Subscribe(10000, rota.EventFilter{})
	l, err := rota.NewEventLog(c, rota.EventLogOptions{})
	must(t, err)
	must(t, c.Start(context.Background()))
	var jobs []*rota.Job
	for range 30 {
		jobs = append(jobs, enqueue(t, c, "t.ok", nil))
	}
	enqueue(t, c, "t.ok", nil, rota.Delay(time.Hour)) // still scheduled at stop
	for _, j := range jobs {
		waitState(t, c, j.ID, rota.StateDone)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	must(t, c.Stop(ctx))
	must(t, l.Close(ctx))
	must(t, l.Close(ctx)) // again: a no-op
	var want []rota.Event
	for e := range ref.C {
		want = append(want, e)
	}
	if ref.Dropped() > 0 || len(want) < 3*len(jobs) {
		t.Fatalf("reference subscription: %d events, %d dropped", len(want), ref.Dropped())
	}
	recs, err := st.ReadEvents(ctx, 0, store.MaxEventRead)
	must(t, err)
	if len(recs) != len(want) || l.Appended() != uint64(len(want)) || l.Gaps() != 0 {
		t.Fatalf("logged %d records (Appended %d, Gaps %d), want the %d events published", len(recs), l.Appended(), l.Gaps(), len(want))
	}
	for i, r := range recs {
		var got rota.Event
		must(t, json.Unmarshal(r.Data, &got))
		w := want[i]
		if r.Type != store.EventTypeJob || r.Node != "test-node" || r.ID != int64(i)+1 ||
			got.Seq != w.Seq || got.JobID != w.JobID || got.From != w.From || got.To != w.To || got.Outcome != w.Outcome || !got.At.Equal(w.At) {
			t.Fatalf("record %d: %+v %+v, want %+v", i, r, got, w)
		}
	}
}

// TestEventLogPrunes: the writer keeps the log within MaxEvents.
func TestEventLogPrunes(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	c := newClient(t, st, rota.Options{})
	l, err := rota.NewEventLog(c, rota.EventLogOptions{MaxEvents: 5, PruneInterval: time.Millisecond})
	must(t, err)
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	for range 20 {
		enqueue(t, c, "t.idle", nil)
	}
	waitFor(t, "the log pruned to 5 events", func() bool {
		recs, err := st.ReadEvents(t.Context(), 0, 100)
		last, err2 := st.LastEventID(t.Context())
		return err == nil && err2 == nil && len(recs) == 5 && last == 20 && recs[0].ID == 16
	})
	if _, err := rota.NewEventLog(c, rota.EventLogOptions{MaxEvents: -1}); err == nil {
		t.Error("NewEventLog accepted a negative MaxEvents")
	}
}

// TestEventLogNoPrune: with NoPrune the writer logs its events and leaves
// the log's older records alone, whatever its bounds (a CLI command must
// not prune the log of the nodes to its own defaults); without it, the
// same bounds prune at once.
func TestEventLogNoPrune(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		noPrune bool
		want    int
	}{{true, 13}, {false, 1}} {
		st := openStore(t)
		old := make([]store.EventRecord, 10)
		for i := range old {
			old[i] = store.EventRecord{Type: store.EventTypeJob, Node: "other", At: time.Now(), Data: []byte(`{}`)}
		}
		_, err := st.AppendEvents(t.Context(), old)
		must(t, err)
		cl := newClient(t, st, rota.Options{})
		l, err := rota.NewEventLog(cl, rota.EventLogOptions{MaxEvents: 1, PruneInterval: time.Millisecond, NoPrune: c.noPrune})
		must(t, err)
		for range 3 {
			enqueue(t, cl, "t.idle", nil)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if c.noPrune {
			must(t, l.Close(ctx))
		} else {
			waitFor(t, "the log pruned to 1 event", func() bool {
				recs, err := st.ReadEvents(t.Context(), 0, 100)
				return err == nil && len(recs) == 1 && l.Appended() == 3
			})
			must(t, l.Close(ctx))
		}
		recs, err := st.ReadEvents(ctx, 0, 100)
		must(t, err)
		if len(recs) != c.want || l.Appended() != 3 {
			t.Errorf("NoPrune %v: %d records in the log (%d appended by the writer), want %d", c.noPrune, len(recs), l.Appended(), c.want)
		}
	}
}
