package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// retryingJob inserts a job, claims it and finishes it to retrying at runAt.
func retryingJob(t *testing.T, s store.Store, runAt time.Time, changes ...func(*store.InsertParams)) *store.Job {
	t.Helper()
	// A queue of its own, so that the claim takes this job.
	j := insertJob(t, s, base(), params("k", append([]func(*store.InsertParams){inQueue("retrying-jobs")}, changes...)...))
	cp := claimParams(base(), 1)
	cp.Queue = j.Queue
	cl := claim(t, s, cp)
	if len(cl) != 1 || cl[0].ID != j.ID {
		t.Fatalf("claimed %v, want %d", ids(cl), j.ID)
	}
	if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: 1, State: store.StateRetrying, RunAt: runAt, Error: "e", Now: base()})[0] {
		t.Fatal("finish to retrying not applied")
	}
	return wantState(t, s, j.ID, store.StateRetrying)
}

// finalJob returns a job in the final state st.
func finalJob(t *testing.T, s store.Store, st store.State, changes ...func(*store.InsertParams)) *store.Job {
	t.Helper()
	j := insertJob(t, s, base(), params("k", append([]func(*store.InsertParams){inQueue("final-jobs")}, changes...)...))
	cp := claimParams(base(), 1)
	cp.Queue = j.Queue
	if cl := claim(t, s, cp); len(cl) != 1 || cl[0].ID != j.ID {
		t.Fatalf("claimed %v, want %d", ids(cl), j.ID)
	}
	if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: 1, State: st, Now: at(time.Second)})[0] {
		t.Fatalf("finish to %s not applied", st)
	}
	return wantState(t, s, j.ID, st)
}

