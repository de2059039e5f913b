package rota_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

// BenchmarkThroughput enqueues b.N no-op jobs in batches of 1,000, then
// works them with 100 workers; it reports jobs/s.
func BenchmarkThroughput(b *testing.B) {
	for _, workers := range []int{100, 400} {
		b.Run("workers="+itoa(workers), func(b *testing.B) {
			st := &countingStore{Store: openStore(b)}
			c := newClient(b, st, rota.Options{Queues: map[string]rota.QueueConfig{"default": {MaxWorkers: workers}}})
			var done atomic.Int64
			must(b, c.Register("bench.noop", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
				done.Add(1)
				return nil
			})))
			ctx := context.Background()
			n := b.N
			for i := 0; i < n; i += 1000 {
				ps := make([]rota.EnqueueParams, min(1000, n-i))
				for k := range ps {
					ps[k] = rota.EnqueueParams{Kind: "bench.noop"}
				}
				if _, err := c.EnqueueMany(ctx, ps); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			t0 := time.Now()
			start(b, c)
			// Wait for the workers to have run every job, then for the
			// last finishes to be written.
			for done.Load() < int64(n) {
				time.Sleep(time.Millisecond)
			}
			for {
				s, err := c.Stats(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if s.ByState[rota.StateDone] == int64(n) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			el := time.Since(t0)
			b.StopTimer()
			b.ReportMetric(float64(n)/el.Seconds(), "jobs/s")
			b.ReportMetric(float64(st.claimed.Load())/float64(max(st.claims.Load(), 1)), "jobs/claim")
			b.ReportMetric(float64(st.finished.Load())/float64(max(st.finishes.Load(), 1)), "jobs/finish")
		})
	}
}

// BenchmarkLatency measures insert-to-start on an idle node: one job at a
// time, each enqueued after the previous one started.
func BenchmarkLatency(b *testing.B) {
	st := openStore(b)
	c := newClient(b, st, rota.Options{})
	started := make(chan time.Time, 1)
	must(b, c.Register("bench.latency", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		started <- time.Now()
		return nil
	})))
	start(b, c)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := c.Enqueue(ctx, "bench.latency", nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-started).Sub(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
}

// BenchmarkEnqueue measures concurrent single enqueues.
func BenchmarkEnqueue(b *testing.B) {
	st := openStore(b)
	c := newClient(b, st, rota.Options{})
	ctx := context.Background()
	b.SetParallelism(32)
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Enqueue(ctx, "bench.enqueue", nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "jobs/s")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
