package storetest

import (
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// Remote leases: attempts claimed with a ClaimParams.LeaseToken, ended and
// extended only by that token (the lease protocol of `rota serve`).

func remoteLeaseTests() []test {
	return []test{
		{"Guards", testRemoteGuards},
		{"StaleTokenAfterSnoozeAndReclaim", testRemoteStaleAfterSnooze},
		{"ExpiredLeaseRescued", testRemoteRescued},
		{"AbortedLeaseRescuedAborted", testRemoteRescuedAborted},
		{"SurvivesNodeRegistration", testRemoteSurvivesRegistration},
		{"LimitedClaim", testRemoteLimitedClaim},
	}
}

// remoteClaim claims the one job wantID for a remote lease with token.
func remoteClaim(t *testing.T, s store.Store, now time.Time, wantID int64, token string) *store.Job {
	t.Helper()
	p := claimParams(now, 1)
	p.LeaseToken = token
	jobs := claim(t, s, p)
	if len(jobs) != 1 || jobs[0].ID != wantID {
		t.Fatalf("remote claim = %v, want job %d", ids(jobs), wantID)
	}
	return jobs[0]
}

// extendOne extends one ref as node at now+d and reports whether it held.
func extendOne(t *testing.T, s store.Store, node string, ref store.JobRef, until time.Time) (held, cancel bool) {
	t.Helper()
	rep, err := s.ExtendLeases(t.Context(), node, []store.JobRef{ref}, until)
	if err != nil {
		t.Fatalf("ExtendLeases: %v", err)
	}
	for _, r := range rep.Lost {
		if r.LeaseToken != "" {
			t.Errorf("Lost ref %+v carries a token", r)
		}
	}
	for _, r := range rep.CancelRequested {
		if r.LeaseToken != "" {
			t.Errorf("CancelRequested ref %+v carries a token", r)
		}
	}
	return len(rep.Lost) == 0, len(rep.CancelRequested) > 0
}

// testRemoteGuards: a remote lease is extended and ended only with its
// token, from any node; a node's own attempt only without one.
func testRemoteGuards(t *testing.T, s store.Store) {
	remote := insertJob(t, s, base(), params("k", inQueue("r")))
	local := insertJob(t, s, base(), params("k", inQueue("l")))
	p := claimParams(at(time.Second), 1)
	p.Queue, p.LeaseToken = "r", "tok-remote"
	if got := claim(t, s, p); len(got) != 1 || got[0].ID != remote.ID {
		t.Fatalf("remote claim = %v", ids(got))
	}
	p = claimParams(at(time.Second), 1)
	p.Queue = "l"
	if got := claim(t, s, p); len(got) != 1 || got[0].ID != local.ID {
		t.Fatalf("local claim = %v", ids(got))
	}
	until := at(10 * time.Minute)
	cases := []struct {
		what string
		node string
		ref  store.JobRef
		held bool
	}{
		{"remote lease by its node without the token", "n1", store.JobRef{ID: remote.ID, Attempt: 1}, false},
		{"remote lease with a wrong token", "n1", store.JobRef{ID: remote.ID, Attempt: 1, LeaseToken: "tok-other"}, false},
		{"local attempt with a token", "n1", store.JobRef{ID: local.ID, Attempt: 1, LeaseToken: "tok-remote"}, false},
		{"remote lease with its token from another node", "n2", store.JobRef{ID: remote.ID, Attempt: 1, LeaseToken: "tok-remote"}, true},
		{"local attempt by its node", "n1", store.JobRef{ID: local.ID, Attempt: 1}, true},
	}
	for _, c := range cases {
		if held, _ := extendOne(t, s, c.node, c.ref, until); held != c.held {
			t.Errorf("%s: held = %v, want %v", c.what, held, c.held)
		}
	}
	sameTime(t, "remote lease after its extension", get(t, s, remote.ID).LeaseUntil, until)

	done := func(j *store.Job, token string) store.FinishParams {
		f := doneParams(get(t, s, j.ID), at(time.Minute))
		f.LeaseToken = token
		return f
	}
	if applied := finish(t, s, done(remote, ""), done(local, "tok-remote"), done(remote, "tok-other")); applied[0] || applied[1] || applied[2] {
		t.Fatalf("finishes with the wrong token (or none) applied: %v", applied)
	}
	wantState(t, s, remote.ID, store.StateRunning)
	wantState(t, s, local.ID, store.StateRunning)
	if applied := finish(t, s, done(remote, "tok-remote"), done(local, "")); !applied[0] || !applied[1] {
		t.Fatalf("finishes with the right tokens: applied %v", applied)
	}
	wantState(t, s, remote.ID, store.StateDone)
	wantState(t, s, local.ID, store.StateDone)
	// The finished lease's token is spent.
	if held, _ := extendOne(t, s, "n1", store.JobRef{ID: remote.ID, Attempt: 1, LeaseToken: "tok-remote"}, until); held {
		t.Error("a finished remote lease was extended")
	}
}

// testRemoteStaleAfterSnooze: a snooze gives the attempt back, so the next
// claim runs the same attempt number; the first claim's token must not
// end nor extend it.
func testRemoteStaleAfterSnooze(t *testing.T, s store.Store) {
	j := insertJob(t, s, base(), params("k"))
	first := remoteClaim(t, s, at(time.Second), j.ID, "tok-first")
	snooze := store.FinishParams{ID: j.ID, Attempt: first.Attempt, State: store.StateScheduled, RunAt: at(time.Minute),
		Uncount: true, Now: at(2 * time.Second), LeaseToken: "tok-first",
		Record: store.Attempt{Number: first.Attempt, Node: "w1", StartedAt: first.StartedAt, Outcome: store.OutcomeSnooze}}
	if !finish(t, s, snooze)[0] {
		t.Fatal("snooze not applied")
	}
	if _, _, err := s.Promote(t.Context(), at(time.Minute), 10); err != nil {
		t.Fatal(err)
	}
	second := remoteClaim(t, s, at(time.Minute+time.Second), j.ID, "tok-second")
	if second.Attempt != first.Attempt {
		t.Fatalf("attempt after a snooze = %d, want %d again", second.Attempt, first.Attempt)
	}
	before := get(t, s, j.ID)
	stale := doneParams(second, at(2*time.Minute))
	stale.LeaseToken = "tok-first"
	if finish(t, s, stale)[0] {
		t.Fatal("the first claim's token finished the second claim")
	}
	if held, _ := extendOne(t, s, "n1", store.JobRef{ID: j.ID, Attempt: second.Attempt, LeaseToken: "tok-first"}, at(time.Hour)); held {
		t.Fatal("the first claim's token extended the second claim")
	}
	after := get(t, s, j.ID)
	if after.State != store.StateRunning || !after.LeaseUntil.Equal(before.LeaseUntil) || len(after.Attempts) != len(before.Attempts) {
		t.Errorf("stale token changed the job: %+v -> %+v", before, after)
	}
	good := doneParams(second, at(2*time.Minute))
	good.LeaseToken = "tok-second"
	if !finish(t, s, good)[0] {
		t.Fatal("the second claim's token did not finish it")
	}
	wantState(t, s, j.ID, store.StateDone)
}

// testRemoteRescued: an expired remote lease is rescued like any other
// (attempt recorded lost); its token is spent, and the next claim's works.
func testRemoteRescued(t *testing.T, s store.Store) {
	j := insertJob(t, s, base(), params("k"))
	c := remoteClaim(t, s, base(), j.ID, "tok-1") // lease until base+1m
	tr, err := s.Rescue(t.Context(), at(2*time.Minute), 10)
	if err != nil || len(tr) != 1 || tr[0].Job.ID != j.ID || tr[0].Job.State != store.StateQueued {
		t.Fatalf("Rescue = %+v, %v; want job %d queued", tr, err, j.ID)
	}
	g := get(t, s, j.ID)
	if n := len(g.Attempts); n != 1 || g.Attempts[0].Outcome != store.OutcomeLost {
		t.Fatalf("attempts after rescue: %+v", g.Attempts)
	}
	f := doneParams(c, at(3*time.Minute))
	f.LeaseToken = "tok-1"
	if finish(t, s, f)[0] {
		t.Fatal("a rescued lease's token finished the job")
	}
	again := remoteClaim(t, s, at(4*time.Minute), j.ID, "tok-2")
	if again.Attempt != 2 {
		t.Errorf("attempt after a rescue = %d, want 2", again.Attempt)
	}
	f = doneParams(again, at(5*time.Minute))
	f.LeaseToken = "tok-1"
	if finish(t, s, f)[0] {
		t.Fatal("the rescued claim's token finished the next claim")
	}
	f.LeaseToken = "tok-2"
	if !finish(t, s, f)[0] {
		t.Fatal("the next claim's token did not finish it")
	}
}

// testRemoteRescuedAborted: a remote lease whose job was aborted while it
// ran and whose worker vanished ends aborted at its expiry, not retried;
// the heartbeat before the expiry reports the abort.
func testRemoteRescuedAborted(t *testing.T, s store.Store) {
	j := insertJob(t, s, base(), params("k", withMaxAttempts(5)))
	c := remoteClaim(t, s, base(), j.ID, "tok-1")
	if _, err := s.Cancel(t.Context(), store.CancelParams{ID: j.ID, Reason: "stop it", Now: at(time.Second)}); err != nil {
		t.Fatal(err)
	}
	held, cancel := extendOne(t, s, "n2", store.JobRef{ID: j.ID, Attempt: c.Attempt, LeaseToken: "tok-1"}, at(time.Minute))
	if !held || !cancel {
		t.Fatalf("heartbeat after an abort: held %v, cancel requested %v; want both", held, cancel)
	}
	if _, err := s.Rescue(t.Context(), at(2*time.Minute), 10); err != nil {
		t.Fatal(err)
	}
	wantState(t, s, j.ID, store.StateAborted)
}

// testRemoteSurvivesRegistration: a node that registers again (a restart
// of `rota serve`) leaves the remote leases it handed out running, and
// their tokens keep working.
func testRemoteSurvivesRegistration(t *testing.T, s store.Store) {
	register(t, s, testNode("n1", "first", base()))
	j := insertJob(t, s, base(), params("k"))
	c := remoteClaim(t, s, at(time.Second), j.ID, "tok-1")
	register(t, s, testNode("n1", "second", at(2*time.Second)))
	if err := s.StopNode(t.Context(), "n1", "second", at(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	register(t, s, testNode("n1", "third", at(4*time.Second)))
	wantState(t, s, j.ID, store.StateRunning)
	if held, _ := extendOne(t, s, "n1", store.JobRef{ID: j.ID, Attempt: c.Attempt, LeaseToken: "tok-1"}, at(time.Hour)); !held {
		t.Fatal("the token did not extend the lease after the node registered again")
	}
	if tr, err := s.Rescue(t.Context(), at(2*time.Minute), 10); err != nil || len(tr) != 0 {
		t.Fatalf("Rescue of an extended lease = %+v, %v", tr, err)
	}
	f := doneParams(c, at(5*time.Minute))
	f.LeaseToken = "tok-1"
	if !finish(t, s, f)[0] {
		t.Fatal("the token did not finish the job after the node registered again")
	}
	wantState(t, s, j.ID, store.StateDone)
}

// testRemoteLimitedClaim: a claim of a kind with a cluster-wide maximum
// stores the token too (the drivers claim those in a path of their own).
func testRemoteLimitedClaim(t *testing.T, s store.Store) {
	j := insertJob(t, s, base(), params("lim"))
	p := limitClaim(store.DefaultQueue, "n1", at(time.Second), 1, globalMax("lim", 1, 2))
	p.LeaseToken = "tok-lim"
	got := wantClaim(t, s, "limited remote claim", p, 1)
	f := doneParams(got[0], at(time.Minute))
	if finish(t, s, f)[0] {
		t.Fatal("a limited remote lease was finished without its token")
	}
	f.LeaseToken = "tok-lim"
	if !finish(t, s, f)[0] {
		t.Fatal("a limited remote lease was not finished with its token")
	}
	wantState(t, s, j.ID, store.StateDone)
}
