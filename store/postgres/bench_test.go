package postgres

import (
	"encoding/json"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/storetest"
)

// BenchmarkClaimFinish inserts b.N jobs in batches of 1,000, then claims
// and finishes them with 4 workers, each claiming up to 100 at a time and
// finishing them in one call: the store's share of rota's throughput.
func BenchmarkClaimFinish(b *testing.B) {
	s := openTest(b, Options{MaxConns: 8})
	ctx := b.Context()
	now := time.Now()
	insertNoops(b, s, now, b.N, nil)
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
				if _, err := s.Finish(ctx, doneFinishes(jobs, node, now)); err != nil {
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

// BenchmarkFinish measures the finish alone: b.N jobs inserted and
// claimed before the timer starts, then finished in batches of 100 from
// two goroutines (the completer's two batches in flight).
func BenchmarkFinish(b *testing.B) {
	s := openTest(b, Options{MaxConns: 8})
	ctx := b.Context()
	now := time.Now()
	var claimed []*store.Job
	insertNoops(b, s, now, b.N, func(n int) {
		res, err := s.Claim(ctx, store.ClaimParams{Queue: store.DefaultQueue, Node: "node", Limit: n, Now: now, LeaseUntil: now.Add(time.Hour)})
		if err != nil || len(res.Jobs) != n {
			b.Fatalf("claim: %d jobs of %d, %v", len(res.Jobs), n, err)
		}
		claimed = append(claimed, res.Jobs...)
	})
	batches := make(chan []*store.Job, b.N/100+1)
	for len(claimed) > 0 {
		n := min(len(claimed), 100)
		batches <- claimed[:n]
		claimed = claimed[n:]
	}
	close(batches)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for jobs := range batches {
				states, err := s.Finish(ctx, doneFinishes(jobs, "node", now))
				if err != nil {
					b.Error(err)
					return
				}
				for i, st := range states {
					if st != store.StateDone {
						b.Errorf("job %d: %q after its finish", jobs[i].ID, st)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// insertNoops inserts n no-op jobs into the default queue in batches of
// 1,000; after each batch it calls each (when not nil) with its size.
func insertNoops(b *testing.B, s *Store, now time.Time, n int, each func(int)) {
	b.Helper()
	for left := n; left > 0; {
		k := min(left, 1000)
		ps := make([]store.InsertParams, k)
		for i := range ps {
			ps[i] = store.InsertParams{Kind: "noop", Queue: store.DefaultQueue, Args: json.RawMessage(`{}`), Priority: 100, MaxAttempts: 3}
		}
		if _, err := s.Insert(b.Context(), now, ps); err != nil {
			b.Fatal(err)
		}
		if each != nil {
			each(k)
		}
		left -= k
	}
}

// doneFinishes are the finishes of jobs as done by node at now.
func doneFinishes(jobs []*store.Job, node string, now time.Time) []store.FinishParams {
	fs := make([]store.FinishParams, len(jobs))
	for i, j := range jobs {
		fs[i] = store.FinishParams{ID: j.ID, Attempt: j.Attempt, State: store.StateDone, Now: now,
			Record: store.Attempt{Number: j.Attempt, Node: node, StartedAt: j.StartedAt, FinishedAt: now, Outcome: store.OutcomeDone}}
	}
	return fs
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

// BenchmarkInsertBatch inserts batches of 1,000 and 10,000 keyless jobs
// through the driver (one INSERT ... SELECT FROM unnest(...) RETURNING id).
func BenchmarkInsertBatch(b *testing.B) {
	for _, batch := range []int{1000, 10000} {
		b.Run(strconv.Itoa(batch), func(b *testing.B) {
			s := openTest(b, Options{})
			ctx := b.Context()
			ps := make([]store.InsertParams, batch)
			for i := range ps {
				ps[i] = store.InsertParams{Kind: "noop", Queue: store.DefaultQueue, Args: json.RawMessage(`{"n":1}`), Priority: 100, MaxAttempts: 3}
			}
			b.ResetTimer()
			for range b.N {
				if _, err := s.Insert(ctx, time.Now(), ps); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkCopyBatch is the alternative the driver does not take: the same
// batches through COPY, with ids taken from the sequence first (COPY has no
// RETURNING) in one more round trip. Kept to compare with
// BenchmarkInsertBatch (docs/performance.md).
func BenchmarkCopyBatch(b *testing.B) {
	cols := []string{"id", "kind", "queue", "args", "priority", "run_at", "state", "key", "metadata",
		"max_attempts", "timeout", "created_at", "updated_at"}
	for _, batch := range []int{1000, 10000} {
		b.Run(strconv.Itoa(batch), func(b *testing.B) {
			s := openTest(b, Options{})
			ctx := b.Context()
			rows := make([][]any, batch)
			b.ResetTimer()
			for range b.N {
				err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
					ids, err := tx.Query(ctx, `SELECT nextval(pg_get_serial_sequence('jobs', 'id')) FROM generate_series(1, $1)`, batch)
					if err != nil {
						return err
					}
					idList, err := pgx.CollectRows(ids, pgx.RowTo[int64])
					if err != nil {
						return err
					}
					now := time.Now()
					for i := range rows {
						rows[i] = []any{idList[i], "noop", store.DefaultQueue, `{"n":1}`, 100, now, "queued", "", `{}`, 3, int64(0), now, now}
					}
					_, err = tx.CopyFrom(ctx, pgx.Identifier{"jobs"}, cols, pgx.CopyFromRows(rows))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkFireSchedules fires 1,000 schedules due at the same second, in
// calls of 128 and of 1,000 fires (the leader's firing loop).
func BenchmarkFireSchedules(b *testing.B) {
	for _, per := range []int{128, 1000} {
		b.Run("per"+strconv.Itoa(per), func(b *testing.B) {
			storetest.BenchmarkFires(b, openTest(b, Options{}), 1000, per)
		})
	}
}
