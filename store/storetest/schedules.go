package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// sched returns a valid schedule of key firing first at next.
func sched(key string, next time.Time) store.Schedule {
	return store.Schedule{
		Key: key, Kind: "report", Queue: store.DefaultQueue, Args: json.RawMessage(`{"a":1}`),
		Priority: store.DefaultPriority, Metadata: map[string]string{"team": "x"},
		Spec: "every 1 minute", Zone: "Europe/Amsterdam", Jitter: 2 * time.Second, Enabled: true,
		Misfire: store.MisfireOnce, MisfireCap: 10, MisfireGrace: time.Minute, Overlap: store.OverlapAllow,
		Condition: "signal 'x' >= 1 within 1h", NextFire: next,
	}
}

// upsert calls UpsertSchedule and fails the test on error.
func upsert(t *testing.T, s store.Store, sc store.Schedule, now time.Time) *store.Schedule {
	t.Helper()
	got, err := s.UpsertSchedule(t.Context(), sc, now)
	if err != nil {
		t.Fatalf("UpsertSchedule(%s): %v", sc.Key, err)
	}
	return got
}

// fireJob is the job of the fire of key at ft.
func fireJob(key string, ft time.Time) *store.InsertParams {
	p := params("report", withKey(store.FireJobKey(key, ft), store.OnConflictReturn))
	return &p
}

