package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// eventRec is a job record of node at t with data {"n": n}.
func eventRec(node string, t time.Time, n int) store.EventRecord {
	return store.EventRecord{Type: store.EventTypeJob, Node: node, At: t, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

// appendEvents appends recs and fails the test on error.
func appendEvents(t *testing.T, s store.Store, recs ...store.EventRecord) int64 {
	t.Helper()
	last, err := s.AppendEvents(t.Context(), recs)
	if err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	return last
}

// readEvents reads every record after afterID (in pages of limit).
func readEvents(t *testing.T, s store.Store, afterID int64, limit int) []store.EventRecord {
	t.Helper()
	var out []store.EventRecord
	for {
		recs, err := s.ReadEvents(t.Context(), afterID, limit)
		if err != nil {
			t.Fatalf("ReadEvents(%d): %v", afterID, err)
		}
		if len(recs) > limit {
			t.Fatalf("ReadEvents(%d, %d) returned %d records", afterID, limit, len(recs))
		}
		out = append(out, recs...)
		if len(recs) < limit {
			return out
		}
		afterID = recs[len(recs)-1].ID
	}
}

// eventIDs returns the ids of recs.
func eventIDs(recs []store.EventRecord) []int64 {
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// idRange returns from..to.
func idRange(from, to int64) []int64 {
	var ids []int64
	for id := from; id <= to; id++ {
		ids = append(ids, id)
	}
	return ids
}

// sameJSON reports whether a and b are the same JSON value (PostgreSQL's
// jsonb may change the spacing and key order).
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("stored data %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("data %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func eventTests() []test {
	return []test{
		{"Cursors", func(t *testing.T, s store.Store) {
			ctx := t.Context()
			if id, ok, err := s.EventCursor(ctx, "webhook"); err != nil || ok || id != 0 {
				t.Fatalf("EventCursor of a new store = %d, %v, %v; want 0, false, nil", id, ok, err)
			}
			steps := []struct {
				name string
				save int64
				want int64
			}{
				{"webhook", 5, 5},
				{"webhook", 9, 9},
				{"webhook", 7, 9}, // never back
				{"webhook", 9, 9},
				{"nats", 0, 0},
				{"nats", 3, 3},
			}
			for _, st := range steps {
				if err := s.SaveEventCursor(ctx, st.name, st.save); err != nil {
					t.Fatalf("SaveEventCursor(%q, %d): %v", st.name, st.save, err)
				}
				if id, ok, err := s.EventCursor(ctx, st.name); err != nil || !ok || id != st.want {
					t.Fatalf("after SaveEventCursor(%q, %d): EventCursor = %d, %v, %v; want %d, true", st.name, st.save, id, ok, err, st.want)
				}
			}
			if id, _, _ := s.EventCursor(ctx, "webhook"); id != 9 {
				t.Errorf("another cursor's saves moved webhook to %d", id)
			}
			for _, bad := range []struct {
				name string
				id   int64
			}{{"", 1}, {string(make([]byte, store.MaxEventCursorName+1)), 1}, {"x", -1}} {
				if err := s.SaveEventCursor(ctx, bad.name, bad.id); err == nil {
					t.Errorf("SaveEventCursor(%d-byte name, %d) succeeded", len(bad.name), bad.id)
				}
			}
			if _, _, err := s.EventCursor(ctx, ""); err == nil {
				t.Error("EventCursor of an empty name succeeded")
			}
		}},
		{"AppendRead", func(t *testing.T, s store.Store) {
			if last, err := s.LastEventID(t.Context()); err != nil || last != 0 {
				t.Fatalf("LastEventID of a new store = %d, %v; want 0", last, err)
			}
			if recs := readEvents(t, s, 0, 10); len(recs) != 0 {
				t.Fatalf("a new store has %d events", len(recs))
			}
			in := []store.EventRecord{
				eventRec("n1", at(0), 1),
				{Type: store.EventTypeGap, Node: "n2", At: at(time.Second), Data: json.RawMessage(`{"dropped": 7}`)},
				eventRec("n1", at(2*time.Second), 3),
			}
			if last := appendEvents(t, s, in...); last != 3 {
				t.Fatalf("AppendEvents of 3 into an empty log returned last %d, want 3", last)
			}
			if last := appendEvents(t, s, eventRec("n3", at(3*time.Second), 4), eventRec("n3", at(4*time.Second), 5)); last != 5 {
				t.Fatalf("second AppendEvents returned last %d, want 5", last)
			}
			got := readEvents(t, s, 0, 2) // pages of 2
			if ids := eventIDs(got); !reflect.DeepEqual(ids, idRange(1, 5)) {
				t.Fatalf("ids %v, want 1..5", ids)
			}
			for i, r := range got[:3] {
				w := in[i]
				if r.Type != w.Type || r.Node != w.Node || !r.At.Equal(w.At) || r.At.Location() != time.UTC || !sameJSON(t, r.Data, w.Data) {
					t.Errorf("record %d = %+v (data %s), want %+v (data %s)", r.ID, r, r.Data, w, w.Data)
				}
			}
			if after := readEvents(t, s, 3, 10); !reflect.DeepEqual(eventIDs(after), []int64{4, 5}) {
				t.Errorf("after 3: ids %v, want [4 5]", eventIDs(after))
			}
			if after := readEvents(t, s, 5, 10); len(after) != 0 {
				t.Errorf("after the last: %d records", len(after))
			}
			if last, err := s.LastEventID(t.Context()); err != nil || last != 5 {
				t.Errorf("LastEventID = %d, %v; want 5", last, err)
			}
		}},
		{"BigBatch", func(t *testing.T, s store.Store) {
			appendEvents(t, s, eventRec("n1", at(0), 0))
			recs := make([]store.EventRecord, 1000+37)
			for i := range recs {
				recs[i] = eventRec("n2", at(time.Duration(i)*time.Millisecond), i+1)
			}
			if last := appendEvents(t, s, recs...); last != int64(len(recs))+1 {
				t.Fatalf("AppendEvents of %d after 1 returned last %d", len(recs), last)
			}
			got := readEvents(t, s, 0, 300)
			if ids := eventIDs(got); !reflect.DeepEqual(ids, idRange(1, int64(len(recs))+1)) {
				t.Fatalf("ids %v..., want 1..%d", ids[:min(len(ids), 5)], len(recs)+1)
			}
			for i, r := range got[1:] {
				if !sameJSON(t, r.Data, recs[i].Data) || !r.At.Equal(recs[i].At) || r.Node != "n2" {
					t.Fatalf("record %d = %+v (data %s), want data %s", r.ID, r, r.Data, recs[i].Data)
				}
			}
		}},
		{"RefuseBad", func(t *testing.T, s store.Store) {
			appendEvents(t, s, eventRec("n1", at(0), 1))
			for _, bad := range []store.EventRecord{
				{Type: "other", Node: "n1", At: at(0), Data: json.RawMessage(`{}`)},
				{Type: store.EventTypeJob, Node: "n1", At: at(0), Data: json.RawMessage(`{`)},
				{Type: store.EventTypeJob, Node: "n1", At: at(0)},
			} {
				if _, err := s.AppendEvents(t.Context(), []store.EventRecord{eventRec("n1", at(0), 2), bad}); err == nil {
					t.Errorf("AppendEvents accepted %+v", bad)
				}
			}
			if ids := eventIDs(readEvents(t, s, 0, 10)); !reflect.DeepEqual(ids, []int64{1}) {
				t.Errorf("after refused appends the log has ids %v, want [1]", ids)
			}
			if last := appendEvents(t, s, eventRec("n1", at(0), 2)); last != 2 {
				t.Errorf("the next append got id %d, want 2 (a refused append takes no id)", last)
			}
		}},
		{"PruneKeep", func(t *testing.T, s store.Store) {
			for i := range 10 {
				appendEvents(t, s, eventRec("n1", at(time.Duration(i)*time.Second), i))
			}
			n, err := s.PruneEvents(t.Context(), store.EventPruneParams{Keep: 3})
			if err != nil || n != 7 {
				t.Fatalf("PruneEvents(Keep 3) of 10 = %d, %v; want 7", n, err)
			}
			if ids := eventIDs(readEvents(t, s, 0, 100)); !reflect.DeepEqual(ids, idRange(8, 10)) {
				t.Errorf("after pruning: ids %v, want 8..10", ids)
			}
			if last, err := s.LastEventID(t.Context()); err != nil || last != 10 {
				t.Errorf("LastEventID after pruning = %d, %v; want 10", last, err)
			}
			if last := appendEvents(t, s, eventRec("n1", at(time.Minute), 11)); last != 11 {
				t.Errorf("append after pruning got id %d, want 11", last)
			}
			if n, err := s.PruneEvents(t.Context(), store.EventPruneParams{Keep: 100}); err != nil || n != 0 {
				t.Errorf("PruneEvents(Keep 100) of 4 = %d, %v; want 0", n, err)
			}
		}},
		{"PruneAge", func(t *testing.T, s store.Store) {
			for i := range 6 {
				appendEvents(t, s, eventRec("n1", at(time.Duration(i)*time.Minute), i))
			}
			// Records at 0..5 minutes; before 3m: ids 1..3 go.
			n, err := s.PruneEvents(t.Context(), store.EventPruneParams{Before: at(3 * time.Minute)})
			if err != nil || n != 3 {
				t.Fatalf("PruneEvents(Before 3m) = %d, %v; want 3", n, err)
			}
			if ids := eventIDs(readEvents(t, s, 0, 100)); !reflect.DeepEqual(ids, idRange(4, 6)) {
				t.Errorf("after pruning by age: ids %v, want 4..6", ids)
			}
			// Everything is old: the newest record stays.
			n, err = s.PruneEvents(t.Context(), store.EventPruneParams{Before: at(time.Hour), Keep: 1})
			if err != nil || n != 2 {
				t.Fatalf("PruneEvents(Before 1h) = %d, %v; want 2", n, err)
			}
			if ids := eventIDs(readEvents(t, s, 0, 100)); !reflect.DeepEqual(ids, []int64{6}) {
				t.Errorf("after pruning everything old: ids %v, want [6] (the newest stays)", ids)
			}
			if _, err := s.PruneEvents(t.Context(), store.EventPruneParams{Keep: -1}); err == nil {
				t.Error("PruneEvents accepted a negative Keep")
			}
		}},
		{"ConcurrentAppendersInOrder", func(t *testing.T, s store.Store) {
			// Appenders race; a reader following the log must only ever
			// see consecutive ids: an id that appears after a reader went
			// past it would be an event lost to every stream.
			const appenders, batches, per = 6, 15, 4
			const total = appenders * batches * per
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make(chan error, appenders)
			for a := range appenders {
				wg.Go(func() {
					<-start
					for b := range batches {
						recs := make([]store.EventRecord, per)
						for i := range recs {
							recs[i] = eventRec(fmt.Sprintf("n%d", a), at(0), b*per+i)
						}
						if _, err := s.AppendEvents(t.Context(), recs); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			close(start)
			var cursor int64
			seen := 0
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			for finished := false; seen < total; {
				recs, err := s.ReadEvents(t.Context(), cursor, 7)
				if err != nil {
					t.Fatalf("ReadEvents: %v", err)
				}
				for _, r := range recs {
					if r.ID != cursor+1 {
						t.Fatalf("after id %d the reader saw id %d", cursor, r.ID)
					}
					cursor = r.ID
					seen++
				}
				if len(recs) == 0 && finished {
					break
				}
				select {
				case <-done:
					finished = true
				default:
				}
			}
			// The reader may see the last records before their append has
			// returned: wait for the appenders before closing errs.
			<-done
			close(errs)
			for err := range errs {
				t.Fatalf("AppendEvents: %v", err)
			}
			if seen != total {
				t.Fatalf("the reader saw %d records, want %d", seen, total)
			}
			if last, err := s.LastEventID(t.Context()); err != nil || last != total {
				t.Errorf("LastEventID = %d, %v; want %d", last, err, total)
			}
		}},
	}
}
