package storetest

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

func queueTests() []test {
	return []test{
		{"UpdateQueue", func(t *testing.T, s store.Store) {
			q, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "q", Paused: ptr(true), Now: base()})
			if err != nil {
				t.Fatal(err)
			}
			if q.Name != "q" || !q.Paused || q.MaxSize != 0 || q.UrgentPriority != -1 {
				t.Errorf("new queue %+v; want paused, no cap, no urgent priority", q)
			}
			sameTime(t, "UpdatedAt", q.UpdatedAt, base())
			q, err = s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "q", MaxSize: ptr(10), UrgentPriority: ptr(3), Now: at(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if !q.Paused || q.MaxSize != 10 || q.UrgentPriority != 3 {
				t.Errorf("updated queue %+v; want still paused, cap 10, urgent 3", q)
			}
			sameTime(t, "UpdatedAt", q.UpdatedAt, at(time.Minute))
			q, err = s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "q", Paused: ptr(false), Now: at(2 * time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if q.Paused || q.MaxSize != 10 || q.UrgentPriority != 3 {
				t.Errorf("resumed queue %+v", q)
			}
		}},
		{"List", func(t *testing.T, s store.Store) {
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "settings-only", Paused: ptr(true), MaxSize: ptr(5), Now: base()}); err != nil {
				t.Fatal(err)
			}
			jo := inQueue("jobs-only")
			insertJob(t, s, at(2*time.Minute), params("k", jo))
			insertJob(t, s, at(time.Minute), params("k", jo, withPriority(500)))
			insertJob(t, s, base(), params("k", jo, withRunAt(at(time.Hour))))
			running := insertJob(t, s, base(), params("k", jo, withPriority(0)))
			cp := claimParams(at(3*time.Minute), 1)
			cp.Queue = "jobs-only"
			if got := claim(t, s, cp); len(got) != 1 || got[0].ID != running.ID {
				t.Fatalf("claimed %v", ids(got))
			}
			insertJob(t, s, base(), params("k"))

			qs, err := s.Queues(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, len(qs))
			for i, q := range qs {
				names[i] = q.Name
			}
			if want := []string{store.DefaultQueue, "jobs-only", "settings-only"}; !slices.Equal(names, want) {
				t.Fatalf("Queues = %v, want %v", names, want)
			}
			def, jobsOnly, settings := qs[0], qs[1], qs[2]
			if !maps.Equal(def.Counts, map[store.State]int64{store.StateQueued: 1}) {
				t.Errorf("default counts %v", def.Counts)
			}
			if jobsOnly.Paused || jobsOnly.MaxSize != 0 || jobsOnly.UrgentPriority != -1 {
				t.Errorf("a queue without settings: %+v; want the defaults", jobsOnly)
			}
			wantCounts := map[store.State]int64{store.StateQueued: 2, store.StateScheduled: 1, store.StateRunning: 1}
			if !maps.Equal(jobsOnly.Counts, wantCounts) {
				t.Errorf("jobs-only counts %v, want %v", jobsOnly.Counts, wantCounts)
			}
			sameTime(t, "OldestQueuedAt", jobsOnly.OldestQueuedAt, at(time.Minute))
			if !settings.Paused || settings.MaxSize != 5 || len(settings.Counts) != 0 || !settings.OldestQueuedAt.IsZero() {
				t.Errorf("settings-only queue %+v", settings)
			}
		}},
	}
}

// waitNotice reads ch until a notice matches, failing after noticeTimeout.
func waitNotice(t *testing.T, ch <-chan store.Notice, what string, match func(store.Notice) bool) store.Notice {
	t.Helper()
	deadline := time.NewTimer(noticeTimeout)
	defer deadline.Stop()
	for {
		select {
		case n, ok := <-ch:
			if !ok {
				t.Fatalf("waiting for %s: channel closed", what)
			}
			if match(n) {
				return n
			}
		case <-deadline.C:
			t.Fatalf("no %s within %v", what, noticeTimeout)
		}
	}
}

