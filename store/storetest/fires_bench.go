package storetest

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// BenchmarkFires measures FireSchedules on s, a fresh store: schedules
// schedules due at the same second are fired every iteration (one fire
// time each), perCall fires per call, as the leader's firing loop writes
// them. It reports fires/s and µs/fire.
func BenchmarkFires(b *testing.B, s store.Store, schedules, perCall int) {
	b.Helper()
	ft := base().Truncate(time.Second)
	keys := make([]string, schedules)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench-%05d", i)
		sc := store.Schedule{Key: keys[i], Kind: "bench.noop", Queue: store.DefaultQueue, Spec: "every 1 second",
			Enabled: true, Misfire: store.MisfireSkip, Overlap: store.OverlapAllow, NextFire: ft}
		if _, err := s.UpsertSchedule(b.Context(), sc, ft); err != nil {
			b.Fatal(err)
		}
	}
	fires := 0
	cpu0 := processCPU()
	for b.Loop() {
		next := ft.Add(time.Second)
		for lo := 0; lo < len(keys); lo += perCall {
			batch := keys[lo:min(lo+perCall, len(keys))]
			ps := make([]store.FireParams, len(batch))
			for i, k := range batch {
				ps[i] = store.FireParams{Key: k, Expected: ft, Next: next, FireTime: ft, Outcome: store.FireOutcomeFired,
					Now: ft, Job: &store.InsertParams{Kind: "bench.noop", Queue: store.DefaultQueue,
						Args: json.RawMessage(`{}`), Priority: store.DefaultPriority, MaxAttempts: 3,
						Key: store.FireJobKey(k, ft), Metadata: map[string]string{"rota.schedule": k,
							"rota.fire_time": ft.Format(time.RFC3339)}}}
			}
			res, err := s.FireSchedules(b.Context(), ps)
			if err != nil {
				b.Fatal(err)
			}
			for i, r := range res {
				if !r.Applied || r.Job == nil || r.Duplicate {
					b.Fatalf("fire %s: %+v", batch[i], r)
				}
			}
			fires += len(batch)
		}
		ft = next
	}
	b.ReportMetric(float64(fires)/b.Elapsed().Seconds(), "fires/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(fires), "µs/fire")
	// CPU time is less disturbed than wall time by other processes on a
	// shared machine (this process only: not a database server's).
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(fires), "cpu-µs/fire")
}

// processCPU is the CPU time (user and system) the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
