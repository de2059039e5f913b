package bench

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/sqlite"
)

// TestSchedulesWorkload runs the schedules workload small, with the
// lookahead on and off, so that it cannot rot: every schedule fires in the
// measured window, lateness is reported, fires are written ahead exactly
// when the lookahead is on, and the schedules are gone afterwards.
func TestSchedulesWorkload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		lookahead time.Duration
		ahead     bool
	}{
		{"default lookahead", 0, true},
		{"lookahead off", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openSQLite(t, sqlite.DefaultSynchronous)
			const n = 20
			res, err := Run(context.Background(), st, Params{Workload: Schedules, Schedules: n,
				Run: ScheduleWarmUp + 3*time.Second, Lookahead: tc.lookahead})
			if err != nil {
				t.Fatal(err)
			}
			// Three measured seconds: three fires of each schedule, none missing.
			if res.Jobs != 3*n || res.FiresMissing != 0 || res.FiresStarted != res.Jobs {
				t.Errorf("measured %d fires of %d schedules over 3 s, %d missing; want %d, none missing", res.Jobs, n, res.FiresMissing, 3*n)
			}
			if res.P50Ms <= 0 || res.P99Ms < res.P50Ms || res.MaxMs < res.P99Ms || res.Schedules != n ||
				res.StartP50Ms < res.P50Ms || res.StartMaxMs < res.StartP99Ms || res.InsertMaxMs < res.InsertP99Ms {
				t.Errorf("result %+v", res)
			}
			// Written ahead: every insert before its fire time; else none.
			if tc.ahead && (res.FiresAhead != res.Jobs || res.InsertMaxMs >= 0) ||
				!tc.ahead && (res.FiresAhead != 0 || res.InsertP50Ms <= 0) {
				t.Errorf("%d of %d fires written ahead, insert p50 %.3f ms max %.3f ms", res.FiresAhead, res.Jobs,
					res.InsertP50Ms, res.InsertMaxMs)
			}
			page, err := st.ListSchedules(context.Background(), store.ScheduleListParams{})
			if err != nil || len(page.Schedules) != 0 {
				t.Errorf("schedules left after the run: %d, %v", len(page.Schedules), err)
			}
		})
	}
}

// TestStoreWorkloads runs the in-process workloads small on SQLite, so
// that they cannot rot: each reports its jobs and a rate, the latency
// workload ordered percentiles, and every job ends done (Run checks it,
// counting the latency workload's warm-up job).
func TestStoreWorkloads(t *testing.T) {
	t.Parallel()
	st := openSQLite(t, "OFF")
	for _, p := range []Params{
		{Workload: Throughput, Jobs: 300, Workers: 4},
		{Workload: Latency, Jobs: 30, Every: time.Millisecond},
		{Workload: Enqueue, Jobs: 200, Concurrency: 4},
	} {
		res, err := Run(context.Background(), st, p)
		if err != nil {
			t.Fatalf("%s: %v", p.Workload, err)
		}
		if res.Jobs != p.Jobs || res.JobsPerS <= 0 || res.Store != "sqlite" {
			t.Errorf("%s: result %+v", p.Workload, res)
		}
		if p.Workload == Latency && (res.P50Ms <= 0 || res.P99Ms < res.P50Ms || res.MaxMs < res.P99Ms) {
			t.Errorf("latency: %+v", res)
		}
	}
}

// openSQLite opens a migrated SQLite store in a temporary directory with
// the given synchronous mode, closed when the test ends.
func openSQLite(t *testing.T, synchronous string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "bench.db"), sqlite.Options{Synchronous: synchronous, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}
