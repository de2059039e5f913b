package rota_test

import (
	"context"
	"sync"
	"testing"

	"github.com/rotahq/rota"
)

// TestMaxWorkers checks that per-kind and per-queue caps are never exceeded
// and are reached, with kinds spread over queues.
func TestMaxWorkers(t *testing.T) {
	t.Parallel()
	type kind struct {
		name  string
		cap   int // KindOptions.MaxWorkers
		queue string
		jobs  int
	}
	tests := []struct {
		name     string
		queues   map[string]int // queue → MaxWorkers
		kinds    []kind
		wantKind map[string]int // kind → expected peak
		wantQ    map[string]int // queue → expected peak
	}{
		{
			name:     "kind cap under queue cap",
			queues:   map[string]int{"default": 10},
			kinds:    []kind{{"a", 2, "default", 30}},
			wantKind: map[string]int{"a": 2},
		},
		{
			name:   "queue cap",
			queues: map[string]int{"default": 3},
			kinds:  []kind{{"a", 0, "default", 30}},
			wantQ:  map[string]int{"default": 3},
		},
		{
			name:     "two capped kinds share a queue",
			queues:   map[string]int{"default": 4},
			kinds:    []kind{{"a", 1, "default", 20}, {"b", 3, "default", 20}},
			wantKind: map[string]int{"a": 1, "b": 3},
			wantQ:    map[string]int{"default": 4},
		},
		{
			name:     "one capped kind in two queues",
			queues:   map[string]int{"q1": 5, "q2": 5},
			kinds:    []kind{{"a", 3, "q1", 20}, {"a", 3, "q2", 20}},
			wantKind: map[string]int{"a": 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			qs := map[string]rota.QueueConfig{}
			for q, n := range tt.queues {
				qs[q] = rota.QueueConfig{MaxWorkers: n}
			}
			var mu sync.Mutex
			kindG := map[string]*gauge{}
			queueG := map[string]*gauge{}
			for _, k := range tt.kinds {
				kindG[k.name] = &gauge{}
				queueG[k.queue] = &gauge{}
			}
			// Workers hold their slot until every expected peak was reached,
			// so the caps are pushed against; then they run freely.
			reached := make(chan struct{})
			var once sync.Once
			check := func() {
				mu.Lock()
				defer mu.Unlock()
				for k, want := range tt.wantKind {
					if kindG[k].peak.Load() < int64(want) {
						return
					}
				}
				for q, want := range tt.wantQ {
					if queueG[q].peak.Load() < int64(want) {
						return
					}
				}
				once.Do(func() { close(reached) })
			}
			work := rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
				kg, qg := kindG[job.Kind], queueG[job.Queue]
				kg.enter()
				qg.enter()
				defer kg.leave()
				defer qg.leave()
				check()
				select {
				case <-reached:
				case <-ctx.Done():
				}
				return nil
			})
			c := setup(t, rota.Options{Queues: qs}, func(c *rota.Client) {
				registered := map[string]bool{}
				for _, k := range tt.kinds {
					if !registered[k.name] {
						must(t, c.Register(k.name, work, rota.KindOptions{MaxWorkers: k.cap}))
						registered[k.name] = true
					}
				}
			})
			var ps []rota.EnqueueParams
			for _, k := range tt.kinds {
				for range k.jobs {
					ps = append(ps, rota.EnqueueParams{Kind: k.name, Queue: k.queue})
				}
			}
			jobs, err := c.EnqueueMany(context.Background(), ps)
			must(t, err)
			for _, j := range jobs {
				waitState(t, c, j.ID, rota.StateDone)
			}
			for k, want := range tt.wantKind {
				if got := kindG[k].peak.Load(); got != int64(want) {
					t.Errorf("kind %s peak = %d, want %d", k, got, want)
				}
			}
			for q, want := range tt.wantQ {
				if got := queueG[q].peak.Load(); got != int64(want) {
					t.Errorf("queue %s peak = %d, want %d", q, got, want)
				}
			}
			for q, n := range tt.queues {
				if g := queueG[q]; g != nil && g.peak.Load() > int64(n) {
					t.Errorf("queue %s peak = %d over its cap %d", q, g.peak.Load(), n)
				}
			}
			// Slots are freed once the finishes are written.
			waitFor(t, "running to drop to 0", func() bool { return c.ClientStats().Running == 0 })
		})
	}
}
