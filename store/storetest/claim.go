package storetest

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

func claimTests() []test {
	return []test{
		{"Order", testClaimOrder},
		{"SetsRunningFields", testClaimFields},
		{"Limit", func(t *testing.T, s store.Store) {
			insertN(t, s, base(), 5, func(int) store.InsertParams { return params("k") })
			if got := claim(t, s, claimParams(at(time.Second), 0)); len(got) != 0 {
				t.Errorf("Limit 0 claimed %d", len(got))
			}
			if got := claim(t, s, claimParams(at(time.Second), 3)); len(got) != 3 {
				t.Errorf("Limit 3 claimed %d", len(got))
			}
			if got := claim(t, s, claimParams(at(time.Second), 3)); len(got) != 2 {
				t.Errorf("second claim of 3 claimed %d, want the 2 left", len(got))
			}
			if got := claim(t, s, claimParams(at(time.Second), 3)); len(got) != 0 {
				t.Errorf("claim of an empty queue claimed %d", len(got))
			}
		}},
		{"QueueOnly", func(t *testing.T, s store.Store) {
			other := insertJob(t, s, base(), params("k", inQueue("other")))
			mine := insertJob(t, s, base(), params("k"))
			got := claim(t, s, claimParams(at(time.Second), 10))
			if !slices.Equal(ids(got), []int64{mine.ID}) {
				t.Errorf("claimed %v, want only %d of the default queue", ids(got), mine.ID)
			}
			wantState(t, s, other.ID, store.StateQueued)
		}},
		{"PausedQueue", func(t *testing.T, s store.Store) {
			j := insertJob(t, s, base(), params("k"))
			other := insertJob(t, s, base(), params("k", inQueue("other")))
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: store.DefaultQueue, Paused: ptr(true), Now: base()}); err != nil {
				t.Fatal(err)
			}
			if got := claim(t, s, claimParams(at(time.Second), 10)); len(got) != 0 {
				t.Fatalf("paused queue: claimed %v", ids(got))
			}
			op := claimParams(at(time.Second), 10)
			op.Queue = "other"
			if got := claim(t, s, op); !slices.Equal(ids(got), []int64{other.ID}) {
				t.Errorf("other queue while default is paused: claimed %v", ids(got))
			}
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: store.DefaultQueue, Paused: ptr(false), Now: at(time.Second)}); err != nil {
				t.Fatal(err)
			}
			claimOne(t, s, at(2*time.Second), j.ID)
		}},
		{"KindCaps", testClaimKindCaps},
		{"MetadataFilter", testClaimMetadataFilter},
		{"ArgsFilter", testClaimArgsFilter},
		{"ArgsFilterObjectAmongMany", func(t *testing.T, s store.Store) {
			jobs := insertN(t, s, base(), 100, func(i int) store.InsertParams {
				return params("k", withArgs(`{"o": {"a": `+strconv.Itoa(i%10)+`, "b": "x"}}`))
			})
			cp := claimParams(at(time.Second), 3)
			cp.Args = map[string]any{"o": map[string]any{"b": "x", "a": 7}}
			if got, want := ids(claim(t, s, cp)), []int64{jobs[7].ID, jobs[17].ID, jobs[27].ID}; !slices.Equal(got, want) {
				t.Errorf("claimed %v, want %v", got, want)
			}
			cp.Limit = 100
			var want []int64
			for i := 37; i < 100; i += 10 {
				want = append(want, jobs[i].ID)
			}
			if got := ids(claim(t, s, cp)); !slices.Equal(got, want) {
				t.Errorf("claimed %v, want %v", got, want)
			}
		}},
		{"OnlyQueuedJobs", func(t *testing.T, s store.Store) {
			insert(t, s, base(),
				params("scheduled", withRunAt(at(time.Hour))),
				params("ready", held()))
			r := insertJob(t, s, base(), params("retrying"))
			j := claimOne(t, s, base(), r.ID)
			if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: j.Attempt, State: store.StateRetrying,
				RunAt: at(time.Minute), Error: "boom", Now: at(time.Second)})[0] {
				t.Fatal("finish to retrying not applied")
			}
			// Claim does not promote: even long after their run_at they stay.
			cp := claimParams(at(24*time.Hour), 10)
			if got := claim(t, s, cp); len(got) != 0 {
				t.Errorf("claim returned waiting jobs %v", ids(got))
			}
			cp.Kinds = []store.KindLimit{{Kind: "scheduled", Max: 1}, {Kind: "ready", Max: 1}, {Kind: "retrying", Max: 1}}
			if got := claim(t, s, cp); len(got) != 0 {
				t.Errorf("claim with kinds returned waiting jobs %v", ids(got))
			}
		}},
	}
}

