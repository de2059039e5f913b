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

// TestSchedulesWorkload runs the schedules workload small, so that it
// cannot rot: every schedule fires in the measured window, lateness is
// reported, and the schedules are gone afterwards.
func TestSchedulesWorkload(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "bench.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 20
	res, err := Run(context.Background(), st, Params{Workload: Schedules, Schedules: n, Run: scheduleWarmUp + 3*time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Three measured seconds: three fires of each schedule, none missing.
	if res.Jobs != 3*n || res.FiresMissing != 0 {
		t.Errorf("measured %d fires of %d schedules over 3 s, %d missing; want %d, none missing", res.Jobs, n, res.FiresMissing, 3*n)
	}
	if res.P50Ms <= 0 || res.P99Ms < res.P50Ms || res.MaxMs < res.P99Ms || res.Schedules != n {
		t.Errorf("result %+v", res)
	}
	page, err := st.ListSchedules(context.Background(), store.ScheduleListParams{})
	if err != nil || len(page.Schedules) != 0 {
		t.Errorf("schedules left after the run: %d, %v", len(page.Schedules), err)
	}
}
