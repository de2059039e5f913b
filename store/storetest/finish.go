package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

func finishTests() []test {
	return []test{
		{"TargetStates", testFinishStates},
		{"Guard", testFinishGuard},
		{"AttemptHistory", testFinishHistory},
		{"CancelRequestedWins", testFinishCancelRequested},
		{"AnyErrorText", testFinishAnyText},
		{"MixedBatch", testFinishMixedBatch},
		{"Uncount", func(t *testing.T, s store.Store) {
			j := insertJob(t, s, base(), params("k", withMaxAttempts(1)))
			c := claimOne(t, s, at(time.Second), j.ID)
			if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: c.Attempt, State: store.StateQueued, Uncount: true,
				Now: at(2 * time.Second), Record: store.Attempt{Outcome: store.OutcomeInterrupted}})[0] {
				t.Fatal("finish not applied")
			}
			if g := wantState(t, s, j.ID, store.StateQueued); g.Attempt != 0 {
				t.Errorf("after an uncounted attempt: Attempt = %d, want 0", g.Attempt)
			}
			again := claimOne(t, s, at(3*time.Second), j.ID)
			if again.Attempt != 1 {
				t.Errorf("claim after an uncounted attempt: Attempt = %d, want 1", again.Attempt)
			}
		}},
	}
}

func testFinishStates(t *testing.T, s store.Store) {
	later := at(time.Hour + 3*time.Nanosecond)
	cases := []struct {
		state     store.State
		uncount   bool
		runAt     time.Time
		result    string
		errText   string
		wantRunAt time.Time // zero: unchanged
		final     bool
	}{
		{state: store.StateDone, result: `{"rows": 12}`, final: true},
		{state: store.StateError, errText: "boom", final: true},
		{state: store.StateAborted, errText: "cancelled by user", final: true},
		{state: store.StateRetrying, runAt: later, errText: "try again", wantRunAt: micro(later)},
		{state: store.StateScheduled, runAt: later, uncount: true, wantRunAt: micro(later)},
		{state: store.StateQueued, uncount: true, wantRunAt: at(2 * time.Second)},
	}
	for _, c := range cases {
		q := "q-" + string(c.state)
		j := insertJob(t, s, base(), params("k", inQueue(q)))
		cp := claimParams(at(time.Second), 1)
		cp.Queue = q
		cl := claim(t, s, cp)
		if len(cl) != 1 {
			t.Fatalf("%s: claimed %d", c.state, len(cl))
		}
		now := at(2 * time.Second)
		f := store.FinishParams{ID: j.ID, Attempt: 1, State: c.state, RunAt: c.runAt, Uncount: c.uncount,
			Error: c.errText, Now: now, Record: store.Attempt{Number: 1, Node: "n1", StartedAt: cl[0].StartedAt,
				FinishedAt: now, Outcome: store.OutcomeError, Error: c.errText}}
		if c.result != "" {
			f.Result = json.RawMessage(c.result)
		}
		if !finish(t, s, f)[0] {
			t.Fatalf("%s: finish not applied", c.state)
		}
		g := get(t, s, j.ID)
		if g.State != c.state {
			t.Errorf("%s: State = %s", c.state, g.State)
		}
		if c.result != "" && !jsonEqual(g.Result, []byte(c.result)) {
			t.Errorf("%s: Result = %s, want %s", c.state, g.Result, c.result)
		}
		if g.LastError != c.errText {
			t.Errorf("%s: LastError = %q, want %q", c.state, g.LastError, c.errText)
		}
		wantAttempt := 1
		if c.uncount {
			wantAttempt = 0
		}
		if g.Attempt != wantAttempt {
			t.Errorf("%s: Attempt = %d, want %d", c.state, g.Attempt, wantAttempt)
		}
		if !c.wantRunAt.IsZero() {
			sameTime(t, string(c.state)+": RunAt", g.RunAt, c.wantRunAt)
		}
		wantFinished := time.Time{}
		if c.final {
			wantFinished = now
		}
		sameTime(t, string(c.state)+": FinishedAt", g.FinishedAt, wantFinished)
		sameTime(t, string(c.state)+": UpdatedAt", g.UpdatedAt, now)
		sameTime(t, string(c.state)+": LeaseUntil", g.LeaseUntil, time.Time{})
		if len(g.Attempts) != 1 {
			t.Errorf("%s: %d attempts recorded, want 1", c.state, len(g.Attempts))
		}
		checkTimesUTC(t, g)
	}
	// Queued and scheduled jobs from a finish are claimable / promotable again.
	cp := claimParams(at(3*time.Second), 10)
	cp.Queue = "q-queued"
	if got := claim(t, s, cp); len(got) != 1 {
		t.Errorf("job finished to queued: claimed %d, want 1", len(got))
	}
}