func scheduleTests() []test {
	return []test{
		{"RoundTrip", func(t *testing.T, s store.Store) {
			next := at(time.Minute).Truncate(time.Second)
			want := sched("a", next)
			got := upsert(t, s, want, at(0))
			read, err := s.GetSchedule(t.Context(), "a")
			if err != nil {
				t.Fatalf("GetSchedule: %v", err)
			}
			for _, g := range []*store.Schedule{got, read} {
				if g.Key != "a" || g.Kind != want.Kind || g.Queue != want.Queue || !jsonEqual(g.Args, want.Args) ||
					g.Priority != want.Priority || g.Metadata["team"] != "x" || g.Spec != want.Spec || g.Zone != want.Zone ||
					g.Jitter != want.Jitter || !g.Enabled || g.Misfire != want.Misfire || g.MisfireCap != 10 ||
					g.MisfireGrace != time.Minute || g.Overlap != want.Overlap || g.Condition != want.Condition {
					t.Errorf("schedule %+v, want %+v", g, want)
				}
				sameTime(t, "next fire", g.NextFire, next)
				sameTime(t, "created at", g.CreatedAt, at(0))
				if !g.LastFire.IsZero() {
					t.Errorf("last fire %v, want zero", g.LastFire)
				}
			}
			if _, err := s.GetSchedule(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetSchedule(nope): %v, want ErrNotFound", err)
			}
		}},
		{"CreateIsOnlyOnce", func(t *testing.T, s store.Store) {
			// Many callers create one key at once: one wins, the others get
			// ErrDuplicate, and the winner's schedule stands.
			const callers = 8
			var wg sync.WaitGroup
			wins := make(chan int, callers)
			errs := make(chan error, callers)
			for i := range callers {
				wg.Go(func() {
					sc := sched("once", at(time.Minute))
					sc.Priority = 10 + i
					_, err := s.CreateSchedule(t.Context(), sc, at(0))
					switch {
					case err == nil:
						wins <- 10 + i
					case errors.Is(err, store.ErrDuplicate):
					default:
						errs <- err
					}
				})
			}
			wg.Wait()
			close(wins)
			close(errs)
			for err := range errs {
				t.Errorf("CreateSchedule: %v", err)
			}
			var won []int
			for p := range wins {
				won = append(won, p)
			}
			if len(won) != 1 {
				t.Fatalf("%d creates of one key succeeded, want 1", len(won))
			}
			got, err := s.GetSchedule(t.Context(), "once")
			if err != nil || got.Priority != won[0] {
				t.Errorf("stored schedule %+v, %v; want the winner's (priority %d)", got, err, won[0])
			}
			// A later create changes nothing either.
			late := sched("once", at(time.Hour))
			late.Priority = 99
			if _, err := s.CreateSchedule(t.Context(), late, at(time.Second)); !errors.Is(err, store.ErrDuplicate) {
				t.Errorf("create of an existing key: %v, want ErrDuplicate", err)
			}
			if got, err := s.GetSchedule(t.Context(), "once"); err != nil || got.Priority != won[0] {
				t.Errorf("after a refused create: %+v, %v", got, err)
			}
		}},
		{"UpsertKeepsNextFire", func(t *testing.T, s store.Store) {
			n1, n2 := at(time.Minute), at(time.Hour)
			upsert(t, s, sched("a", n1), at(0))
			same := sched("a", n2)
			same.Priority = 7
			got := upsert(t, s, same, at(time.Second))
			sameTime(t, "next fire after re-declaring the same spec", got.NextFire, n1)
			sameTime(t, "created at", got.CreatedAt, at(0))
			sameTime(t, "updated at", got.UpdatedAt, at(time.Second))
			if got.Priority != 7 {
				t.Errorf("priority %d, want 7", got.Priority)
			}
			changed := sched("a", n2)
			changed.Spec = "every 2 minutes"
			got = upsert(t, s, changed, at(2*time.Second))
			sameTime(t, "next fire after a spec change", got.NextFire, n2)
			never := sched("a", time.Time{})
			never.Spec = "once at 2000-01-01T00:00:00Z"
			got = upsert(t, s, never, at(3*time.Second))
			if !got.NextFire.IsZero() {
				t.Errorf("next fire %v, want zero (never)", got.NextFire)
			}
		}},
		{"ListAndPages", func(t *testing.T, s store.Store) {
			for i := range 5 {
				sc := sched(fmt.Sprintf("k%d", i), at(time.Minute))
				if i%2 == 1 {
					sc.Kind = "other"
					sc.Enabled = false
				}
				upsert(t, s, sc, at(0))
			}
			var keys []string
			after := ""
			for pages := 0; ; pages++ {
				page, err := s.ListSchedules(t.Context(), store.ScheduleListParams{AfterKey: after, Limit: 2})
				if err != nil {
					t.Fatalf("ListSchedules: %v", err)
				}
				for _, sc := range page.Schedules {
					keys = append(keys, sc.Key)
				}
				if page.NextAfterKey == "" {
					break
				}
				after = page.NextAfterKey
				if pages > 5 {
					t.Fatal("paging does not end")
				}
			}
			if fmt.Sprint(keys) != "[k0 k1 k2 k3 k4]" {
				t.Errorf("pages gave %v", keys)
			}
			off := false
			page, err := s.ListSchedules(t.Context(), store.ScheduleListParams{Kind: "other", Enabled: &off})
			if err != nil || len(page.Schedules) != 2 || page.Schedules[0].Key != "k1" {
				t.Errorf("filtered list: %+v, %v; want k1, k3", page.Schedules, err)
			}
		}},
		{"EnableDisableDelete", func(t *testing.T, s store.Store) {
			upsert(t, s, sched("a", at(time.Minute)), at(0))
			got, err := s.SetScheduleEnabled(t.Context(), "a", false, "kind gone", time.Time{}, at(time.Second))
			if err != nil || got.Enabled || got.DisabledReason != "kind gone" {
				t.Fatalf("disable: %+v, %v", got, err)
			}
			if due, _, err := s.DueSchedules(t.Context(), at(time.Hour), 10); err != nil || len(due) != 0 {
				t.Errorf("due while disabled: %v, %v", due, err)
			}
			got, err = s.SetScheduleEnabled(t.Context(), "a", true, "ignored", at(2*time.Minute), at(2*time.Second))
			if err != nil || !got.Enabled || got.DisabledReason != "" {
				t.Fatalf("enable: %+v, %v", got, err)
			}
			sameTime(t, "next fire after enable", got.NextFire, at(2*time.Minute))
			if err := s.DeleteSchedule(t.Context(), "a", at(3*time.Second)); err != nil {
				t.Fatalf("DeleteSchedule: %v", err)
			}
			wantErr(t, "delete again", s.DeleteSchedule(t.Context(), "a", at(3*time.Second)), store.ErrNotFound)
			_, err = s.SetScheduleEnabled(t.Context(), "a", true, "", at(0), at(0))
			wantErr(t, "enable deleted", err, store.ErrNotFound)
		}},
		{"UpsertKeepsDisabledReason", testUpsertDisabledReason},
		{"TakeBackFiresWrittenAhead", testTakeBack},
		{"FireRefusedAfterChange", func(t *testing.T, s store.Store) {
			// A fire decided from a read of the schedule does not apply once
			// the schedule changed since, even when its next fire did not.
			f1 := at(time.Hour).Truncate(time.Second)
			read := upsert(t, s, sched("a", f1), at(0))
			changed := sched("a", f1)
			changed.Args = json.RawMessage(`{"a":2}`)
			now := upsert(t, s, changed, at(time.Second))
			if now.UpdatedAt.Equal(read.UpdatedAt) || !now.NextFire.Equal(f1) {
				t.Fatalf("update: updated %v (was %v), next %v", now.UpdatedAt, read.UpdatedAt, now.NextFire)
			}
			fp := store.FireParams{Key: "a", Expected: f1, Updated: read.UpdatedAt, Next: f1.Add(time.Minute), FireTime: f1,
				Outcome: store.FireOutcomeFired, Job: fireJob("a", f1), Now: f1}
			if res, err := fireSchedule(t.Context(), s, fp); err != nil || res.Applied || res.Job != nil {
				t.Fatalf("fire decided before the update: %+v, %v; want not applied", res, err)
			}
			fp.Updated = now.UpdatedAt
			res, err := fireSchedule(t.Context(), s, fp)
			if err != nil || !res.Applied {
				t.Fatalf("fire decided after the update: %+v, %v", res, err)
			}
			// The fire leaves UpdatedAt as it was: the next fire's read still holds.
			got, err := s.GetSchedule(t.Context(), "a")
			if err != nil || !got.UpdatedAt.Equal(now.UpdatedAt) {
				t.Errorf("after a fire: %+v, %v; want updated_at %v unchanged", got, err, now.UpdatedAt)
			}
		}},
		{"Due", func(t *testing.T, s store.Store) {
			upsert(t, s, sched("late", at(3*time.Minute)), at(0))
			upsert(t, s, sched("b", at(time.Minute)), at(0))
			upsert(t, s, sched("a", at(time.Minute)), at(0))
			upsert(t, s, sched("c", at(2*time.Minute)), at(0))
			due, next, err := s.DueSchedules(t.Context(), at(2*time.Minute), 10)
			if err != nil {
				t.Fatalf("DueSchedules: %v", err)
			}
			var keys []string
			for _, d := range due {
				keys = append(keys, d.Key)
			}
			if fmt.Sprint(keys) != "[a b c]" {
				t.Errorf("due %v, want [a b c]", keys)
			}
			sameTime(t, "next", next, at(3*time.Minute))
			due, next, err = s.DueSchedules(t.Context(), at(2*time.Minute), 2)
			if err != nil || len(due) != 2 {
				t.Fatalf("limited: %d due, %v", len(due), err)
			}
			sameTime(t, "next of a limited batch", next, at(2*time.Minute))
		}},
		{"FireCompareAndSet", func(t *testing.T, s store.Store) {
			f1, f2 := at(time.Minute), at(2*time.Minute)
			upsert(t, s, sched("a", f1), at(0))
			fp := store.FireParams{Key: "a", Expected: f1, Next: f2, FireTime: f1, Outcome: store.FireOutcomeFired,
				Job: fireJob("a", f1), Now: at(time.Minute)}
			res, err := fireSchedule(t.Context(), s, fp)
			if err != nil || !res.Applied || res.Job == nil {
				t.Fatalf("fire: %+v, %v", res, err)
			}
			if res.Job.Key != store.FireJobKey("a", f1) {
				t.Errorf("job key %q", res.Job.Key)
			}
			again, err := fireSchedule(t.Context(), s, fp)
			if err != nil || again.Applied || again.Job != nil {
				t.Fatalf("second fire of the same time: %+v, %v; want not applied", again, err)
			}
			got, _ := s.GetSchedule(t.Context(), "a")
			sameTime(t, "next fire", got.NextFire, f2)
			sameTime(t, "last fire", got.LastFire, f1)
			if got.LastOutcome != store.FireOutcomeFired || got.LastJobID != res.Job.ID {
				t.Errorf("last outcome %q job %d, want fired %d", got.LastOutcome, got.LastJobID, res.Job.ID)
			}
			page, _ := s.List(t.Context(), store.ListParams{Kinds: []string{"report"}})
			if len(page.Jobs) != 1 {
				t.Errorf("%d jobs, want 1", len(page.Jobs))
			}
			// A fire without a job (skipped) moves on and keeps the last job.
			res, err = fireSchedule(t.Context(), s, store.FireParams{Key: "a", Expected: f2, Next: time.Time{}, FireTime: f2,
				Outcome: store.FireOutcomeSkipCondition, Disable: "done", Now: at(2 * time.Minute)})
			if err != nil || !res.Applied {
				t.Fatalf("skip: %+v, %v", res, err)
			}
			got, _ = s.GetSchedule(t.Context(), "a")
			if got.LastOutcome != store.FireOutcomeSkipCondition || got.LastJobID == 0 || !got.NextFire.IsZero() ||
				got.Enabled || got.DisabledReason != "done" {
				t.Errorf("after skip: %+v", got)
			}
		}},
		{"FireLostRollsBackJob", func(t *testing.T, s store.Store) {
			upsert(t, s, sched("a", at(time.Minute)), at(0))
			res, err := fireSchedule(t.Context(), s, store.FireParams{Key: "a", Expected: at(time.Hour), Next: at(2 * time.Hour),
				FireTime: at(time.Hour), Outcome: store.FireOutcomeFired, Job: fireJob("a", at(time.Hour)), Now: at(time.Hour)})
			if err != nil || res.Applied {
				t.Fatalf("stale fire: %+v, %v; want not applied", res, err)
			}
			page, _ := s.List(t.Context(), store.ListParams{})
			if len(page.Jobs) != 0 {
				t.Errorf("a lost fire left %d jobs", len(page.Jobs))
			}
		}},
		{"ConcurrentFirersExactlyOnce", func(t *testing.T, s store.Store) {
			const (
				firers = 8
				fires  = 15
			)
			upsert(t, s, sched("a", at(time.Second)), at(0))
			var wg sync.WaitGroup
			errs := make(chan error, firers)
			for range firers {
				wg.Go(func() {
					for {
						sc, err := s.GetSchedule(t.Context(), "a")
						if err != nil {
							errs <- err
							return
						}
						ft := sc.NextFire
						if ft.IsZero() || ft.After(at(fires*time.Second)) {
							return
						}
						next := ft.Add(time.Second)
						if _, err := fireSchedule(t.Context(), s, store.FireParams{Key: "a", Expected: ft, Next: next,
							FireTime: ft, Outcome: store.FireOutcomeFired, Job: fireJob("a", ft), Now: ft}); err != nil {
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
			if len(page.Jobs) != fires || len(seen) != fires {
				t.Errorf("%d jobs with %d distinct keys, want %d each: %v", len(page.Jobs), len(seen), fires, seen)
			}
			// Even after the jobs are final (keys free again), a fire time cannot come back.
			for _, j := range page.Jobs {
				if _, err := s.Delete(t.Context(), j.ID); err != nil {
					t.Fatal(err)
				}
			}
			res, err := fireSchedule(t.Context(), s, store.FireParams{Key: "a", Expected: at(time.Second), Next: at(2 * time.Second),
				FireTime: at(time.Second), Job: fireJob("a", at(time.Second)), Now: at(time.Hour)})
			if err != nil || res.Applied {
				t.Errorf("refire of a past time: %+v, %v", res, err)
			}
		}},
		{"PendingQueueOne", func(t *testing.T, s store.Store) {
			f1, f2, f3 := at(time.Minute), at(2*time.Minute), at(3*time.Minute)
			upsert(t, s, sched("a", f1), at(0))
			r1, err := fireSchedule(t.Context(), s, store.FireParams{Key: "a", Expected: f1, Next: f2, FireTime: f1,
				Job: fireJob("a", f1), Now: f1})
			if err != nil || !r1.Applied {
				t.Fatal(r1, err)
			}
			j2 := fireJob("a", f2)
			j2.Hold = true
			r2, err := fireSchedule(t.Context(), s, store.FireParams{Key: "a", Expected: f2, Next: f3, FireTime: f2,
				Outcome: store.FireOutcomeHeld, Job: j2, Now: f2})
			if err != nil || !r2.Applied || r2.Job.State != store.StateReady {
				t.Fatalf("held fire: %+v, %v", r2, err)
			}
			got, _ := s.GetSchedule(t.Context(), "a")
			if got.LastJobID != r1.Job.ID || got.PendingJobID != r2.Job.ID {
				t.Fatalf("last %d pending %d, want %d %d", got.LastJobID, got.PendingJobID, r1.Job.ID, r2.Job.ID)
			}
			page, _ := s.ListSchedules(t.Context(), store.ScheduleListParams{Pending: true})
			if len(page.Schedules) != 1 {
				t.Errorf("pending list: %d", len(page.Schedules))
			}
			if err := s.SettlePending(t.Context(), "a", r2.Job.ID, f3); err != nil {
				t.Fatal(err)
			}
			got, _ = s.GetSchedule(t.Context(), "a")
			if got.LastJobID != r2.Job.ID || got.PendingJobID != 0 {
				t.Errorf("after settle: last %d pending %d", got.LastJobID, got.PendingJobID)
			}
		}},
		{"Signals", func(t *testing.T, s store.Store) {
			for i, d := range []time.Duration{0, 10 * time.Second, 2 * time.Minute, time.Hour} {
				if err := s.Signal(t.Context(), "nodes.elf", int64(i+1), at(d)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Signal(t.Context(), "other", 100, at(0)); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				from, to time.Duration
				want     int64
			}{
				{-time.Minute, time.Minute, 3},
				{-time.Minute, 3 * time.Minute, 6},
				{-time.Hour, 2 * time.Hour, 10},
				{2 * time.Hour, 3 * time.Hour, 0},
			} {
				n, err := s.SignalCount(t.Context(), "nodes.elf", at(tc.from), at(tc.to))
				if err != nil || n != tc.want {
					t.Errorf("count [%v, %v): %d, %v; want %d", tc.from, tc.to, n, err, tc.want)
				}
			}
		}},
		{"ChangeNotice", func(t *testing.T, s store.Store) {
			ch := s.Subscribe(t.Context())
			upsert(t, s, sched("a", at(time.Minute)), at(0))
			waitNotice(t, ch, "NoticeScheduleChanged", func(n store.Notice) bool {
				return n.Type == store.NoticeScheduleChanged || n.Type == store.NoticeChanged
			})
		}},
	}
}

// testTakeBack: fire jobs written ahead of their fire time are taken back
// by a replace, a disable and a delete of their schedule while they are
// still scheduled and their fire time is after now; jobs of fires already
// due, jobs no longer scheduled and other schedules' jobs stay.
func testTakeBack(t *testing.T, s store.Store) {
	ctx := t.Context()
	f1 := at(time.Hour).Truncate(time.Second)
	f0, f2, f3 := f1.Add(-time.Minute), f1.Add(time.Minute), f1.Add(2*time.Minute)
	// fireAhead writes the fire of key at ft at now, scheduled for ft.
	fireAhead := func(key string, ft, next, now time.Time) *store.Job {
		t.Helper()
		job := fireJob(key, ft)
		job.RunAt = ft
		res, err := fireSchedule(ctx, s, store.FireParams{Key: key, Expected: ft, Next: next, FireTime: ft,
			Outcome: store.FireOutcomeFired, Job: job, Now: now})
		if err != nil || !res.Applied || res.Job == nil || res.Job.State != store.StateScheduled {
			t.Fatalf("fire %s at %v ahead: %+v, %v", key, ft, res, err)
		}
		return res.Job
	}
	// exists reports whether job id is still stored.
	exists := func(id int64) bool {
		t.Helper()
		_, err := s.Get(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(%d): %v", id, err)
		}
		return err == nil
	}
	wantJobs := func(what string, want map[int64]bool) {
		t.Helper()
		for id, w := range want {
			if got := exists(id); got != w {
				t.Errorf("%s: job %d exists %v, want %v", what, id, got, w)
			}
		}
	}
	a := sched("a", f0)
	a.Jitter, a.Condition = 0, ""
	upsert(t, s, a, at(0))
	ab := sched("a:b", f1) // its fire jobs' keys start with a's prefix
	ab.Jitter, ab.Condition = 0, ""
	upsert(t, s, ab, at(0))

	// f0 fired on time with its job held back by jitter (still scheduled);
	// f1 and f2 are written ahead, at f1 - 1s.
	jitter := fireJob("a", f0)
	jitter.RunAt = f1.Add(30 * time.Second)
	res, err := fireSchedule(ctx, s, store.FireParams{Key: "a", Expected: f0, Next: f1, FireTime: f0,
		Outcome: store.FireOutcomeFired, Job: jitter, Now: f0})
	if err != nil || !res.Applied {
		t.Fatalf("fire f0: %+v, %v", res, err)
	}
	j0 := res.Job
	early := f1.Add(-time.Second)
	j1 := fireAhead("a", f1, f2, early)
	j2 := fireAhead("a", f2, f3, early)
	jab := fireAhead("a:b", f1, f2, early)
	other := insertJob(t, s, at(0), params("report", withKey("sched:a:"+f2.Format(time.RFC3339)+"x", store.OnConflictReject),
		withRunAt(f3)))
	// A job of the user's whose key has a fire key's length but no time.
	notTime := insertJob(t, s, at(0), params("report", withKey("sched:a:99999999999999999999", store.OnConflictReject),
		withRunAt(f3)))

	// A replace half a second before f1 takes back f1 and f2, and moves
	// the kept next fire back to f1 so that the fire is written again.
	changed := a
	changed.Args = json.RawMessage(`{"a":2}`)
	got := upsert(t, s, changed, f1.Add(-500*time.Millisecond))
	sameTime(t, "next fire after a replace took back f1 and f2", got.NextFire, f1)
	wantJobs("after replace", map[int64]bool{j0.ID: true, j1.ID: false, j2.ID: false, jab.ID: true, other.ID: true,
		notTime.ID: true})
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	var scheduled int64
	for _, c := range counts {
		if c.Kind == "report" && c.State == store.StateScheduled {
			scheduled += c.N
		}
	}
	if scheduled != 4 { // j0, jab, other, notTime
		t.Errorf("%d scheduled report jobs counted after the take-back, want 4", scheduled)
	}

	// Written again (with the new args); f1 is then promoted (queued), and a
	// disable a little before f1 (another node's clock) takes back only f2.
	j1 = fireAhead("a", f1, f2, early)
	j2 = fireAhead("a", f2, f3, early)
	if _, _, err := s.Promote(ctx, f1, 1000); err != nil { // j1 and jab
		t.Fatalf("Promote: %v", err)
	}
	if _, err := s.SetScheduleEnabled(ctx, "a", false, "paused", time.Time{}, f1.Add(-200*time.Millisecond)); err != nil {
		t.Fatalf("disable: %v", err)
	}
	wantJobs("after disable", map[int64]bool{j1.ID: true, j2.ID: false})
	if got, err := s.GetSchedule(ctx, "a"); err != nil || got.LastOutcome != store.FireOutcomeTakenBack ||
		got.LastJobID != 0 || !got.LastFire.Equal(f2) {
		t.Errorf("after its last fire was taken back: %+v, %v; want outcome %q, no last job, last fire %v", got, err,
			store.FireOutcomeTakenBack, f2)
	}
	if j := get(t, s, j1.ID); j.State != store.StateQueued {
		t.Errorf("promoted fire job is %s, want queued", j.State)
	}

	// Disabling a:b takes back its f2 (jab, promoted, stays); enabling
	// takes nothing back; a delete at the fire time itself keeps that
	// fire's job (it is due) and takes back the later ones.
	jab2 := fireAhead("a:b", f2, f3, early)
	if _, err := s.SetScheduleEnabled(ctx, "a:b", false, "x", time.Time{}, early); err != nil {
		t.Fatalf("disable a:b: %v", err)
	}
	wantJobs("after disabling a:b", map[int64]bool{jab.ID: true, jab2.ID: false, j0.ID: true, other.ID: true})
	if _, err := s.SetScheduleEnabled(ctx, "a:b", true, "", f2, early); err != nil {
		t.Fatalf("enable a:b: %v", err)
	}
	jab2 = fireAhead("a:b", f2, f3, early)
	jab3 := fireAhead("a:b", f3, f3.Add(time.Minute), early)
	if err := s.DeleteSchedule(ctx, "a:b", f2); err != nil {
		t.Fatalf("DeleteSchedule: %v", err)
	}
	wantJobs("after deleting a:b at f2", map[int64]bool{jab.ID: true, jab2.ID: true, jab3.ID: false, j0.ID: true,
		other.ID: true})
	if err := s.DeleteSchedule(ctx, "a", f0); err != nil {
		t.Fatalf("DeleteSchedule(a): %v", err)
	}
	wantJobs("after deleting a", map[int64]bool{j0.ID: true, j1.ID: true, other.ID: true, notTime.ID: true})
}

// testUpsertDisabledReason: replacing a disabled schedule with one that is
// disabled too and gives no reason (as the rota package's UpdateSchedule
// does) keeps the stored reason; a reason given replaces it, and one that
// enables takes s's (none). The updated_at moves either way.
func testUpsertDisabledReason(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name string
		// stored: the reason the stored schedule was disabled with ("":
		// it is enabled).
		stored string
		// enabled and reason are those of the replacing schedule.
		enabled bool
		reason  string
		// want is the stored reason after the replace.
		want string
	}{
		{name: "disabled, new spec, no reason", stored: "maintenance", want: "maintenance"},
		{name: "disabled, new reason", stored: "maintenance", reason: "kind retired", want: "kind retired"},
		{name: "enabled again", stored: "maintenance", enabled: true, want: ""},
		{name: "disabled by the replace", stored: "", want: ""},
		{name: "disabled by the replace, with a reason", stored: "", reason: "paused", want: "paused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key := strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			upsert(t, s, sched(key, at(time.Minute)), at(0))
			if tc.stored != "" {
				if _, err := s.SetScheduleEnabled(t.Context(), key, false, tc.stored, time.Time{}, at(time.Second)); err != nil {
					t.Fatalf("disable: %v", err)
				}
			}
			sc := sched(key, at(2*time.Minute))
			sc.Spec, sc.Enabled, sc.DisabledReason = "every 5 seconds", tc.enabled, tc.reason
			got := upsert(t, s, sc, at(2*time.Second))
			read, err := s.GetSchedule(t.Context(), key)
			if err != nil {
				t.Fatalf("GetSchedule: %v", err)
			}
			for _, g := range []*store.Schedule{got, read} {
				if g.Enabled != tc.enabled || g.DisabledReason != tc.want || g.Spec != "every 5 seconds" {
					t.Errorf("after the replace: enabled %v, reason %q, spec %q; want %v, %q, the new spec",
						g.Enabled, g.DisabledReason, g.Spec, tc.enabled, tc.want)
				}
				sameTime(t, "updated at", g.UpdatedAt, at(2*time.Second))
			}
		})
	}
}
