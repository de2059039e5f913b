package rota_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// clusterStores opens n stores on one database of the given driver: for
// SQLite n stores on one file (each with its own writer, as n processes
// would have), for PostgreSQL n stores on one schema.
func clusterStores(t *testing.T, driver string, n int) []store.Store {
	t.Helper()
	out := make([]store.Store, n)
	switch driver {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "rota.db")
		for i := range out {
			out[i] = openStoreAt(t, path)
		}
	case "postgres":
		for i, st := range openPGStores(t, n) {
			out[i] = st
		}
	default:
		t.Fatalf("unknown driver %q", driver)
	}
	return out
}

// clusterPoll is the poll interval of the cluster tests' nodes: longer
// than the tests, so that they pass only if notices and the rate limit's
// next start wake the nodes.
const clusterPoll = time.Minute

// TestGlobalMaxWorkersAcrossNodes runs a kind limited to 3 running jobs on
// three nodes that share a store, at most 2 per node: the jobs of the first
// wave hold until 3 run at once (the limit is reached, on two nodes at
// least), a job of an unlimited kind still runs meanwhile, and no moment
// ever sees 4.
func TestGlobalMaxWorkersAcrossNodes(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			const limit, nodes, jobs = 3, 3, 30
			var g gauge
			release := make(chan struct{})
			limited := rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
				g.enter()
				defer g.leave()
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			})
			free := rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })
			var clients []*rota.Client
			for i, st := range clusterStores(t, driver, nodes) {
				c := newClient(t, st, rota.Options{
					NodeID:       "node-" + string(rune('a'+i)),
					Queues:       map[string]rota.QueueConfig{"default": {MaxWorkers: 10}},
					PollInterval: clusterPoll,
				})
				// Two per node: the first wave needs two nodes, and the
				// nodes together could run 6 without the global limit.
				must(t, c.Register("limited", limited, rota.KindOptions{GlobalMaxWorkers: limit, MaxWorkers: 2}))
				must(t, c.Register("free", free))
				start(t, c)
				clients = append(clients, c)
			}
			ps := make([]rota.EnqueueParams, jobs)
			for i := range ps {
				ps[i] = rota.EnqueueParams{Kind: "limited"}
			}
			enqueued, err := clients[0].EnqueueMany(context.Background(), ps)
			must(t, err)
			waitFor(t, "3 limited jobs running at once", func() bool { return g.cur.Load() == limit })
			// At the limit, the nodes still run other kinds.
			j := enqueue(t, clients[1], "free", nil)
			waitState(t, clients[2], j.ID, rota.StateDone)
			if n := g.cur.Load(); n != limit {
				t.Fatalf("%d limited jobs running while held, want %d", n, limit)
			}
			close(release)
			nodesSeen := map[string]bool{}
			for _, e := range enqueued {
				done := waitState(t, clients[0], e.ID, rota.StateDone)
				nodesSeen[lastAttempt(t, done).Node] = true
			}
			if p := g.peak.Load(); p != limit {
				t.Errorf("peak of limited jobs running at once = %d, want %d", p, limit)
			}
			if len(nodesSeen) < 2 {
				t.Errorf("the limited jobs ran on %v only; want the nodes to share them", nodesSeen)
			}
		})
	}
}

// TestRateLimitAcrossNodes runs a kind limited to 3 starts per 400 ms on
// two nodes that share a store: no 400 ms window holds more than 3 starts,
// and the nodes sleep until the next start is allowed (their poll interval
// is longer than the test).
func TestRateLimitAcrossNodes(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			const n, per, jobs = 3, 400 * time.Millisecond, 9
			var clients []*rota.Client
			for i, st := range clusterStores(t, driver, 2) {
				c := newClient(t, st, rota.Options{
					NodeID:       "node-" + string(rune('a'+i)),
					PollInterval: clusterPoll,
				})
				must(t, c.Register("rated", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
					rota.KindOptions{RateLimit: rota.RateLimit{N: n, Per: per}}))
				start(t, c)
				clients = append(clients, c)
			}
			ps := make([]rota.EnqueueParams, jobs)
			for i := range ps {
				ps[i] = rota.EnqueueParams{Kind: "rated"}
			}
			enqueued, err := clients[0].EnqueueMany(context.Background(), ps)
			must(t, err)
			var starts []time.Time
			for _, e := range enqueued {
				done := waitState(t, clients[1], e.ID, rota.StateDone)
				starts = append(starts, lastAttempt(t, done).StartedAt)
			}
			slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
			for i := n; i < len(starts); i++ {
				if d := starts[i].Sub(starts[i-n]); d < per {
					t.Errorf("starts %d and %d are %s apart: %d starts within %s", i-n, i, d, n+1, per)
				}
			}
			if d := starts[len(starts)-1].Sub(starts[0]); d < (jobs/n-1)*per {
				t.Errorf("%d starts took %s, want at least %s", jobs, d, (jobs/n-1)*per)
			}
		})
	}
}

