package rota_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

// memConfig is an in-memory WorkerConfigSource (and KindLister).
type memConfig struct {
	mu      sync.Mutex
	kinds   map[string]rota.KindConfig
	changes chan struct{}
}

func newMemConfig() *memConfig {
	return &memConfig{kinds: map[string]rota.KindConfig{}, changes: make(chan struct{}, 1)}
}

func (m *memConfig) Kind(kind string) (rota.KindConfig, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kc, ok := m.kinds[kind]
	return kc, ok
}

func (m *memConfig) Changes() <-chan struct{} { return m.changes }

func (m *memConfig) Kinds() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.kinds))
}

// set replaces a kind's configuration and signals the change.
func (m *memConfig) set(kind string, kc rota.KindConfig) {
	m.mu.Lock()
	m.kinds[kind] = kc
	m.mu.Unlock()
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

// jsonConfig is a WorkerConfig over a JSON object.
type jsonConfig json.RawMessage

func (c jsonConfig) Get(key string, dst any) (bool, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(c, &m); err != nil {
		return false, err
	}
	v, ok := m[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(v, dst)
}

func (c jsonConfig) Raw() json.RawMessage { return json.RawMessage(c) }

func ptr[T any](v T) *T { return &v }

func TestWorkerConfigOverrides(t *testing.T) {
	t.Parallel()
	cfg := newMemConfig()
	cfg.set("test.cfg", rota.KindConfig{
		MaxAttempts: ptr(7),
		Queue:       ptr("configured"),
		Priority:    ptr(42),
		Timeout:     ptr(30 * time.Millisecond),
		LogLevel:    ptr(slog.LevelDebug),
		Custom:      jsonConfig(`{"endpoint":"https://example.org"}`),
	})
	var logs logBuffer
	type seen struct {
		endpoint string
		attempt  int
		deadline time.Duration
	}
	got := make(chan seen, 1)
	c := setup(t, rota.Options{
		WorkerConfig: cfg,
		Queues:       map[string]rota.QueueConfig{"configured": {}},
		// The client logs at info; the kind's debug level wins for its logger.
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}, func(c *rota.Client) {
		must(t, c.Register("test.cfg", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
			var s seen
			if wc := rota.ConfigFrom(ctx); wc != nil {
				if _, err := wc.Get("endpoint", &s.endpoint); err != nil {
					return err
				}
			}
			s.attempt = rota.AttemptFrom(ctx)
			dl, _ := ctx.Deadline()
			s.deadline = time.Until(dl)
			rota.Logger(ctx).Debug("working", "endpoint", s.endpoint)
			got <- s
			return nil
		}), rota.KindOptions{MaxAttempts: 3, Queue: "registered", Timeout: time.Hour}))
	})

	j := enqueue(t, c, "test.cfg", nil)
	if j.Queue != "configured" || j.MaxAttempts != 7 || j.Priority != 42 {
		t.Errorf("enqueued queue=%s max_attempts=%d priority=%d, want the configured configured/7/42", j.Queue, j.MaxAttempts, j.Priority)
	}
	s := <-got
	if s.endpoint != "https://example.org" || s.attempt != 1 {
		t.Errorf("worker saw %+v, want the custom endpoint and attempt 1", s)
	}
	if s.deadline > 30*time.Millisecond {
		t.Errorf("deadline in %s, want the configured 30ms timeout", s.deadline)
	}
	waitState(t, c, j.ID, rota.StateDone)
	if out := logs.String(); !containsAll(out, "level=DEBUG", "msg=working", "kind=test.cfg", "job_id=", "attempt=1", "node=test-node") {
		t.Errorf("job log missing or without its attributes:\n%s", out)
	}
	// Explicit options still beat the configuration.
	j = enqueue(t, c, "test.cfg", nil, rota.Queue("configured"), rota.MaxAttempts(2), rota.Priority(5))
	if j.MaxAttempts != 2 || j.Priority != 5 {
		t.Errorf("explicit options: max_attempts=%d priority=%d, want 2 and 5", j.MaxAttempts, j.Priority)
	}
}

func TestWorkerConfigChangeWhileRunning(t *testing.T) {
	t.Parallel()
	cfg := newMemConfig()
	cfg.set("test.live", rota.KindConfig{MaxWorkers: ptr(1)})
	var g gauge
	gate := make(chan struct{})
	c := setup(t, rota.Options{WorkerConfig: cfg}, func(c *rota.Client) {
		must(t, c.Register("test.live", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
			g.enter()
			defer g.leave()
			<-gate
			return nil
		}), rota.KindOptions{MaxWorkers: 10}))
	})
	ps := make([]rota.EnqueueParams, 6)
	for i := range ps {
		ps[i] = rota.EnqueueParams{Kind: "test.live"}
	}
	jobs, err := c.EnqueueMany(context.Background(), ps)
	must(t, err)

	waitFor(t, "one job to run", func() bool { return g.cur.Load() == 1 })
	if g.peak.Load() != 1 {
		t.Fatalf("peak = %d with max_workers 1 from the config", g.peak.Load())
	}
	cfg.set("test.live", rota.KindConfig{MaxWorkers: ptr(3)})
	waitFor(t, "three jobs to run after the change", func() bool { return g.cur.Load() == 3 })
	close(gate)
	for _, j := range jobs {
		waitState(t, c, j.ID, rota.StateDone)
	}
	if p := g.peak.Load(); p != 3 {
		t.Errorf("peak = %d, want 3", p)
	}
}

