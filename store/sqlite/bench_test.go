package sqlite

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/storetest"
)

// benchJob is a no-op job as `rota bench` inserts them.
func benchJob() store.InsertParams {
	return store.InsertParams{Kind: "bench.noop", Queue: store.DefaultQueue, Args: json.RawMessage(`{"n":1}`),
		Priority: store.DefaultPriority, MaxAttempts: 3}
}

func benchBatch(n int) []store.InsertParams {
	b := make([]store.InsertParams, n)
	for i := range b {
		b[i] = benchJob()
	}
	return b
}

// cpuTime is the CPU time used by the process so far. It is less disturbed
// than wall time by other processes on a shared machine (setup work between
// timed sections is included, so it is an upper bound).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportJobs reports jobs/s for n jobs over the benchmark's time.
func reportJobs(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkInsertBatch1000 inserts batches of 1,000 jobs.
func BenchmarkInsertBatch1000(b *testing.B) {
	s := openTest(b, Options{})
	batch := benchBatch(1000)
	now := helperBase()
	for b.Loop() {
		if _, err := s.Insert(b.Context(), now, batch); err != nil {
			b.Fatal(err)
		}
	}
	reportJobs(b, b.N*len(batch))
}

// BenchmarkInsertSingleParallel inserts single jobs from 64 goroutines;
// the writer commits them in groups.
func BenchmarkInsertSingleParallel(b *testing.B) {
	s := openTest(b, Options{})
	now := helperBase()
	commits := s.commits.Load()
	defer func() { b.ReportMetric(float64(b.N)/float64(s.commits.Load()-commits), "jobs/commit") }()
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		one := []store.InsertParams{benchJob()}
		for pb.Next() {
			if _, err := s.Insert(b.Context(), now, one); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportJobs(b, b.N)
}

// BenchmarkClaimFinish claims 100 jobs and finishes them as done, per op.
func BenchmarkClaimFinish(b *testing.B) {
	benchClaimFinish(b, 0)
}

// BenchmarkClaimFinishSynchronous is BenchmarkClaimFinish with the other
// synchronous modes, to show what the fsyncs cost.
func BenchmarkClaimFinishSynchronous(b *testing.B) {
	for _, mode := range []string{"NORMAL", "OFF"} {
		b.Run(mode, func(b *testing.B) { benchClaimFinishOpts(b, Options{Synchronous: mode}, 0) })
	}
}

// BenchmarkClaimWithMillionFuture is BenchmarkClaimFinish with a million
// future-scheduled jobs in the table: claiming must not get slower.
func BenchmarkClaimWithMillionFuture(b *testing.B) {
	if testing.Short() {
		b.Skip("inserts a million jobs")
	}
	benchClaimFinish(b, 1_000_000)
}

func benchClaimFinish(b *testing.B, future int) {
	benchClaimFinishOpts(b, Options{}, future)
}

func benchClaimFinishOpts(b *testing.B, opts Options, future int) {
	const per = 100
	s := openTest(b, opts)
	now := helperBase()
	ctx := b.Context()
	if future > 0 {
		batch := benchBatch(10_000)
		for i := range batch {
			batch[i].RunAt = now.Add(24 * time.Hour)
		}
		for range future / len(batch) {
			if _, err := s.Insert(ctx, now, batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Enough queued jobs for every iteration, inserted in batches of 1,000
	// (b.Loop runs the setup once per benchmark run).
	var stock atomic.Int64
	fill := func(n int) {
		batch := benchBatch(1000)
		for done := 0; done < n; done += len(batch) {
			if _, err := s.Insert(ctx, now, batch); err != nil {
				b.Fatal(err)
			}
			stock.Add(int64(len(batch)))
		}
	}
	b.ResetTimer()
	claimed := 0
	var claimTime, finishTime time.Duration
	cpu0 := cpuTime()
	defer func() {
		b.ReportMetric(float64(claimTime.Microseconds())/float64(b.N), "claim-µs/op")
		b.ReportMetric(float64(finishTime.Microseconds())/float64(b.N), "finish-µs/op")
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(claimed), "cpu-µs/job")
	}()
	fs := make([]store.FinishParams, 0, per)
	for b.Loop() {
		if stock.Load() < per {
			b.StopTimer()
			fill(100 * per)
			b.StartTimer()
		}
		t0 := time.Now()
		claimRes, err := s.Claim(ctx, store.ClaimParams{Queue: store.DefaultQueue, Node: "bench", Limit: per,
			Now: now, LeaseUntil: now.Add(time.Minute)})
		jobs := claimRes.Jobs
		claimTime += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) != per {
			b.Fatalf("claimed %d, want %d", len(jobs), per)
		}
		stock.Add(-int64(len(jobs)))
		fs = fs[:0]
		for _, j := range jobs {
			fs = append(fs, store.FinishParams{ID: j.ID, Attempt: j.Attempt, State: store.StateDone, Now: now,
				Record: store.Attempt{Node: "bench", StartedAt: j.StartedAt, Outcome: store.OutcomeDone}})
		}
		t0 = time.Now()
		applied, err := s.Finish(ctx, fs)
		finishTime += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		for _, st := range applied {
			if st == "" {
				b.Fatal("finish not applied")
			}
		}
		claimed += len(jobs)
	}
	reportJobs(b, claimed)
}

// BenchmarkClaimFinishPipelined claims batches of 100 in one goroutine while
// another finishes the previous batches, as the engine's producer and
// completer do: their operations share the writer's commits.
func BenchmarkClaimFinishPipelined(b *testing.B) {
	const per = 100
	s := openTest(b, Options{})
	now := helperBase()
	ctx := b.Context()
	total := 0
	for total < b.N*per+per {
		n := min(10_000, b.N*per+per-total)
		if _, err := s.Insert(ctx, now, benchBatch(n)); err != nil {
			b.Fatal(err)
		}
		total += n
	}
	claimed := make(chan []*store.Job, 4)
	errc := make(chan error, 1)
	b.ResetTimer()
	go func() {
		defer close(claimed)
		for range b.N {
			claimRes, err := s.Claim(ctx, store.ClaimParams{Queue: store.DefaultQueue, Node: "bench", Limit: per,
				Now: now, LeaseUntil: now.Add(time.Minute)})
			jobs := claimRes.Jobs
			if err != nil {
				errc <- err
				return
			}
			claimed <- jobs
		}
	}()
	done := 0
	for jobs := range claimed {
		fs := make([]store.FinishParams, len(jobs))
		for i, j := range jobs {
			fs[i] = store.FinishParams{ID: j.ID, Attempt: j.Attempt, State: store.StateDone, Now: now,
				Record: store.Attempt{Node: "bench", StartedAt: j.StartedAt, Outcome: store.OutcomeDone}}
		}
		if _, err := s.Finish(ctx, fs); err != nil {
			b.Fatal(err)
		}
		done += len(jobs)
	}
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
	reportJobs(b, done)
}

// BenchmarkInsertToClaimLatency inserts one job at a time into an idle
// store and claims it as soon as the NoticeQueued arrives, as an idle node
// does; it reports the p50 and p99 of insert-to-claimed.
func BenchmarkInsertToClaimLatency(b *testing.B) {
	s := openTest(b, Options{})
	now := helperBase()
	ctx := b.Context()
	notes := s.Subscribe(ctx)
	lat := make([]time.Duration, 0, b.N)
	one := []store.InsertParams{benchJob()}
	for b.Loop() {
		start := time.Now()
		if _, err := s.Insert(ctx, now, one); err != nil {
			b.Fatal(err)
		}
		for n := range notes {
			if n.Type == store.NoticeQueued {
				break
			}
		}
		claimRes, err := s.Claim(ctx, store.ClaimParams{Queue: store.DefaultQueue, Node: "bench", Limit: 10,
			Now: now, LeaseUntil: now.Add(time.Minute)})
		jobs := claimRes.Jobs
		if err != nil || len(jobs) != 1 {
			b.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkFireSchedules fires 1,000 schedules due at the same second, in
// calls of 128 and of 1,000 fires (the leader's firing loop).
func BenchmarkFireSchedules(b *testing.B) {
	for _, per := range []int{128, 1000} {
		b.Run(fmt.Sprintf("per%d", per), func(b *testing.B) {
			storetest.BenchmarkFires(b, openTest(b, Options{}), 1000, per)
		})
	}
}