// TestGlobalMaxWorkersFromWorkerConfig checks that the worker
// configuration's global_max_workers holds, over the registered options:
// the first jobs hold until the configured maximum runs at once, and no
// moment sees more.
func TestGlobalMaxWorkersFromWorkerConfig(t *testing.T) {
	t.Parallel()
	const limit = 2
	cfg := newMemConfig()
	cfg.set("k", rota.KindConfig{GlobalMaxWorkers: ptr(limit)})
	var g gauge
	reached := make(chan struct{})
	var once sync.Once
	c := setup(t, rota.Options{WorkerConfig: cfg, PollInterval: clusterPoll}, func(c *rota.Client) {
		must(t, c.Register("k", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
			g.enter()
			defer g.leave()
			if g.cur.Load() >= limit {
				once.Do(func() { close(reached) })
			}
			select {
			case <-reached:
			case <-ctx.Done():
			}
			return nil
		}), rota.KindOptions{GlobalMaxWorkers: 10}))
	})
	ps := make([]rota.EnqueueParams, 20)
	for i := range ps {
		ps[i] = rota.EnqueueParams{Kind: "k"}
	}
	jobs, err := c.EnqueueMany(context.Background(), ps)
	must(t, err)
	for _, j := range jobs {
		waitState(t, c, j.ID, rota.StateDone)
	}
	if p := g.peak.Load(); p != limit {
		t.Errorf("peak running = %d, want the configured %d", p, limit)
	}
}

func TestKindLimitOptionsValidation(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	w := rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })
	tests := []struct {
		name  string
		opts  rota.KindOptions
		field string
	}{
		{"negative global max", rota.KindOptions{GlobalMaxWorkers: -1}, "global_max_workers"},
		{"negative rate", rota.KindOptions{RateLimit: rota.RateLimit{N: -1, Per: time.Second}}, "rate_limit.n"},
		{"negative period", rota.KindOptions{RateLimit: rota.RateLimit{N: 1, Per: -time.Second}}, "rate_limit.per"},
		{"rate without period", rota.KindOptions{RateLimit: rota.RateLimit{N: 10}}, "rate_limit.per"},
		{"period without rate", rota.KindOptions{RateLimit: rota.RateLimit{Per: time.Second}}, "rate_limit.n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := c.Register("k", w, tt.opts)
			var fe *rota.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("Register = %v, want a FieldError for %s", err, tt.field)
			}
		})
	}
	if err := c.Register("k", w, rota.KindOptions{GlobalMaxWorkers: 3, RateLimit: rota.RateLimit{N: 10, Per: time.Second}}); err != nil {
		t.Errorf("Register with valid limits: %v", err)
	}
}

// TestPopHonoursGlobalMax checks that Pop, naming a kind registered with a
// global maximum, takes no more than the maximum.
func TestPopHonoursGlobalMax(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	must(t, c.Register("scan", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
		rota.KindOptions{GlobalMaxWorkers: 1}))
	for range 2 {
		enqueue(t, c, "scan", nil)
	}
	ctx := context.Background()
	f := rota.PopFilter{Kinds: []string{"scan"}}
	first, err := c.Pop(ctx, "default", f)
	must(t, err)
	if _, err := c.Pop(ctx, "default", f); !errors.Is(err, rota.ErrNotFound) {
		t.Fatalf("second Pop at the maximum: %v, want ErrNotFound", err)
	}
	must(t, c.Complete(ctx, first, nil))
	if _, err := c.Pop(ctx, "default", f); err != nil {
		t.Fatalf("Pop after the first completed: %v", err)
	}
}