func promoteTests() []test {
	return []test{
		{"DueJobs", func(t *testing.T, s store.Store) {
			s10 := insertJob(t, s, base(), params("k", withRunAt(at(10*time.Second))))
			insertJob(t, s, base(), params("k", withRunAt(at(20*time.Second))))
			insertJob(t, s, base(), params("k", withRunAt(at(30*time.Second))))
			r15 := retryingJob(t, s, at(15*time.Second), inQueue(store.DefaultQueue)) // nothing else is queued
			ready := insertJob(t, s, base(), params("k", held()))                     // run_at = base: never promoted
			now := at(16 * time.Second)
			tr, next, err := s.Promote(t.Context(), now, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(tr) != 2 {
				t.Fatalf("promoted %d jobs, want 2", len(tr))
			}
			wantFrom := map[int64]store.State{s10.ID: store.StateScheduled, r15.ID: store.StateRetrying}
			for _, x := range tr {
				if from, ok := wantFrom[x.Job.ID]; !ok || x.From != from || x.Job.State != store.StateQueued {
					t.Errorf("transition job %d %s -> %s, want %v", x.Job.ID, x.From, x.Job.State, wantFrom)
				}
			}
			sameTime(t, "next", next, at(20*time.Second))
			wantState(t, s, ready.ID, store.StateReady)
			got := claim(t, s, claimParams(now, 10))
			if want := []int64{s10.ID, r15.ID}; !slices.Equal(ids(got), want) {
				t.Errorf("after promote claimed %v, want %v (by run_at)", ids(got), want)
			}
		}},
		{"Limit", func(t *testing.T, s store.Store) {
			for i := 3; i >= 1; i-- {
				insertJob(t, s, base(), params("k", withRunAt(at(time.Duration(i)*time.Second))))
			}
			now := at(time.Minute)
			tr, next, err := s.Promote(t.Context(), now, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(tr) != 2 || !tr[0].Job.RunAt.Equal(at(time.Second)) || !tr[1].Job.RunAt.Equal(at(2*time.Second)) {
				t.Fatalf("limit 2 promoted %d jobs: %+v; want the 2 earliest", len(tr), tr)
			}
			sameTime(t, "next with a due job left", next, at(3*time.Second))
			tr, next, err = s.Promote(t.Context(), now, 2)
			if err != nil || len(tr) != 1 {
				t.Fatalf("second promote: %d, %v", len(tr), err)
			}
			sameTime(t, "next with nothing waiting", next, time.Time{})
		}},
		{"NothingDue", func(t *testing.T, s store.Store) {
			j := insertJob(t, s, base(), params("k", withRunAt(at(time.Hour))))
			tr, next, err := s.Promote(t.Context(), at(time.Minute), 10)
			if err != nil || len(tr) != 0 {
				t.Fatalf("Promote = %v, %v", tr, err)
			}
			sameTime(t, "next", next, at(time.Hour))
			wantState(t, s, j.ID, store.StateScheduled)
			// run_at == now is due.
			if tr, _, err := s.Promote(t.Context(), at(time.Hour), 10); err != nil || len(tr) != 1 {
				t.Fatalf("Promote at run_at = %v, %v", tr, err)
			}
		}},
	}
}

func rescueTests() []test {
	return []test{
		{"ExpiredLeases", func(t *testing.T, s store.Store) {
			more := insertJob(t, s, base(), params("k", withMaxAttempts(2)))
			last := insertJob(t, s, base(), params("k", withMaxAttempts(1)))
			fresh := insertJob(t, s, base(), params("k"))
			edge := insertJob(t, s, base(), params("k"))
			cp := claimParams(at(time.Second), 2)
			cp.LeaseUntil = at(30 * time.Second)
			cp.Node = "dead-node"
			if got := claim(t, s, cp); len(got) != 2 {
				t.Fatalf("claimed %d", len(got))
			}
			cp.Limit, cp.Node = 1, "live-node"
			cp.LeaseUntil = at(time.Hour)
			claim(t, s, cp) // fresh
			cp.LeaseUntil = at(time.Minute)
			claim(t, s, cp) // edge: lease ends exactly at the rescue time

			now := at(time.Minute)
			tr, err := s.Rescue(t.Context(), now, 10)
			if err != nil {
				t.Fatal(err)
			}
			got := map[int64]store.Transition{}
			for _, x := range tr {
				got[x.Job.ID] = x
			}
			if len(tr) != 2 || got[more.ID].Job == nil || got[last.ID].Job == nil {
				t.Fatalf("rescued %d jobs: %+v; want %d and %d", len(tr), tr, more.ID, last.ID)
			}
			for id, want := range map[int64]store.State{more.ID: store.StateQueued, last.ID: store.StateError} {
				x := got[id]
				if x.From != store.StateRunning || x.Job.State != want {
					t.Errorf("job %d: %s -> %s, want running -> %s", id, x.From, x.Job.State, want)
				}
				g := wantState(t, s, id, want)
				if len(g.Attempts) != 1 {
					t.Fatalf("job %d: %d attempts recorded, want 1", id, len(g.Attempts))
				}
				a := g.Attempts[0]
				if a.Outcome != store.OutcomeLost || a.Node != "dead-node" || a.Number != 1 {
					t.Errorf("job %d attempt %+v; want lost by dead-node, number 1", id, a)
				}
				sameTime(t, "attempt StartedAt", a.StartedAt, at(time.Second))
				sameTime(t, "attempt FinishedAt", a.FinishedAt, now)
				sameTime(t, "LeaseUntil", g.LeaseUntil, time.Time{})
				if want == store.StateError {
					sameTime(t, "FinishedAt", g.FinishedAt, now)
				} else {
					sameTime(t, "FinishedAt", g.FinishedAt, time.Time{})
				}
			}
			wantState(t, s, fresh.ID, store.StateRunning)
			wantState(t, s, edge.ID, store.StateRunning)
			// The queued one runs again, as attempt 2.
			if c := claimOne(t, s, now, more.ID); c.Attempt != 2 {
				t.Errorf("reclaimed attempt %d, want 2", c.Attempt)
			}
		}},
		{"Limit", func(t *testing.T, s store.Store) {
			insertN(t, s, base(), 3, func(int) store.InsertParams { return params("k") })
			claim(t, s, claimParams(base(), 3))
			tr, err := s.Rescue(t.Context(), at(time.Hour), 2)
			if err != nil || len(tr) != 2 {
				t.Fatalf("Rescue(limit 2) = %d, %v", len(tr), err)
			}
			tr, err = s.Rescue(t.Context(), at(time.Hour), 2)
			if err != nil || len(tr) != 1 {
				t.Fatalf("second Rescue = %d, %v", len(tr), err)
			}
		}},
		{"CancelRequested", func(t *testing.T, s store.Store) {
			// The node died before it could abort the job: it is aborted, not run again.
			j := insertJob(t, s, base(), params("k"))
			claimOne(t, s, base(), j.ID)
			if _, err := s.Cancel(t.Context(), store.CancelParams{ID: j.ID, Now: at(time.Second)}); err != nil {
				t.Fatal(err)
			}
			tr, err := s.Rescue(t.Context(), at(time.Hour), 10)
			if err != nil || len(tr) != 1 || tr[0].Job.State != store.StateAborted {
				t.Fatalf("Rescue of a cancel-requested job = %+v, %v; want aborted", tr, err)
			}
		}},
	}
}

func cancelTests() []test {
	return []test{
		{"Waiting", func(t *testing.T, s store.Store) {
			jobs := map[store.State]*store.Job{
				store.StateReady:     insertJob(t, s, base(), params("k", held())),
				store.StateScheduled: insertJob(t, s, base(), params("k", withRunAt(at(time.Hour)))),
				store.StateQueued:    insertJob(t, s, base(), params("k")),
				store.StateRetrying:  retryingJob(t, s, at(time.Hour)),
			}
			now := at(time.Minute)
			for from, j := range jobs {
				tr, err := s.Cancel(t.Context(), store.CancelParams{ID: j.ID, Reason: "not needed", Now: now})
				if err != nil {
					t.Fatalf("cancel %s job: %v", from, err)
				}
				if tr.From != from || tr.Job == nil || tr.Job.State != store.StateAborted || tr.Job.ID != j.ID {
					t.Errorf("cancel %s job: transition %+v", from, tr)
				}
				g := wantState(t, s, j.ID, store.StateAborted)
				sameTime(t, "FinishedAt", g.FinishedAt, now)
				if g.LastError != "not needed" {
					t.Errorf("LastError = %q, want the reason", g.LastError)
				}
			}
		}},
		{"Running", func(t *testing.T, s store.Store) {
			j := insertJob(t, s, base(), params("k"))
			claimOne(t, s, base(), j.ID)
			tr, err := s.Cancel(t.Context(), store.CancelParams{ID: j.ID, Now: at(time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			if tr.From != store.StateRunning || tr.Job.State != store.StateRunning || !tr.Job.CancelRequested {
				t.Errorf("cancel running: %+v; want still running with CancelRequested", tr)
			}
			g := wantState(t, s, j.ID, store.StateRunning)
			if !g.CancelRequested {
				t.Error("CancelRequested not stored")
			}
			// The node sees it and finishes the job as aborted.
			rep, err := s.ExtendLeases(t.Context(), "n1", []store.JobRef{{ID: j.ID, Attempt: 1}}, at(time.Hour))
			if err != nil || len(rep.CancelRequested) != 1 {
				t.Fatalf("ExtendLeases = %+v, %v", rep, err)
			}
			if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: 1, State: store.StateAborted, Now: at(2 * time.Second),
				Record: store.Attempt{Outcome: store.OutcomeAborted}})[0] {
				t.Fatal("finish not applied")
			}
			if g := wantState(t, s, j.ID, store.StateAborted); g.CancelRequested {
				t.Error("CancelRequested still set on the aborted job")
			}
		}},
		{"ReasonAnyText", func(t *testing.T, s store.Store) {
			// A reason may hold any bytes; it is stored as store.CleanText
			// makes it, by every driver, for a waiting and a running job.
			const reason, want = "stop\x00 \xff", "stop\ufffd \ufffd"
			waiting := insertJob(t, s, base(), params("k", withRunAt(at(time.Hour))))
			running := insertJob(t, s, base(), params("k"))
			claimOne(t, s, base(), running.ID)
			for _, j := range []*store.Job{waiting, running} {
				if _, err := s.Cancel(t.Context(), store.CancelParams{ID: j.ID, Reason: reason, Now: at(time.Second)}); err != nil {
					t.Fatalf("cancel job %d: %v", j.ID, err)
				}
				if g := get(t, s, j.ID); g.LastError != want {
					t.Errorf("job %d: LastError = %q, want %q", j.ID, g.LastError, want)
				}
			}
		}},
		{"ByKey", func(t *testing.T, s store.Store) {
			old := finalJob(t, s, store.StateDone, withKey("key", ""))
			j := insertJob(t, s, base(), params("k", withKey("key", "")))
			tr, err := s.Cancel(t.Context(), store.CancelParams{Kind: "k", Key: "key", Now: at(time.Minute)})
			if err != nil || tr.Job.ID != j.ID || tr.Job.State != store.StateAborted {
				t.Fatalf("cancel by key = %+v, %v; want job %d aborted", tr, err, j.ID)
			}
			wantState(t, s, old.ID, store.StateDone)
			_, err = s.Cancel(t.Context(), store.CancelParams{Kind: "k", Key: "key", Now: at(time.Minute)})
			wantErr(t, "cancel by key with no active job", err, store.ErrConflict)
			_, err = s.Cancel(t.Context(), store.CancelParams{Kind: "other", Key: "key", Now: at(time.Minute)})
			wantErr(t, "cancel by key of another kind", err, store.ErrNotFound)
		}},
		{"FinalAndUnknown", func(t *testing.T, s store.Store) {
			for _, st := range []store.State{store.StateDone, store.StateError, store.StateAborted} {
				j := finalJob(t, s, st)
				before := get(t, s, j.ID)
				_, err := s.Cancel(t.Context(), store.CancelParams{ID: j.ID, Now: at(time.Minute)})
				wantErr(t, "cancel "+string(st), err, store.ErrConflict)
				if after := get(t, s, j.ID); after.State != st || !after.UpdatedAt.Equal(before.UpdatedAt) {
					t.Errorf("cancel of a %s job changed it to %s", st, after.State)
				}
			}
			_, err := s.Cancel(t.Context(), store.CancelParams{ID: 987654, Now: at(time.Minute)})
			wantErr(t, "cancel unknown id", err, store.ErrNotFound)
		}},
	}
}

func manageTests() []test {
	return []test{
		{"Retry", func(t *testing.T, s store.Store) {
			jobs := map[store.State]*store.Job{
				store.StateDone:      finalJob(t, s, store.StateDone),
				store.StateError:     finalJob(t, s, store.StateError),
				store.StateAborted:   finalJob(t, s, store.StateAborted),
				store.StateScheduled: insertJob(t, s, base(), params("k", withRunAt(at(time.Hour)))),
				store.StateRetrying:  retryingJob(t, s, at(time.Hour)),
			}
			now := at(time.Minute)
			for from, j := range jobs {
				tr, err := s.Retry(t.Context(), j.ID, now)
				if err != nil {
					t.Fatalf("retry %s job: %v", from, err)
				}
				if tr.From != from || tr.Job.State != store.StateQueued {
					t.Errorf("retry %s job: %s -> %s", from, tr.From, tr.Job.State)
				}
				g := wantState(t, s, j.ID, store.StateQueued)
				sameTime(t, "RunAt", g.RunAt, now)
				sameTime(t, "FinishedAt", g.FinishedAt, time.Time{})
			}
			claimed := 0
			for _, q := range []string{store.DefaultQueue, "retrying-jobs", "final-jobs"} {
				cp := claimParams(now, 10)
				cp.Queue = q
				claimed += len(claim(t, s, cp))
			}
			if claimed != len(jobs) {
				t.Errorf("claimed %d retried jobs, want %d", claimed, len(jobs))
			}
		}},
		{"RetryRaisesMaxAttempts", func(t *testing.T, s store.Store) {
			used := finalJob(t, s, store.StateError, withMaxAttempts(1))
			tr, err := s.Retry(t.Context(), used.ID, at(time.Minute))
			if err != nil || tr.Job.MaxAttempts != 2 {
				t.Fatalf("retry of a job with no attempts left = %+v, %v; want MaxAttempts 2", tr.Job, err)
			}
			left := finalJob(t, s, store.StateAborted, withMaxAttempts(3))
			if tr, err := s.Retry(t.Context(), left.ID, at(time.Minute)); err != nil || tr.Job.MaxAttempts != 3 {
				t.Fatalf("retry of a job with attempts left = %+v, %v; want MaxAttempts 3", tr.Job, err)
			}
		}},
		{"RetryConflicts", func(t *testing.T, s store.Store) {
			running := insertJob(t, s, base(), params("k"))
			claimOne(t, s, base(), running.ID)
			ready := insertJob(t, s, base(), params("k", held()))
			queued := insertJob(t, s, base(), params("k"))
			for name, id := range map[string]int64{"running": running.ID, "ready": ready.ID, "queued": queued.ID} {
				_, err := s.Retry(t.Context(), id, at(time.Minute))
				wantErr(t, "retry "+name, err, store.ErrConflict)
			}
			_, err := s.Retry(t.Context(), 987654, at(time.Minute))
			wantErr(t, "retry unknown", err, store.ErrNotFound)
			// A final keyed job cannot come back while another job holds its key.
			old := finalJob(t, s, store.StateDone, withKey("key", ""), inQueue("other"))
			insertJob(t, s, base(), params("k", withKey("key", "")))
			_, err = s.Retry(t.Context(), old.ID, at(time.Minute))
			wantErr(t, "retry while the key is active", err, store.ErrDuplicate)
		}},
		{"Release", func(t *testing.T, s store.Store) {
			now := at(time.Minute)
			past := insertJob(t, s, base(), params("k", held()))
			future := insertJob(t, s, base(), params("k", held(), withRunAt(at(time.Hour))))
			tr, err := s.Release(t.Context(), past.ID, now)
			if err != nil || tr.From != store.StateReady || tr.Job.State != store.StateQueued {
				t.Fatalf("release = %+v, %v; want ready -> queued", tr, err)
			}
			sameTime(t, "released RunAt", get(t, s, past.ID).RunAt, now)
			tr, err = s.Release(t.Context(), future.ID, now)
			if err != nil || tr.Job.State != store.StateScheduled {
				t.Fatalf("release of a future job = %+v, %v; want scheduled", tr, err)
			}
			sameTime(t, "released future RunAt", get(t, s, future.ID).RunAt, at(time.Hour))
			for _, id := range []int64{past.ID, future.ID, finalJob(t, s, store.StateDone).ID} {
				_, err := s.Release(t.Context(), id, now)
				wantErr(t, "release of a job that is not ready", err, store.ErrConflict)
			}
			_, err = s.Release(t.Context(), 987654, now)
			wantErr(t, "release unknown", err, store.ErrNotFound)
		}},
		{"Delete", func(t *testing.T, s store.Store) {
			deletable := []*store.Job{
				insertJob(t, s, base(), params("k")),
				insertJob(t, s, base(), params("k", held())),
				finalJob(t, s, store.StateDone),
			}
			for _, j := range deletable {
				d, err := s.Delete(t.Context(), j.ID)
				if err != nil || d == nil || d.ID != j.ID {
					t.Fatalf("delete %d = %v, %v", j.ID, d, err)
				}
				if _, err := s.Get(t.Context(), j.ID); !isNotFound(err) {
					t.Errorf("Get after delete: %v, want ErrNotFound", err)
				}
			}
			running := insertJob(t, s, base(), params("k"))
			claimOne(t, s, base(), running.ID)
			_, err := s.Delete(t.Context(), running.ID)
			wantErr(t, "delete running", err, store.ErrConflict)
			wantState(t, s, running.ID, store.StateRunning)
			_, err = s.Delete(t.Context(), deletable[0].ID)
			wantErr(t, "delete twice", err, store.ErrNotFound)
			// Ids are not reused, not even the highest one after its delete.
			last := insertJob(t, s, base(), params("k"))
			if _, err := s.Delete(t.Context(), last.ID); err != nil {
				t.Fatal(err)
			}
			if j := insertJob(t, s, base(), params("k")); j.ID <= last.ID {
				t.Errorf("new job id %d after deleting job %d: ids are reused", j.ID, last.ID)
			}
		}},
	}
}