func testFinishGuard(t *testing.T, s store.Store) {
	jobs := insertN(t, s, base(), 3, func(int) store.InsertParams { return params("k") })
	cl := claim(t, s, claimParams(at(time.Second), 3))
	if len(cl) != 3 {
		t.Fatalf("claimed %d", len(cl))
	}
	before := get(t, s, jobs[1].ID)
	now := at(2 * time.Second)
	stale := doneParams(cl[1], now)
	stale.Attempt = 2 // an attempt the job is not running
	unknown := doneParams(cl[0], now)
	unknown.ID = jobs[2].ID + 1000
	applied := finish(t, s, doneParams(cl[0], now), stale, unknown, doneParams(cl[2], now))
	if want := []bool{true, false, false, true}; !slices.Equal(applied, want) {
		t.Fatalf("applied = %v, want %v", applied, want)
	}
	if after := get(t, s, jobs[1].ID); !reflect.DeepEqual(before, after) {
		t.Errorf("a stale finish changed the job:\nbefore %+v\nafter  %+v", before, after)
	}
	// A finish for a job that is no longer running (already finished).
	done := get(t, s, jobs[0].ID)
	again := doneParams(cl[0], at(3*time.Second))
	again.State = store.StateError
	if finish(t, s, again)[0] {
		t.Error("a second finish of a done job was applied")
	}
	if after := get(t, s, jobs[0].ID); !reflect.DeepEqual(done, after) {
		t.Errorf("a finish of a done job changed it:\nbefore %+v\nafter  %+v", done, after)
	}
	// The same attempt finished twice in one call: only the first applies.
	twice := finish(t, s, doneParams(cl[1], now), doneParams(cl[1], now))
	if !slices.Equal(twice, []bool{true, false}) {
		t.Errorf("the same attempt finished twice in one call: applied %v, want [true false]", twice)
	}
}

func testFinishHistory(t *testing.T, s store.Store) {
	j := insertJob(t, s, base(), params("k"))
	c1 := claimOne(t, s, at(time.Second), j.ID)
	rec1 := store.Attempt{Number: 1, Node: "n1", StartedAt: c1.StartedAt, FinishedAt: at(2 * time.Second),
		Outcome: store.OutcomePanic, Error: "runtime error: index out of range",
		Location: "worker.go:10 -> helper.go:20"}
	if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: 1, State: store.StateRetrying, RunAt: at(3 * time.Second),
		Error: rec1.Error, Record: rec1, Now: at(2 * time.Second)})[0] {
		t.Fatal("first finish not applied")
	}
	if _, _, err := s.Promote(t.Context(), at(4*time.Second), 10); err != nil {
		t.Fatal(err)
	}
	cp := claimParams(at(5*time.Second), 1)
	cp.Node = "n2"
	c2 := claim(t, s, cp)
	if len(c2) != 1 || c2[0].Attempt != 2 {
		t.Fatalf("second claim: %v", c2)
	}
	rec2 := store.Attempt{Number: 2, Node: "n2", StartedAt: c2[0].StartedAt, FinishedAt: at(6 * time.Second),
		Outcome: store.OutcomeDone}
	if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: 2, State: store.StateDone, Result: json.RawMessage(`1`),
		Record: rec2, Now: at(6 * time.Second)})[0] {
		t.Fatal("second finish not applied")
	}
	g := get(t, s, j.ID)
	if len(g.Attempts) != 2 {
		t.Fatalf("Attempts = %+v, want 2", g.Attempts)
	}
	for i, want := range []store.Attempt{rec1, rec2} {
		got := g.Attempts[i]
		if got.Number != want.Number || got.Node != want.Node || got.Outcome != want.Outcome ||
			got.Error != want.Error || got.Location != want.Location {
			t.Errorf("Attempts[%d] = %+v, want %+v", i, got, want)
		}
		sameTime(t, "attempt StartedAt", got.StartedAt, micro(want.StartedAt))
		sameTime(t, "attempt FinishedAt", got.FinishedAt, micro(want.FinishedAt))
	}
	if g.LastError != rec1.Error {
		t.Errorf("LastError = %q; a finish without error keeps the last one, %q", g.LastError, rec1.Error)
	}
	sameTime(t, "FinishedAt", g.FinishedAt, at(6*time.Second))
	checkTimesUTC(t, g)
}

