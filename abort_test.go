package rota_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

// blocker is a worker that reports each start and then waits for its
// context (or, if it ignores it, for release).
type blocker struct {
	recorder
	started chan int64
	release chan struct{}
}

func newBlocker(ignoreCtx bool) *blocker {
	b := &blocker{started: make(chan int64, 16), release: make(chan struct{})}
	b.work = func(ctx context.Context, job *rota.Job) error {
		b.started <- job.ID
		if ignoreCtx {
			<-b.release
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.release:
			return nil
		}
	}
	return b
}

// waitStarted waits for the blocker to start job id.
func (b *blocker) waitStarted(t testing.TB, id int64) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case got := <-b.started:
			if got == id {
				return
			}
		case <-timer.C:
			t.Fatalf("job %d did not start", id)
		}
	}
}

func TestAbortRunning(t *testing.T) {
	t.Parallel()
	w := newBlocker(false)
	c := setup(t, rota.Options{}, func(c *rota.Client) { must(t, c.Register("test.block", w)) })
	sub := c.Subscribe(0, rota.EventFilter{Kinds: []string{"test.block"}})
	defer sub.Close()

	j := enqueue(t, c, "test.block", nil)
	w.waitStarted(t, j.ID)
	got, err := c.Abort(context.Background(), j.ID, "user asked")
	must(t, err)
	if got.State != rota.StateRunning || !got.CancelRequested {
		t.Errorf("Abort returned state %s cancel_requested=%v, want running with a cancel request", got.State, got.CancelRequested)
	}
	e := waitEvent(t, sub, "aborted event", func(e rota.Event) bool { return e.JobID == j.ID && e.To == rota.StateAborted })
	if e.From != rota.StateRunning || !strings.Contains(e.Error, "user asked") {
		t.Errorf("event = %+v, want running → aborted with the reason", e)
	}
	j = waitState(t, c, j.ID, rota.StateAborted)
	if a := lastAttempt(t, j); a.Outcome != "aborted" || !strings.Contains(a.Error, "user asked") {
		t.Errorf("attempt = %+v, want outcome aborted with the reason", a)
	}
	if got := w.cleanupsOf(j.ID); len(got) != 1 || got[0] != "aborted" {
		t.Errorf("CleanUp outcomes = %v, want [aborted]", got)
	}

	if _, err := c.Abort(context.Background(), j.ID, ""); !errors.Is(err, rota.ErrConflict) {
		t.Errorf("abort of an aborted job: err = %v, want ErrConflict", err)
	}
	if _, err := c.Abort(context.Background(), 987654, ""); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("abort of an unknown job: err = %v, want ErrNotFound", err)
	}
}

func TestAbortWaiting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []rota.EnqueueOption
		from rota.State
	}{
		{"queued", nil, rota.StateQueued},
		{"held", []rota.EnqueueOption{rota.Hold()}, rota.StateReady},
		{"scheduled", []rota.EnqueueOption{rota.Delay(time.Hour)}, rota.StateScheduled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// An enqueue-only client: nothing runs the job.
			c := newClient(t, openStore(t), rota.Options{})
			sub := c.Subscribe(0, rota.EventFilter{})
			defer sub.Close()
			j := enqueue(t, c, "test.nobody", nil, tt.opts...)
			if j.State != tt.from {
				t.Fatalf("enqueued job is %s, want %s", j.State, tt.from)
			}
			got, err := c.Abort(context.Background(), j.ID, "no longer needed")
			must(t, err)
			if got.State != rota.StateAborted {
				t.Errorf("state = %s, want aborted at once", got.State)
			}
			waitEvent(t, sub, "aborted event", func(e rota.Event) bool {
				return e.JobID == j.ID && e.From == tt.from && e.To == rota.StateAborted
			})
		})
	}
}

func TestAbortKey(t *testing.T) {
	t.Parallel()
	w := newBlocker(false)
	c := setup(t, rota.Options{}, func(c *rota.Client) { must(t, c.Register("test.block", w)) })
	j := enqueue(t, c, "test.block", nil, rota.Key("doc-7", ""))
	w.waitStarted(t, j.ID)
	if _, err := c.AbortKey(context.Background(), "test.block", "doc-7", "by key"); err != nil {
		t.Fatal(err)
	}
	j = waitState(t, c, j.ID, rota.StateAborted)
	if !strings.Contains(j.LastError, "by key") {
		t.Errorf("last error = %q, want the reason", j.LastError)
	}
	want := fmt.Sprintf(`rota: cannot abort job %d (kind test.block, key "doc-7"): it is already aborted`, j.ID)
	if _, err := c.AbortKey(context.Background(), "test.block", "doc-7", ""); !errors.Is(err, rota.ErrConflict) || err.Error() != want {
		t.Errorf("abort by key of an aborted job: err = %v, want ErrConflict %q", err, want)
	}
	if _, err := c.AbortKey(context.Background(), "test.block", "no-such-key", ""); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("abort of an unknown key: err = %v, want ErrNotFound", err)
	}
}