func testClaimOrder(t *testing.T, s store.Store) {
	// Queued jobs run at their insert time; priority first, then run_at, then
	// id. The same jobs in two queues: claimed without and with kind caps
	// (different code paths in some drivers).
	for _, queue := range []string{"plain", "capped"} {
		q := inQueue(queue)
		a := insertJob(t, s, at(2*time.Second), params("k", q, withPriority(10)))
		b := insertJob(t, s, at(3*time.Second), params("k", q, withPriority(5)))
		c := insertJob(t, s, at(1*time.Second), params("k", q, withPriority(10)))
		d := insertJob(t, s, at(1*time.Second), params("k", q, withPriority(10)))
		e := insertJob(t, s, at(3*time.Second), params("k", q, withPriority(5)))
		want := []int64{b.ID, e.ID, c.ID, d.ID, a.ID}

		// One by one (the choice of the job), then all at once (the order
		// of the answer).
		cp := claimParams(at(10*time.Second), 1)
		cp.Queue = queue
		if queue == "capped" {
			cp.Kinds = []store.KindLimit{{Kind: "k", Max: 100}}
		}
		var got []*store.Job
		for range want {
			got = append(got, claim(t, s, cp)...)
		}
		if !slices.Equal(ids(got), want) {
			t.Errorf("%s: claims of 1 took %v, want %v", queue, ids(got), want)
		}
		for _, j := range got {
			if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: j.Attempt, State: store.StateQueued, Uncount: true,
				Now: at(11 * time.Second)})[0] {
				t.Fatalf("finish of job %d not applied", j.ID)
			}
		}
		// Back in the queue, all with run_at = 11s: priority, then id.
		cp.Limit = 10
		want = []int64{b.ID, e.ID, a.ID, c.ID, d.ID}
		if got := claim(t, s, cp); !slices.Equal(ids(got), want) {
			t.Errorf("%s: claim of 10 returned %v, want %v", queue, ids(got), want)
		}
	}
}

func testClaimFields(t *testing.T, s store.Store) {
	j := insertJob(t, s, base(), params("k"))
	now := at(time.Second + 555*time.Nanosecond)
	lease := at(time.Minute + 777*time.Nanosecond)
	got := claim(t, s, store.ClaimParams{Queue: store.DefaultQueue, Node: "node-7", Limit: 1, Now: now, LeaseUntil: lease})
	if len(got) != 1 {
		t.Fatalf("claimed %d jobs", len(got))
	}
	for _, c := range []*store.Job{got[0], get(t, s, j.ID)} {
		if c.ID != j.ID || c.State != store.StateRunning || c.Node != "node-7" || c.Attempt != 1 {
			t.Errorf("claimed job %d %s node %q attempt %d; want %d running node-7 attempt 1", c.ID, c.State, c.Node, c.Attempt, j.ID)
		}
		sameTime(t, "LeaseUntil", c.LeaseUntil, micro(lease))
		sameTime(t, "StartedAt", c.StartedAt, micro(now))
		sameTime(t, "UpdatedAt", c.UpdatedAt, micro(now))
		sameTime(t, "CreatedAt", c.CreatedAt, base())
		sameTime(t, "FinishedAt", c.FinishedAt, time.Time{})
		checkTimesUTC(t, c)
	}
	// Back to queued (counted) and claimed again: attempt 2.
	if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: 1, State: store.StateQueued, Now: at(2 * time.Second)})[0] {
		t.Fatal("finish to queued not applied")
	}
	again := claimOne(t, s, at(3*time.Second), j.ID)
	if again.Attempt != 2 {
		t.Errorf("second claim: attempt %d, want 2", again.Attempt)
	}
}