func TestExecKindFromConfig(t *testing.T) {
	t.Parallel()
	cfg := newMemConfig()
	cfg.set("test.script", rota.KindConfig{Shell: `cat >/dev/null; echo '{"from":"config"}'`})
	c := setup(t, rota.Options{WorkerConfig: cfg}, nil)
	if got := c.Kinds(); !slices.Contains(got, "test.script") {
		t.Errorf("Kinds() = %v, want the exec kind", got)
	}
	j := enqueue(t, c, "test.script", nil)
	j = waitState(t, c, j.ID, rota.StateDone)
	if string(j.Result) != `{"from":"config"}` {
		t.Errorf("result = %s", j.Result)
	}
}

// TestExecWorkerReadsItsConfig checks that a command gets its kind's worker
// configuration, custom keys included, as the "config" object of its input,
// and after a change the new configuration.
func TestExecWorkerReadsItsConfig(t *testing.T) {
	t.Parallel()
	// The command answers with its input, whose last line is the job as JSON.
	const script = "cat"
	cfg := newMemConfig()
	cfg.set("test.script", rota.KindConfig{Shell: script, Custom: jsonConfig(`{"endpoint":"https://a.example","retries":3}`)})
	cfg.set("test.bare", rota.KindConfig{Shell: script})
	c := setup(t, rota.Options{WorkerConfig: cfg}, nil)
	// configSeen runs a job of kind and returns the config its command got.
	configSeen := func(kind string) string {
		t.Helper()
		j := enqueue(t, c, kind, nil)
		j = waitState(t, c, j.ID, rota.StateDone)
		var in struct {
			ID     int64           `json:"id"`
			Config json.RawMessage `json:"config"`
		}
		if err := json.Unmarshal(j.Result, &in); err != nil || in.ID != j.ID {
			t.Fatalf("%s: the command's input %s (%v) is not job %d", kind, j.Result, err, j.ID)
		}
		return string(in.Config)
	}
	if got, want := configSeen("test.script"), `{"endpoint":"https://a.example","retries":3}`; got != want {
		t.Errorf("test.script: the command got config %s, want %s", got, want)
	}
	if got := configSeen("test.bare"); got != "" {
		t.Errorf("test.bare: the command got config %s, want none", got)
	}
	cfg.set("test.script", rota.KindConfig{Shell: script, Custom: jsonConfig(`{"endpoint":"https://b.example"}`)})
	waitFor(t, "a command to get the changed config", func() bool {
		return configSeen("test.script") == `{"endpoint":"https://b.example"}`
	})
}

// TestWorkerConfigBackoff checks that a kind's backoff from the worker
// configuration replaces the registered one, and applies after a change.
func TestWorkerConfigBackoff(t *testing.T) {
	t.Parallel()
	constant := func(d time.Duration) rota.Backoff {
		return rota.BackoffFunc(func(int) time.Duration { return d })
	}
	cfg := newMemConfig()
	cfg.set("test.backoff", rota.KindConfig{Backoff: constant(9 * time.Minute)})
	c := setup(t, rota.Options{WorkerConfig: cfg}, func(c *rota.Client) {
		must(t, c.Register("test.backoff", rota.WorkFunc(func(context.Context, *rota.Job) error {
			return errors.New("flaky")
		}), rota.KindOptions{Backoff: constant(time.Hour)}))
	})
	// nextRun fails a job once and returns how long after the failure it
	// runs again.
	nextRun := func() time.Duration {
		j := enqueue(t, c, "test.backoff", nil, rota.MaxAttempts(2))
		j = waitJob(t, c, j.ID, "the first attempt to fail", func(j *rota.Job) bool { return j.State == rota.StateRetrying })
		return j.RunAt.Sub(j.Attempts[0].FinishedAt)
	}
	if d := nextRun(); d != 9*time.Minute {
		t.Errorf("next run %s after the failure, want the configured 9m0s", d)
	}
	cfg.set("test.backoff", rota.KindConfig{Backoff: constant(3 * time.Minute)})
	waitFor(t, "the changed backoff", func() bool { return nextRun() == 3*time.Minute })
	cfg.set("test.backoff", rota.KindConfig{})
	waitFor(t, "the registered backoff without one configured", func() bool { return nextRun() == time.Hour })
}