func noticeTests() []test {
	return []test{
		{"Queued", func(t *testing.T, s store.Store) {
			ch := s.Subscribe(t.Context())
			insertJob(t, s, base(), params("k", inQueue("q1")))
			waitNotice(t, ch, "NoticeQueued for q1", func(n store.Notice) bool {
				return n.Type == store.NoticeQueued && n.Queue == "q1"
			})
		}},
		{"Scheduled", func(t *testing.T, s store.Store) {
			ch := s.Subscribe(t.Context())
			insertJob(t, s, base(), params("k", withRunAt(at(time.Hour))))
			waitNotice(t, ch, "NoticeScheduled", func(n store.Notice) bool {
				return n.Type == store.NoticeScheduled && n.RunAt.Equal(at(time.Hour))
			})
			// A failed attempt waiting to be retried.
			j := insertJob(t, s, base(), params("k"))
			claimOne(t, s, base(), j.ID)
			ch2 := s.Subscribe(t.Context())
			finish(t, s, store.FinishParams{ID: j.ID, Attempt: 1, State: store.StateRetrying, RunAt: at(time.Minute), Now: base()})
			waitNotice(t, ch2, "NoticeScheduled for a retry", func(n store.Notice) bool {
				return n.Type == store.NoticeScheduled && n.RunAt.Equal(at(time.Minute))
			})
		}},
		{"Promoted", func(t *testing.T, s store.Store) {
			insertJob(t, s, base(), params("k", inQueue("later"), withRunAt(at(time.Minute))))
			ch := s.Subscribe(t.Context())
			if tr, _, err := s.Promote(t.Context(), at(time.Hour), 10); err != nil || len(tr) != 1 {
				t.Fatalf("Promote = %v, %v", tr, err)
			}
			waitNotice(t, ch, "NoticeQueued after promote", func(n store.Notice) bool {
				return n.Type == store.NoticeQueued && n.Queue == "later"
			})
		}},
		{"Cancel", func(t *testing.T, s store.Store) {
			j := insertJob(t, s, base(), params("k"))
			claimOne(t, s, base(), j.ID)
			ch := s.Subscribe(t.Context())
			if _, err := s.Cancel(t.Context(), store.CancelParams{ID: j.ID, Now: at(time.Second)}); err != nil {
				t.Fatal(err)
			}
			waitNotice(t, ch, "NoticeCancel", func(n store.Notice) bool {
				return n.Type == store.NoticeCancel && slices.Contains(n.JobIDs, j.ID)
			})
		}},
		{"QueueChanged", func(t *testing.T, s store.Store) {
			ch := s.Subscribe(t.Context())
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "q", Paused: ptr(true), Now: base()}); err != nil {
				t.Fatal(err)
			}
			waitNotice(t, ch, "NoticeQueueChanged", func(n store.Notice) bool {
				return n.Type == store.NoticeQueueChanged && n.Queue == "q"
			})
		}},
		{"ClosesWithContext", func(t *testing.T, s store.Store) {
			ctx, cancel := context.WithCancel(t.Context())
			ch := s.Subscribe(ctx)
			cancel()
			deadline := time.NewTimer(noticeTimeout)
			defer deadline.Stop()
			for {
				select {
				case _, ok := <-ch:
					if !ok {
						return
					}
				case <-deadline.C:
					t.Fatal("the channel is still open after its context ended")
				}
			}
		}},
	}
}

func concurrencyTests() []test {
	return []test{
		{"SameKey", func(t *testing.T, s store.Store) {
			const n = 16
			results := make([]store.InsertResult, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					res, err := s.Insert(t.Context(), base(), []store.InsertParams{params("k", withKey("same", store.OnConflictReturn))})
					errs[i] = err
					if err == nil {
						results[i] = res[0]
					}
				})
			}
			close(start)
			wg.Wait()
			fresh := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("insert %d: %v", i, errs[i])
				}
				if !results[i].Duplicate {
					fresh++
				}
				if results[i].Job.ID != results[0].Job.ID {
					t.Errorf("insert %d returned job %d, insert 0 job %d", i, results[i].Job.ID, results[0].Job.ID)
				}
			}
			if fresh != 1 {
				t.Errorf("%d inserts made a new job, want 1", fresh)
			}
			page, err := s.List(t.Context(), store.ListParams{Key: "same"})
			if err != nil || len(page.Jobs) != 1 {
				t.Errorf("%d jobs with the key (%v), want 1", len(page.Jobs), err)
			}
		}},
		{"Claimers", func(t *testing.T, s store.Store) {
			const jobs, claimers = 2000, 8
			var all []int64
			for range jobs / 1000 {
				all = append(all, ids(insertN(t, s, base(), 1000, func(int) store.InsertParams { return params("k") }))...)
			}
			claimed := make([][]int64, claimers)
			errs := make([]error, claimers)
			var wg sync.WaitGroup
			for c := range claimers {
				wg.Go(func() {
					cp := claimParams(at(time.Second), 25)
					cp.Node = "node-" + string(rune('a'+c))
					for {
						res, err := s.Claim(t.Context(), cp)
						got := res.Jobs
						if err != nil {
							errs[c] = err
							return
						}
						if len(got) == 0 {
							return
						}
						claimed[c] = append(claimed[c], ids(got)...)
					}
				})
			}
			wg.Wait()
			seen := make(map[int64]int)
			for c := range claimers {
				if errs[c] != nil {
					t.Fatalf("claimer %d: %v", c, errs[c])
				}
				for _, id := range claimed[c] {
					seen[id]++
				}
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("job %d claimed %d times", id, n)
				}
			}
			if len(seen) != len(all) {
				t.Errorf("claimed %d distinct jobs of %d", len(seen), len(all))
			}
			counts, err := s.Counts(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(counts) != 1 || counts[0].State != store.StateRunning || counts[0].N != jobs {
				t.Errorf("Counts after claiming all = %+v; want %d running", counts, jobs)
			}
		}},
	}
}