func testClaimKindCaps(t *testing.T, s store.Store) {
	// Kind a fills the top of the queue, then b, then c.
	var as, bs, cs []int64
	for i := range 5 {
		as = append(as, insertJob(t, s, at(time.Duration(i)*time.Millisecond), params("a", withPriority(1))).ID)
	}
	for i := range 5 {
		bs = append(bs, insertJob(t, s, at(time.Duration(i)*time.Millisecond), params("b", withPriority(2))).ID)
	}
	for i := range 5 {
		cs = append(cs, insertJob(t, s, at(time.Duration(i)*time.Millisecond), params("c", withPriority(3))).ID)
	}
	now := at(time.Second)
	cp := claimParams(now, 4)

	cp.Kinds = []store.KindLimit{}
	if got := claim(t, s, cp); len(got) != 0 {
		t.Fatalf("empty Kinds claimed %v", ids(got))
	}
	// The cap of a cuts the first candidates; the claim goes on to b.
	cp.Kinds = []store.KindLimit{{Kind: "a", Max: 1}, {Kind: "b", Max: 10}}
	got := claim(t, s, cp)
	if want := []int64{as[0], bs[0], bs[1], bs[2]}; !slices.Equal(ids(got), want) {
		t.Fatalf("caps a:1 b:10, limit 4: claimed %v, want %v", ids(got), want)
	}
	// Only the named kinds, each to its cap.
	cp.Limit = 10
	cp.Kinds = []store.KindLimit{{Kind: "c", Max: 2}, {Kind: "b", Max: 1}}
	got = claim(t, s, cp)
	if want := []int64{bs[3], cs[0], cs[1]}; !slices.Equal(ids(got), want) {
		t.Fatalf("caps c:2 b:1: claimed %v, want %v", ids(got), want)
	}
	// A cap of 0 claims nothing of that kind.
	cp.Kinds = []store.KindLimit{{Kind: "a", Max: 0}}
	if got := claim(t, s, cp); len(got) != 0 {
		t.Fatalf("cap 0 claimed %v", ids(got))
	}
	// nil Kinds: any kind, in order.
	cp.Kinds = nil
	cp.Limit = 3
	got = claim(t, s, cp)
	if want := []int64{as[1], as[2], as[3]}; !slices.Equal(ids(got), want) {
		t.Fatalf("nil kinds: claimed %v, want %v", ids(got), want)
	}
	for _, j := range got {
		if j.State != store.StateRunning || j.Kind != "a" {
			t.Errorf("claimed job %d: %s %s", j.ID, j.Kind, j.State)
		}
	}
	// Caps that cannot bind (each at least the limit, the engine's usual
	// claim): still only the named kinds, in order.
	cp.Limit = 2
	cp.Kinds = []store.KindLimit{{Kind: "c", Max: 5}}
	got = claim(t, s, cp)
	if want := []int64{cs[2], cs[3]}; !slices.Equal(ids(got), want) {
		t.Fatalf("cap c:5, limit 2: claimed %v, want %v", ids(got), want)
	}
	cp.Kinds = []store.KindLimit{{Kind: "c", Max: 2}, {Kind: "a", Max: 2}}
	got = claim(t, s, cp)
	if want := []int64{as[4], cs[4]}; !slices.Equal(ids(got), want) {
		t.Fatalf("caps a:2 c:2, limit 2: claimed %v, want %v", ids(got), want)
	}
}

