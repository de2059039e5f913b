package postgres

import (
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// BenchmarkClaimFinish inserts b.N jobs in batches of 1,000, then claims
// and finishes them with 4 workers, each claiming up to 100 at a time and
// finishing them in one call: the store's share of rota's throughput.
func BenchmarkClaimFinish(b *testing.B) {
	s := openTest(b, Options{MaxConns: 8})
	ctx := b.Context()
	now := time.Now()
	for left := b.N; left > 0; {
		n := min(left, 1000)
		ps := make([]store.InsertParams, n)
		for i := range ps {
			ps[i] = store.InsertParams{Kind: "noop", Queue: store.DefaultQueue, Args: json.RawMessage(`{}`), Priority: 100, MaxAttempts: 3}
		}
		if _, err := s.Insert(ctx, now, ps); err != nil {
			b.Fatal(err)
		}
		left -= n
	}
	b.ResetTimer()
	var done atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			node := "node-" + string(rune('a'+w))
			for {
				now := time.Now()
				claimRes, err := s.Claim(ctx, store.ClaimParams{Queue: store.DefaultQueue, Node: node, Limit: 100,
					Kinds: []store.KindLimit{{Kind: "noop", Max: 1000}}, Now: now, LeaseUntil: now.Add(time.Minute)})
				jobs := claimRes.Jobs
				if err != nil {
					b.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				fs := make([]store.FinishParams, len(jobs))
				for i, j := range jobs {
					fs[i] = store.FinishParams{ID: j.ID, Attempt: j.Attempt, State: store.StateDone, Now: now,
						Record: store.Attempt{Number: j.Attempt, Node: node, StartedAt: j.StartedAt, FinishedAt: now, Outcome: store.OutcomeDone}}
				}
				if _, err := s.Finish(ctx, fs); err != nil {
					b.Error(err)
					return
				}
				done.Add(int64(len(jobs)))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if done.Load() != int64(b.N) {
		b.Fatalf("worked %d jobs of %d", done.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkInsertSingle inserts single jobs from 64 goroutines (on 2 CPUs),
// as rota bench enqueue does: the group commit at work.
func BenchmarkInsertSingle(b *testing.B) {
	s := openTest(b, Options{MaxConns: 8})
	ctx := b.Context()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := []store.InsertParams{{Kind: "noop", Queue: store.DefaultQueue, Args: json.RawMessage(`{}`), Priority: 100, MaxAttempts: 3}}
		for pb.Next() {
			if _, err := s.Insert(ctx, time.Now(), p); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