func leaseTests() []test {
	return []test{
		{"Extend", func(t *testing.T, s store.Store) {
			insertN(t, s, base(), 3, func(int) store.InsertParams { return params("k") })
			cl := claim(t, s, claimParams(at(time.Second), 3))
			refs := make([]store.JobRef, len(cl))
			for i, j := range cl {
				refs[i] = store.JobRef{ID: j.ID, Attempt: j.Attempt}
			}
			until := at(5*time.Minute + 999*time.Nanosecond)
			rep, err := s.ExtendLeases(t.Context(), "n1", refs, until)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Lost) != 0 || len(rep.CancelRequested) != 0 {
				t.Errorf("report %+v, want empty", rep)
			}
			for _, j := range cl {
				sameTime(t, "LeaseUntil", get(t, s, j.ID).LeaseUntil, micro(until))
			}
		}},
		{"LostAndCancelRequested", testLeaseReport},
	}
}

func testLeaseReport(t *testing.T, s store.Store) {
	jobs := insertN(t, s, base(), 5, func(int) store.InsertParams { return params("k") })
	cl := claim(t, s, claimParams(base(), 4)) // lease until base+1m
	if len(cl) != 4 {
		t.Fatalf("claimed %d", len(cl))
	}
	rescued, cancelled, aborted, kept := cl[0], cl[1], cl[2], cl[3]

	// rescued: its lease is extended past the others', then it is rescued
	// and claimed again by n2.
	if rep, err := s.ExtendLeases(t.Context(), "n1", []store.JobRef{{ID: kept.ID, Attempt: 1}, {ID: cancelled.ID, Attempt: 1},
		{ID: aborted.ID, Attempt: 1}}, at(time.Hour)); err != nil || len(rep.Lost) != 0 {
		t.Fatalf("ExtendLeases = %+v, %v", rep, err)
	}
	if tr, err := s.Rescue(t.Context(), at(2*time.Minute), 10); err != nil || len(tr) != 1 || tr[0].Job.ID != rescued.ID {
		t.Fatalf("Rescue = %v, %v; want job %d", tr, err, rescued.ID)
	}
	cp := claimParams(at(3*time.Minute), 10)
	cp.Node = "n2"
	if got := claim(t, s, cp); !slices.Equal(sortedIDs(ids(got)), sortedIDs([]int64{rescued.ID, jobs[4].ID})) {
		t.Fatalf("n2 claimed %v", ids(got))
	}
	if _, err := s.Cancel(t.Context(), store.CancelParams{ID: cancelled.ID, Reason: "stop", Now: at(3 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if !finish(t, s, store.FinishParams{ID: aborted.ID, Attempt: 1, State: store.StateAborted, Now: at(3 * time.Minute)})[0] {
		t.Fatal("finish not applied")
	}

	until := at(2 * time.Hour)
	refs := []store.JobRef{
		{ID: rescued.ID, Attempt: 1}, {ID: cancelled.ID, Attempt: 1}, {ID: aborted.ID, Attempt: 1},
		{ID: kept.ID, Attempt: 1}, {ID: jobs[4].ID, Attempt: 1}, // held by n2, not n1
		{ID: jobs[4].ID + 1000, Attempt: 1}, // no such job
	}
	rep, err := s.ExtendLeases(t.Context(), "n1", refs, until)
	if err != nil {
		t.Fatal(err)
	}
	wantLost := []store.JobRef{refs[0], refs[2], refs[4], refs[5]}
	if !sameRefs(rep.Lost, wantLost) {
		t.Errorf("Lost = %v, want %v", rep.Lost, wantLost)
	}
	if !sameRefs(rep.CancelRequested, []store.JobRef{refs[1]}) {
		t.Errorf("CancelRequested = %v, want %v", rep.CancelRequested, refs[1:2])
	}
	sameTime(t, "extended lease", get(t, s, kept.ID).LeaseUntil, until)
	sameTime(t, "cancel-requested lease", get(t, s, cancelled.ID).LeaseUntil, until)
	// The lost attempts keep their new holder's lease.
	sameTime(t, "n2's lease", get(t, s, rescued.ID).LeaseUntil, at(4*time.Minute))
}

// sameRefs compares ref lists ignoring order.
func sameRefs(a, b []store.JobRef) bool {
	key := func(r store.JobRef) int64 { return r.ID*1000 + int64(r.Attempt) }
	x, y := make([]int64, len(a)), make([]int64, len(b))
	for i, r := range a {
		x[i] = key(r)
	}
	for i, r := range b {
		y[i] = key(r)
	}
	return slices.Equal(sortedIDs(x), sortedIDs(y))
}

// testFinishCancelRequested: a finish that would run a job again (retrying,
// scheduled, queued) ends it aborted if an abort was requested while it ran,
// keeping the abort's reason; a final finish stands.
func testFinishCancelRequested(t *testing.T, s store.Store) {
	cases := []struct {
		to, want store.State
		uncount  bool
	}{
		{store.StateRetrying, store.StateAborted, false},
		{store.StateScheduled, store.StateAborted, true},
		{store.StateQueued, store.StateAborted, true},
		{store.StateDone, store.StateDone, false},
		{store.StateError, store.StateError, false},
	}
	for _, c := range cases {
		q := "cr-" + string(c.to)
		j := insertJob(t, s, base(), params("k", inQueue(q)))
		cp := claimParams(at(time.Second), 1)
		cp.Queue = q
		if cl := claim(t, s, cp); len(cl) != 1 {
			t.Fatalf("%s: claimed %d jobs", c.to, len(cl))
		}
		if _, err := s.Cancel(t.Context(), store.CancelParams{ID: j.ID, Reason: "stop it", Now: at(2 * time.Second)}); err != nil {
			t.Fatalf("%s: Cancel: %v", c.to, err)
		}
		f := store.FinishParams{ID: j.ID, Attempt: 1, State: c.to, Uncount: c.uncount, RunAt: at(time.Hour),
			Now: at(3 * time.Second), Record: store.Attempt{Outcome: store.OutcomeRetryLater}}
		if c.to == store.StateError {
			f.Error = "boom"
		}
		// Finish reports the state the abort turned it into.
		if got := finishStates(t, s, f)[0]; got != c.want {
			t.Fatalf("%s: Finish reported %q, want %q", c.to, got, c.want)
		}
		g := wantState(t, s, j.ID, c.want)
		if g.CancelRequested {
			t.Errorf("%s: CancelRequested still set", c.to)
		}
		if c.want == store.StateAborted {
			if g.LastError != "stop it" {
				t.Errorf("%s: LastError = %q, want the abort's reason", c.to, g.LastError)
			}
			if !g.FinishedAt.Equal(at(3 * time.Second)) {
				t.Errorf("%s: FinishedAt = %v, want %v", c.to, g.FinishedAt, at(3*time.Second))
			}
		}
		if len(g.Attempts) != 1 {
			t.Errorf("%s: %d attempts recorded, want 1", c.to, len(g.Attempts))
		}
	}
}

// testFinishAnyText: a worker's error text and result may hold any bytes (a
// NUL, invalid UTF-8, a \u0000 escape). Every driver stores the finish,
// with NUL and invalid bytes as U+FFFD, rather than fail the whole batch
// (the node would retry it for ever while its jobs stay running).
func testFinishAnyText(t *testing.T, s store.Store) {
	jobs := insertN(t, s, base(), 2, func(int) store.InsertParams { return params("k") })
	got := claim(t, s, claimParams(at(time.Second), 2))
	if len(got) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(got))
	}
	const errText, wantText = "exit 1: a\x00b \xff\xfe end", "exit 1: a\ufffdb \ufffd\ufffd end"
	now := at(2 * time.Second)
	applied := finish(t, s,
		store.FinishParams{ID: jobs[0].ID, Attempt: 1, State: store.StateError, Error: errText, Now: now,
			Record: store.Attempt{Outcome: store.OutcomeError, Error: errText, Location: "f.go:1\x00"}},
		store.FinishParams{ID: jobs[1].ID, Attempt: 1, State: store.StateDone, Now: now,
			Result: json.RawMessage(`{"s": "a\u0000b", "t": "\\u0000"}`), Record: store.Attempt{Outcome: store.OutcomeDone}})
	if !applied[0] || !applied[1] {
		t.Fatalf("applied = %v, want both", applied)
	}
	g := wantState(t, s, jobs[0].ID, store.StateError)
	if g.LastError != wantText {
		t.Errorf("LastError = %q, want %q", g.LastError, wantText)
	}
	if len(g.Attempts) != 1 || g.Attempts[0].Error != wantText || g.Attempts[0].Location != "f.go:1\ufffd" {
		t.Errorf("Attempts = %+v, want one with Error %q", g.Attempts, wantText)
	}
	g = wantState(t, s, jobs[1].ID, store.StateDone)
	if want := `{"s": "a\ufffdb", "t": "\\u0000"}`; !jsonEqual(g.Result, []byte(want)) {
		t.Errorf("Result = %s, want %s", g.Result, want)
	}
}

// testFinishMixedBatch finishes jobs of one queue in one call, given in
// descending id order, each with its own state, error, result and history
// record, one of them with a stale attempt: every job gets its own values.
func testFinishMixedBatch(t *testing.T, s store.Store) {
	const n = 12
	var ids []int64
	for range n {
		ids = append(ids, insertJob(t, s, base(), params("k", inQueue("mixed"), withMaxAttempts(5))).ID)
	}
	cp := claimParams(at(time.Second), n)
	cp.Queue = "mixed"
	claimed := claim(t, s, cp)
	if len(claimed) != n {
		t.Fatalf("claimed %d of %d", len(claimed), n)
	}
	states := []store.State{store.StateDone, store.StateError, store.StateRetrying, store.StateScheduled, store.StateQueued, store.StateAborted}
	now := at(2 * time.Second)
	var fs []store.FinishParams
	want := map[int64]store.State{}
	for i := n - 1; i >= 0; i-- {
		id := ids[i]
		st := states[i%len(states)]
		f := store.FinishParams{ID: id, Attempt: 1, State: st, Now: now, Error: fmt.Sprintf("err %d", id),
			Record: store.Attempt{Number: 1, Node: "n1", StartedAt: at(time.Second), FinishedAt: now, Outcome: store.OutcomeError, Error: fmt.Sprintf("rec %d", id)}}
		if st == store.StateRetrying || st == store.StateScheduled {
			f.RunAt = at(time.Hour + time.Duration(id)*time.Second)
		}
		if st == store.StateDone {
			f.Result = json.RawMessage(fmt.Sprintf(`{"id": %d}`, id))
		}
		if i == 7 {
			f.Attempt = 2 // not the attempt that runs: not applied
		} else {
			want[id] = st
		}
		fs = append(fs, f)
	}
	got := finishStates(t, s, fs...)
	for i, f := range fs {
		if w, ok := want[f.ID]; got[i] != w || ok != (got[i] != "") {
			t.Errorf("finish %d (job %d): reported %q, want %q", i, f.ID, got[i], w)
		}
		j := get(t, s, f.ID)
		if _, ok := want[f.ID]; !ok {
			if j.State != store.StateRunning || len(j.Attempts) != 0 {
				t.Errorf("job %d, finished with a stale attempt: %s with %d records, want running with none", f.ID, j.State, len(j.Attempts))
			}
			continue
		}
		if j.State != f.State || j.LastError != f.Error || len(j.Attempts) != 1 || j.Attempts[0].Error != fmt.Sprintf("rec %d", f.ID) {
			t.Errorf("job %d: %s, error %q, attempts %+v; want %s, %q and one record %q", f.ID, j.State, j.LastError, j.Attempts, f.State, f.Error, fmt.Sprintf("rec %d", f.ID))
		}
		if !f.RunAt.IsZero() {
			sameTime(t, fmt.Sprintf("job %d: RunAt", f.ID), j.RunAt, f.RunAt)
		}
		if f.Result != nil && !jsonEqual(j.Result, f.Result) {
			t.Errorf("job %d: Result = %s, want %s", f.ID, j.Result, f.Result)
		}
	}
}