func testClaimMetadataFilter(t *testing.T, s store.Store) {
	x := insertJob(t, s, base(), params("k", withMeta("tenant", "x", "env", "prod")))
	y1 := insertJob(t, s, base(), params("k", withMeta("tenant", "y", "env", "prod")))
	y2 := insertJob(t, s, base(), params("k", withMeta("tenant", "y", "env", "test")))
	plain := insertJob(t, s, base(), params("k"))

	cp := claimParams(at(time.Second), 10)
	cp.Metadata = map[string]string{"tenant": "y", "env": "test"}
	if got := claim(t, s, cp); !slices.Equal(ids(got), []int64{y2.ID}) {
		t.Errorf("tenant=y env=test: claimed %v, want %d", ids(got), y2.ID)
	}
	cp.Metadata = map[string]string{"tenant": "y"}
	if got := claim(t, s, cp); !slices.Equal(ids(got), []int64{y1.ID}) {
		t.Errorf("tenant=y: claimed %v, want %d", ids(got), y1.ID)
	}
	cp.Metadata = map[string]string{"tenant": "z"}
	if got := claim(t, s, cp); len(got) != 0 {
		t.Errorf("tenant=z: claimed %v", ids(got))
	}
	cp.Metadata = nil
	if got := claim(t, s, cp); !slices.Equal(ids(got), []int64{x.ID, plain.ID}) {
		t.Errorf("no filter: claimed %v, want %d %d", ids(got), x.ID, plain.ID)
	}
}

func testClaimArgsFilter(t *testing.T, s store.Store) {
	const args = `{"n": 1, "f": 2.5, "s": "x", "b": true, "z": null, "o": {"k": [1, 2]}, "p": {"b": [1.0, "x"], "a": {"c": 1, "d": 2}}}`
	cases := []struct {
		name   string
		filter map[string]any
		match  bool
	}{
		{"int", map[string]any{"n": 1}, true},
		{"float equal to int", map[string]any{"n": 1.0}, true},
		{"float", map[string]any{"f": 2.5}, true},
		{"string", map[string]any{"s": "x"}, true},
		{"bool", map[string]any{"b": true}, true},
		{"null", map[string]any{"z": nil}, true},
		{"object", map[string]any{"o": map[string]any{"k": []any{1, 2}}}, true},
		{"two fields", map[string]any{"n": 1, "s": "x"}, true},
		// Objects and arrays compare as JSON values: keys in any order,
		// numbers by value, array elements in order.
		{"object keys in another order", map[string]any{"p": map[string]any{"a": map[string]any{"d": 2, "c": 1}, "b": []any{1, "x"}}}, true},
		{"object as JSON text", map[string]any{"p": json.RawMessage(`{"a": {"d": 2.0, "c": 1}, "b": [1, "x"]}`)}, true},
		{"part of an object", map[string]any{"p": map[string]any{"b": []any{1, "x"}}}, false},
		{"array in another order", map[string]any{"o": map[string]any{"k": []any{2, 1}}}, false},
		{"object with another value", map[string]any{"p": map[string]any{"a": map[string]any{"c": 1, "d": 3}, "b": []any{1, "x"}}}, false},
		{"other int", map[string]any{"n": 2}, false},
		{"number as string", map[string]any{"n": "1"}, false},
		{"other string", map[string]any{"s": "y"}, false},
		{"other bool", map[string]any{"b": false}, false},
		{"missing field", map[string]any{"missing": 1}, false},
		{"missing field null", map[string]any{"missing": nil}, false},
		{"one of two fields", map[string]any{"n": 1, "s": "y"}, false},
	}
	for i, c := range cases {
		queue := "q" + string(rune('a'+i))
		j := insertJob(t, s, base(), params("k", inQueue(queue), withArgs(args)))
		cp := claimParams(at(time.Second), 10)
		cp.Queue, cp.Args = queue, c.filter
		got := claim(t, s, cp)
		if c.match != (len(got) == 1 && got[0].ID == j.ID) {
			t.Errorf("%s: args filter %v claimed %v; want match %v", c.name, c.filter, ids(got), c.match)
		}
	}
}
