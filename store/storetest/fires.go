package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// fireTests cover FireSchedules: each fire of a call applies or not on its
// own (compare-and-set lost, job key already held, queue full), and a
// fire time is inserted once however many callers fire at once.
func fireTests() []test {
	return []test{
		{"BatchOutcomes", func(t *testing.T, s store.Store) {
			f1, f2 := at(time.Minute), at(2*time.Minute)
			for _, k := range []string{"won", "stale", "dup", "skip", "twin1", "twin2"} {
				upsert(t, s, sched(k, f1), at(0))
			}
			// An active job already holds the key of dup's fire at f1.
			held, err := s.Insert(t.Context(), at(0), []store.InsertParams{*fireJob("dup", f1)})
			if err != nil {
				t.Fatal(err)
			}
			// twin1 and twin2 fire jobs of one key: the first inserts it.
			twin := fireJob("twin", f1)
			fire := func(key string, expected time.Time, job *store.InsertParams, outcome string) store.FireParams {
				return store.FireParams{Key: key, Expected: expected, Next: f2, FireTime: f1, Outcome: outcome, Job: job,
					Now: at(time.Minute + time.Second)}
			}
			res, err := s.FireSchedules(t.Context(), []store.FireParams{
				fire("won", f1, fireJob("won", f1), store.FireOutcomeFired),
				fire("stale", at(30*time.Second), fireJob("stale", at(30*time.Second)), store.FireOutcomeFired),
				fire("dup", f1, fireJob("dup", f1), store.FireOutcomeFired),
				fire("skip", f1, nil, store.FireOutcomeSkipCondition),
				fire("twin1", f1, twin, store.FireOutcomeFired),
				fire("twin2", f1, twin, store.FireOutcomeFired),
			})
			if err != nil || len(res) != 6 {
				t.Fatalf("FireSchedules: %d results, %v", len(res), err)
			}
			won, stale, dup, skip, twin1, twin2 := res[0], res[1], res[2], res[3], res[4], res[5]
			if !won.Applied || won.Duplicate || won.Err != nil || won.Job == nil || won.Job.Key != store.FireJobKey("won", f1) ||
				won.Job.ID == 0 {
				t.Errorf("won: %+v; want applied with a new job", won)
			}
			if stale.Applied || stale.Job != nil || stale.Err != nil {
				t.Errorf("stale: %+v; want not applied (compare-and-set lost), no error", stale)
			}
			if !dup.Applied || !dup.Duplicate || dup.Job == nil || dup.Job.ID != held[0].Job.ID {
				t.Errorf("dup: %+v; want applied, duplicate of job %d", dup, held[0].Job.ID)
			}
			if !skip.Applied || skip.Job != nil {
				t.Errorf("skip: %+v; want applied without a job", skip)
			}
			if !twin1.Applied || twin1.Duplicate || twin1.Job == nil || !twin2.Applied || !twin2.Duplicate ||
				twin2.Job == nil || twin2.Job.ID != twin1.Job.ID {
				t.Errorf("twins: %+v, %+v; want the second a duplicate of the first's job", twin1, twin2)
			}
			for _, c := range []struct {
				key     string
				next    time.Time
				outcome string
				job     int64
			}{
				{"won", f2, store.FireOutcomeFired, won.Job.ID},
				{"stale", f1, "", 0},
				{"dup", f2, store.FireOutcomeFired, held[0].Job.ID},
				{"skip", f2, store.FireOutcomeSkipCondition, 0},
				{"twin2", f2, store.FireOutcomeFired, twin1.Job.ID},
			} {
				got, err := s.GetSchedule(t.Context(), c.key)
				if err != nil {
					t.Fatal(err)
				}
				sameTime(t, c.key+" next fire", got.NextFire, c.next)
				if got.LastOutcome != c.outcome || got.LastJobID != c.job {
					t.Errorf("%s: last outcome %q, job %d; want %q, %d", c.key, got.LastOutcome, got.LastJobID, c.outcome, c.job)
				}
			}
			page, err := s.List(t.Context(), store.ListParams{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Jobs) != 3 { // held, won's and the twins'
				t.Errorf("%d jobs, want 3", len(page.Jobs))
			}
		}},
		{"BatchQueueFullIsPerFire", func(t *testing.T, s store.Store) {
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "small", MaxSize: ptr(1), Now: base()}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Insert(t.Context(), at(0), []store.InsertParams{params("report", inQueue("small"))}); err != nil {
				t.Fatal(err)
			}
			f1, f2 := at(time.Minute), at(2*time.Minute)
			upsert(t, s, sched("full", f1), at(0))
			upsert(t, s, sched("fine", f1), at(0))
			full := fireJob("full", f1)
			full.Queue = "small"
			res, err := s.FireSchedules(t.Context(), []store.FireParams{
				{Key: "full", Expected: f1, Next: f2, FireTime: f1, Outcome: store.FireOutcomeFired, Job: full, Now: f1},
				{Key: "fine", Expected: f1, Next: f2, FireTime: f1, Outcome: store.FireOutcomeFired, Job: fireJob("fine", f1), Now: f1},
			})
			if err != nil {
				t.Fatalf("FireSchedules: %v", err)
			}
			wantErr(t, "fire into a full queue", res[0].Err, store.ErrQueueFull)
			if res[0].Applied || res[0].Job != nil {
				t.Errorf("full: %+v; want nothing applied", res[0])
			}
			if !res[1].Applied || res[1].Job == nil {
				t.Errorf("fine: %+v; want applied", res[1])
			}
			got, _ := s.GetSchedule(t.Context(), "full")
			sameTime(t, "next fire of the refused fire", got.NextFire, f1)
			if got.LastOutcome != "" || got.LastJobID != 0 {
				t.Errorf("refused fire changed its schedule: %+v", got)
			}
			page, _ := s.List(t.Context(), store.ListParams{Queues: []string{"small"}})
			if len(page.Jobs) != 1 {
				t.Errorf("%d jobs in the full queue, want 1", len(page.Jobs))
			}
			// Fired alone, into the still full queue: refused the same way.
			_, err = fireSchedule(t.Context(), s, store.FireParams{Key: "full", Expected: f1, Next: f2, FireTime: f1,
				Job: full, Now: f1})
			wantErr(t, "a lone fire into a full queue", err, store.ErrQueueFull)
		}},
		{"BatchRepeatedScheduleRefused", func(t *testing.T, s store.Store) {
			f1 := at(time.Minute)
			upsert(t, s, sched("a", f1), at(0))
			p := store.FireParams{Key: "a", Expected: f1, Next: at(2 * time.Minute), FireTime: f1, Job: fireJob("a", f1), Now: f1}
			res, err := s.FireSchedules(t.Context(), []store.FireParams{p, p})
			wantErr(t, "a schedule twice in one call", err, store.ErrInvalidFires)
			if res != nil {
				t.Errorf("results %+v, want none", res)
			}
			got, _ := s.GetSchedule(t.Context(), "a")
			sameTime(t, "next fire", got.NextFire, f1)
			if page, _ := s.List(t.Context(), store.ListParams{}); len(page.Jobs) != 0 {
				t.Errorf("%d jobs, want 0", len(page.Jobs))
			}
			if res, err := s.FireSchedules(t.Context(), nil); err != nil || len(res) != 0 {
				t.Errorf("no fires: %v, %v", res, err)
			}
		}},
		{"BatchConcurrentExactlyOnce", func(t *testing.T, s store.Store) {
			// Several firers fire the same schedules in batches (in
			// different orders), as overlapping leaders would: each fire
			// time makes one job.
			const (
				firers    = 4
				schedules = 20
				fires     = 5
			)
			keys := make([]string, schedules)
			for i := range keys {
				keys[i] = fmt.Sprintf("s%02d", i)
				upsert(t, s, sched(keys[i], at(time.Second)), at(0))
			}
			var wg sync.WaitGroup
			errs := make(chan error, firers)
			for f := range firers {
				wg.Go(func() {
					for {
						var ps []store.FireParams
						for i := range keys {
							k := keys[(i*(f+1))%schedules] // each firer its own order
							if f%2 == 1 {
								k = keys[schedules-1-i]
							}
							sc, err := s.GetSchedule(t.Context(), k)
							if err != nil {
								errs <- err
								return
							}
							ft := sc.NextFire
							if ft.After(at(fires * time.Second)) {
								continue
							}
							if !containsKey(ps, k) {
								ps = append(ps, store.FireParams{Key: k, Expected: ft, Next: ft.Add(time.Second), FireTime: ft,
									Outcome: store.FireOutcomeFired, Job: fireJob(k, ft), Now: ft})
							}
						}
						if len(ps) == 0 {
							return
						}
						if _, err := s.FireSchedules(t.Context(), ps); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("firer: %v", err)
			}
			page, err := s.List(t.Context(), store.ListParams{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			seen := make(map[string]int)
			for _, j := range page.Jobs {
				seen[j.Key]++
			}
			if len(page.Jobs) != schedules*fires || len(seen) != schedules*fires {
				t.Errorf("%d jobs with %d distinct keys, want %d each", len(page.Jobs), len(seen), schedules*fires)
			}
		}},
	}
}

// containsKey reports whether ps has a fire of schedule key.
func containsKey(ps []store.FireParams, key string) bool {
	for _, p := range ps {
		if p.Key == key {
			return true
		}
	}
	return false
}

// fireSchedule records one fire with FireSchedules and returns its result,
// or its per-fire error (such as ErrQueueFull) as the error.
func fireSchedule(ctx context.Context, s store.Store, p store.FireParams) (store.FireResult, error) {
	res, err := s.FireSchedules(ctx, []store.FireParams{p})
	if err != nil {
		return store.FireResult{}, err
	}
	if res[0].Err != nil {
		return store.FireResult{}, res[0].Err
	}
	return res[0], nil
}