func TestAbortIgnoredContext(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	w := newBlocker(true)
	var g gauge
	inner := w.work
	w.work = func(ctx context.Context, job *rota.Job) error {
		g.enter()
		defer g.leave()
		return inner(ctx, job)
	}
	c := setup(t, rota.Options{
		AbortGrace: 50 * time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
	}, func(c *rota.Client) { must(t, c.Register("test.stubborn", w, rota.KindOptions{MaxWorkers: 1})) })

	first := enqueue(t, c, "test.stubborn", nil)
	w.waitStarted(t, first.ID)
	second := enqueue(t, c, "test.stubborn", nil)
	_, err := c.Abort(context.Background(), first.ID, "stop it")
	must(t, err)

	// Marked aborted after the grace although the worker still runs.
	waitState(t, c, first.ID, rota.StateAborted)
	if s := c.ClientStats(); s.Running != 1 {
		t.Errorf("running = %d, want 1: the stuck worker keeps its slot", s.Running)
	}
	if j, err := c.Get(context.Background(), second.ID); err != nil || j.State != rota.StateQueued {
		t.Errorf("second job = %v %v, want queued while the slot is taken", j.State, err)
	}
	if out := logs.String(); !containsAll(out, "level=ERROR", "did not return", fmt.Sprintf("job_id=%d", first.ID)) {
		t.Errorf("log does not name the stuck job:\n%s", out)
	}

	// When it finally returns, the slot frees and the next job runs.
	close(w.release)
	waitState(t, c, second.ID, rota.StateDone)
	if p := g.peak.Load(); p != 1 {
		t.Errorf("peak concurrency = %d, want 1 (max_workers)", p)
	}
	if got := w.cleanupsOf(first.ID); len(got) != 1 || got[0] != "aborted" {
		t.Errorf("CleanUp outcomes = %v, want [aborted]", got)
	}
}

// TestTimeoutIgnoredContext: a worker that ignores its timeout is finished
// as timed out after the grace, and keeps its slot until it returns.
func TestTimeoutIgnoredContext(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	w := newBlocker(true)
	c := setup(t, rota.Options{
		AbortGrace: 50 * time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
	}, func(c *rota.Client) {
		must(t, c.Register("test.stubborn", w, rota.KindOptions{MaxWorkers: 1, Timeout: 20 * time.Millisecond}))
	})
	first, err := c.Enqueue(context.Background(), "test.stubborn", nil, rota.MaxAttempts(1))
	must(t, err)
	w.waitStarted(t, first.ID)
	second := enqueue(t, c, "test.stubborn", nil)

	waitState(t, c, first.ID, rota.StateError)
	j, err := c.Get(context.Background(), first.ID)
	must(t, err)
	if n := len(j.Attempts); n != 1 || j.Attempts[0].Outcome != rota.Outcome("timeout") {
		t.Errorf("attempts = %+v, want one timeout", j.Attempts)
	}
	if s := c.ClientStats(); s.Running != 1 {
		t.Errorf("running = %d, want 1: the stuck worker keeps its slot", s.Running)
	}
	if out := logs.String(); !containsAll(out, "level=ERROR", "after its timeout", fmt.Sprintf("job_id=%d", first.ID)) {
		t.Errorf("log does not name the stuck job:\n%s", out)
	}
	close(w.release)
	waitState(t, c, second.ID, rota.StateDone)
}

// TestAbortFromOtherProcess aborts through a second client on the same
// store, as another process would: the running node learns it through the
// store's notices and heartbeats.
func TestAbortFromOtherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rota.db")
	w := newBlocker(false)
	runner := newClient(t, openStoreAt(t, path), rota.Options{NodeID: "runner"})
	must(t, runner.Register("test.block", w))
	start(t, runner)
	other := newClient(t, openStoreAt(t, path), rota.Options{NodeID: "api"})

	j := enqueue(t, other, "test.block", nil)
	w.waitStarted(t, j.ID)
	if _, err := other.Abort(context.Background(), j.ID, "from the API"); err != nil {
		t.Fatal(err)
	}
	j = waitState(t, runner, j.ID, rota.StateAborted)
	if a := lastAttempt(t, j); a.Node != "runner" || a.Outcome != "aborted" {
		t.Errorf("attempt = %+v, want aborted on the runner", a)
	}
}

