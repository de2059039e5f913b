package rota_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/sqlite"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 15 * time.Second

// openStore opens a migrated SQLite store in a temporary directory.
func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	return openStoreAt(t, filepath.Join(t.TempDir(), "rota.db"))
}

// openStoreAt opens a migrated SQLite store on the file at path; two stores
// on one file behave like two processes.
func openStoreAt(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(path, sqlite.Options{
		Synchronous: "OFF",
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// logBuffer collects log output safely for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newClient makes a client on st; opts.Logger defaults to a discarding one.
func newClient(t testing.TB, st store.Store, opts rota.Options) *rota.Client {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.NodeID == "" {
		opts.NodeID = "test-node"
	}
	c, err := rota.New(st, opts)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

// start starts c and stops it at the end of the test.
func start(t testing.TB, c *rota.Client) {
	t.Helper()
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// setup opens a store and a started client with the given registrations.
func setup(t testing.TB, opts rota.Options, register func(c *rota.Client)) *rota.Client {
	t.Helper()
	c := newClient(t, openStore(t), opts)
	if register != nil {
		register(c)
	}
	start(t, c)
	return c
}

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// enqueue enqueues one job or fails the test.
func enqueue(t testing.TB, c *rota.Client, kind string, args any, opts ...rota.EnqueueOption) *rota.Job {
	t.Helper()
	j, err := c.Enqueue(context.Background(), kind, args, opts...)
	if err != nil {
		t.Fatalf("enqueue %s: %v", kind, err)
	}
	return j
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitJob waits until job id satisfies cond and returns it.
func waitJob(t testing.TB, c *rota.Client, id int64, what string, cond func(j *rota.Job) bool) *rota.Job {
	t.Helper()
	var last *rota.Job
	waitFor(t, what, func() bool {
		j, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get %d: %v", id, err)
		}
		last = j
		return cond(j)
	})
	return last
}

// waitState waits until job id is in state.
func waitState(t testing.TB, c *rota.Client, id int64, state rota.State) *rota.Job {
	t.Helper()
	return waitJob(t, c, id, "job to be "+string(state), func(j *rota.Job) bool { return j.State == state })
}

// waitEvent reads sub until an event satisfies match.
func waitEvent(t testing.TB, sub *rota.Subscription, what string, match func(e rota.Event) bool) rota.Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-sub.C:
			if !ok {
				t.Fatalf("subscription closed waiting for %s", what)
			}
			if match(e) {
				return e
			}
		case <-timer.C:
			t.Fatalf("timed out waiting for event: %s", what)
		}
	}
}

// gauge tracks the current and the highest concurrency.
type gauge struct {
	cur, peak atomic.Int64
}

func (g *gauge) enter() {
	n := g.cur.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.cur.Add(-1) }

// lastAttempt returns the job's newest attempt record.
func lastAttempt(t testing.TB, j *rota.Job) rota.Attempt {
	t.Helper()
	if len(j.Attempts) == 0 {
		t.Fatalf("job %d has no attempts", j.ID)
	}
	return j.Attempts[len(j.Attempts)-1]
}

// outcomes lists the job's attempt outcomes in order.
func outcomes(j *rota.Job) []rota.Outcome {
	var out []rota.Outcome
	for _, a := range j.Attempts {
		out = append(out, a.Outcome)
	}
	return out
}

// containsAll reports whether s contains every part.
func containsAll(s string, parts ...string) bool {
	return !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(s, p) })
}

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