// TestAbortFromOtherProcessWinsOverRetry: another process aborts a running
// job and the worker then fails (a retry); the job ends aborted, and the
// event the runner publishes says so, not retrying.
func TestAbortFromOtherProcessWinsOverRetry(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rota.db")
	started, fail := make(chan int64, 1), make(chan struct{})
	runner := newClient(t, openStoreAt(t, path), rota.Options{NodeID: "runner"})
	must(t, runner.Register("test.fail", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		started <- job.ID
		<-fail
		return errors.New("transient")
	})))
	sub := runner.Subscribe(64, rota.EventFilter{})
	defer sub.Close()
	start(t, runner)
	other := newClient(t, openStoreAt(t, path), rota.Options{NodeID: "api"})

	j := enqueue(t, other, "test.fail", nil, rota.MaxAttempts(3))
	if id := <-started; id != j.ID {
		t.Fatalf("started job %d, want %d", id, j.ID)
	}
	if _, err := other.Abort(context.Background(), j.ID, "from the API"); err != nil {
		t.Fatal(err)
	}
	close(fail) // most likely before the runner hears of the abort
	j = waitState(t, runner, j.ID, rota.StateAborted)
	if j.LastError != "from the API" {
		t.Errorf("last error %q, want the abort's reason", j.LastError)
	}
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case e := <-sub.C:
			if e.JobID != j.ID || e.From != rota.StateRunning {
				continue
			}
			if e.To != rota.StateAborted {
				t.Fatalf("event running -> %s, want aborted", e.To)
			}
			return
		case <-timer.C:
			t.Fatal("no event for the end of the attempt")
		}
	}
}

// TestAbortDuringShutdown aborts a job whose context shutdown has already
// cancelled: the abort must stand, not be undone by the interrupt that
// puts the job back in its queue.
func TestAbortDuringShutdown(t *testing.T) {
	t.Parallel()
	cancelled := make(chan error, 1)
	release := make(chan struct{})
	w := &recorder{work: func(ctx context.Context, job *rota.Job) error {
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
		<-release
		return ctx.Err()
	}}
	started := make(chan struct{})
	inner := w.work
	w.work = func(ctx context.Context, job *rota.Job) error {
		close(started)
		return inner(ctx, job)
	}
	c := newClient(t, openStore(t), rota.Options{AbortGrace: waitTimeout})
	must(t, c.Register("test.block", w))
	must(t, c.Start(context.Background()))
	j := enqueue(t, c, "test.block", nil)
	<-started

	stopCtx, cancel := context.WithCancel(context.Background())
	cancel() // no time for running jobs: interrupt at once
	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(stopCtx) }()
	if cause := <-cancelled; cause == nil {
		t.Fatal("no cancellation cause")
	}
	got, err := c.Abort(context.Background(), j.ID, "abort during shutdown")
	must(t, err)
	if got.State != rota.StateRunning || !got.CancelRequested {
		t.Fatalf("Abort returned %s cancel_requested=%v, want running with a cancel request", got.State, got.CancelRequested)
	}
	close(release)
	must(t, <-stopped)

	j, err = c.Get(context.Background(), j.ID)
	must(t, err)
	if j.State != rota.StateAborted || lastAttempt(t, j).Outcome != "aborted" || !strings.Contains(j.LastError, "abort during shutdown") {
		t.Errorf("state %s outcome %s last error %q, want aborted with the reason", j.State, lastAttempt(t, j).Outcome, j.LastError)
	}
	if got := w.cleanupsOf(j.ID); len(got) != 1 || got[0] != "aborted" {
		t.Errorf("CleanUp outcomes = %v, want [aborted]", got)
	}
}

// slowCleanUp is a worker whose CleanUp waits for release.
type slowCleanUp struct {
	work      func(ctx context.Context, job *rota.Job) error
	inCleanUp chan rota.Outcome
	release   chan struct{}
	cleaned   chan struct{}
}

func newSlowCleanUp(work func(ctx context.Context, job *rota.Job) error) *slowCleanUp {
	return &slowCleanUp{work: work, inCleanUp: make(chan rota.Outcome, 1), release: make(chan struct{}), cleaned: make(chan struct{}, 1)}
}

func (s *slowCleanUp) Work(ctx context.Context, job *rota.Job) error { return s.work(ctx, job) }

func (s *slowCleanUp) CleanUp(ctx context.Context, job *rota.Job, o rota.Outcome) {
	s.inCleanUp <- o
	<-s.release
	s.cleaned <- struct{}{}
}

// TestAbortAfterWorkerReturned aborts a job whose worker has returned
// RetryAfter but whose finish is not written yet (its CleanUp runs): the
// job must end aborted, not be scheduled to run again.
func TestAbortAfterWorkerReturned(t *testing.T) {
	t.Parallel()
	w := newSlowCleanUp(func(ctx context.Context, job *rota.Job) error { return rota.RetryAfter(time.Hour) })
	c := setup(t, rota.Options{}, func(c *rota.Client) { must(t, c.Register("test.later", w)) })
	j := enqueue(t, c, "test.later", nil)
	if o := <-w.inCleanUp; o != "retry_later" {
		t.Fatalf("CleanUp outcome %s, want retry_later", o)
	}
	got, err := c.Abort(context.Background(), j.ID, "not any more")
	must(t, err)
	if got.State != rota.StateRunning {
		t.Fatalf("Abort returned %s, want running", got.State)
	}
	close(w.release)
	<-w.cleaned
	j = waitJob(t, c, j.ID, "job to leave running", func(j *rota.Job) bool { return j.State != rota.StateRunning })
	if j.State != rota.StateAborted || !strings.Contains(j.LastError, "not any more") {
		t.Errorf("state %s last error %q, want aborted with the reason", j.State, j.LastError)
	}
}
