package rota_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// abortHooked is a blocker that records its Abort hook calls.
type abortHooked struct {
	*blocker
	aborted atomic.Int64
}

func (a *abortHooked) Abort(job *rota.Job) { a.aborted.Add(1) }

func TestShutdownInterruptsAndRequeues(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	w := &abortHooked{blocker: newBlocker(false)}
	c1 := newClient(t, st, rota.Options{NodeID: "node-1"})
	must(t, c1.Register("test.long", w))
	must(t, c1.Start(context.Background()))

	j := enqueue(t, c1, "test.long", nil, rota.MaxAttempts(1))
	w.waitStarted(t, j.ID)

	// A done context: no time for running jobs, interrupt them at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	must(t, c1.Stop(ctx))
	must(t, c1.Stop(context.Background())) // idempotent

	j, err := c1.Get(context.Background(), j.ID)
	must(t, err)
	if j.State != rota.StateQueued || j.Attempt != 0 {
		t.Errorf("after shutdown: state %s attempt %d, want queued with the attempt given back", j.State, j.Attempt)
	}
	if a := lastAttempt(t, j); a.Outcome != "interrupted" || a.Node != "node-1" {
		t.Errorf("attempt = %+v, want interrupted on node-1", a)
	}
	if w.aborted.Load() != 1 {
		t.Errorf("Abort hook called %d times, want 1", w.aborted.Load())
	}
	if got := w.cleanupsOf(j.ID); len(got) != 1 || got[0] != "interrupted" {
		t.Errorf("CleanUp outcomes = %v, want [interrupted]", got)
	}
	// The stopped client still enqueues; its store stays open.
	enqueue(t, c1, "test.other", nil)
	if err := c1.Start(context.Background()); !errors.Is(err, rota.ErrStopped) {
		t.Errorf("Start after Stop: err = %v, want ErrStopped", err)
	}

	// A new client (a restarted node) finishes it; max attempts 1 still allows it.
	c2 := newClient(t, st, rota.Options{NodeID: "node-2"})
	must(t, c2.Register("test.long", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error { return nil })))
	start(t, c2)
	j = waitState(t, c2, j.ID, rota.StateDone)
	if j.Attempt != 1 || lastAttempt(t, j).Node != "node-2" {
		t.Errorf("attempt %d on %s, want attempt 1 on node-2", j.Attempt, lastAttempt(t, j).Node)
	}
}

func TestShutdownWaitsForRunningJobs(t *testing.T) {
	t.Parallel()
	w := newBlocker(false)
	c := newClient(t, openStore(t), rota.Options{})
	must(t, c.Register("test.long", w))
	must(t, c.Start(context.Background()))
	j := enqueue(t, c, "test.long", nil)
	w.waitStarted(t, j.ID)

	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a job runs", err)
	default:
	}
	close(w.release)
	must(t, <-stopped)
	j, err := c.Get(context.Background(), j.ID)
	must(t, err)
	if j.State != rota.StateDone {
		t.Errorf("state = %s, want done: Stop lets running jobs finish", j.State)
	}
}

func TestShutdownWorkerIgnoringContext(t *testing.T) {
	t.Parallel()
	w := newBlocker(true)
	defer close(w.release)
	c := newClient(t, openStore(t), rota.Options{AbortGrace: 20 * time.Millisecond})
	must(t, c.Register("test.stubborn", w))
	must(t, c.Start(context.Background()))
	j := enqueue(t, c, "test.stubborn", nil)
	w.waitStarted(t, j.ID)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	must(t, c.Stop(ctx))
	j, err := c.Get(context.Background(), j.ID)
	must(t, err)
	if j.State != rota.StateQueued || lastAttempt(t, j).Outcome != "interrupted" {
		t.Errorf("state %s outcome %s, want queued and interrupted", j.State, lastAttempt(t, j).Outcome)
	}
}

func TestStartContextStopsClient(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	must(t, c.Register("test.noop", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })))
	ctx, cancel := context.WithCancel(context.Background())
	must(t, c.Start(ctx))
	if err := c.Start(ctx); !errors.Is(err, rota.ErrAlreadyStarted) {
		t.Errorf("second Start: err = %v, want ErrAlreadyStarted", err)
	}
	sub := c.Subscribe(1, rota.EventFilter{})
	cancel()
	// The subscription closes when the client has stopped.
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-sub.C:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatal("client did not stop when Start's context ended")
		}
	}
}

func TestRescueDeadNode(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	c := newClient(t, st, rota.Options{NodeID: "alive"})
	j := enqueue(t, c, "test.rescued", nil, rota.MaxAttempts(3))

	// A node that died: it claimed the job and its lease has expired.
	now := time.Now()
	claimRes, err := st.Claim(context.Background(), store.ClaimParams{
		Queue: "default", Node: "dead", Limit: 1, Now: now, LeaseUntil: now.Add(-time.Second),
	})
	claimed := claimRes.Jobs
	if err != nil || len(claimed) != 1 || claimed[0].ID != j.ID {
		t.Fatalf("claim as the dead node: %v %v", claimed, err)
	}

	must(t, c.Register("test.rescued", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })))
	start(t, c)
	j = waitState(t, c, j.ID, rota.StateDone)
	if got := outcomes(j); len(got) != 2 || got[0] != "lost" || got[1] != "done" {
		t.Errorf("outcomes = %v, want [lost done]", got)
	}
	if j.Attempts[0].Node != "dead" || j.Attempts[1].Node != "alive" {
		t.Errorf("attempt nodes = %s, %s; want dead, alive", j.Attempts[0].Node, j.Attempts[1].Node)
	}
}

func TestPromoterRunsDelayedJobOnTime(t *testing.T) {
	t.Parallel()
	ran := make(chan time.Time, 1)
	// A long poll interval: only the promoter's own timer can run it on time.
	c := setup(t, rota.Options{PollInterval: time.Minute}, func(c *rota.Client) {
		must(t, c.Register("test.later", rota.WorkFunc(func(context.Context, *rota.Job) error {
			ran <- time.Now()
			return nil
		})))
	})
	const delay = 200 * time.Millisecond
	j := enqueue(t, c, "test.later", nil, rota.Delay(delay))
	if j.State != rota.StateScheduled {
		t.Fatalf("state = %s, want scheduled", j.State)
	}
	select {
	case at := <-ran:
		if early := j.RunAt.Sub(at); early > 0 {
			t.Errorf("ran %s before its run_at", early)
		}
		if late := at.Sub(j.RunAt); late > 5*time.Second {
			t.Errorf("ran %s after its run_at", late)
		}
	case <-time.After(waitTimeout):
		t.Fatal("delayed job did not run")
	}
	waitState(t, c, j.ID, rota.StateDone)
}

// TestShutdownWritesFinishOfJobInCleanUp stops a node whose job has
// returned but whose CleanUp is still running when the shutdown grace
// ends: the job's finish must still be written before Stop returns, not
// left running in the store until its lease expires.
func TestShutdownWritesFinishOfJobInCleanUp(t *testing.T) {
	t.Parallel()
	w := newSlowCleanUp(func(ctx context.Context, job *rota.Job) error {
		return job.SetResult("ok")
	})
	c := newClient(t, openStore(t), rota.Options{AbortGrace: 20 * time.Millisecond})
	must(t, c.Register("test.tidy", w))
	must(t, c.Start(context.Background()))
	j := enqueue(t, c, "test.tidy", nil)
	if o := <-w.inCleanUp; o != "done" {
		t.Fatalf("CleanUp outcome %s, want done", o)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	must(t, c.Stop(ctx))
	j, err := c.Get(context.Background(), j.ID)
	must(t, err)
	if j.State != rota.StateDone || string(j.Result) != `"ok"` {
		t.Errorf("after Stop: state %s result %s, want done with its result", j.State, j.Result)
	}
	close(w.release)
	<-w.cleaned
}

// stallStore makes ExtendLeases fail while stall is set, as a store too
// busy to renew leases in time would.
type stallStore struct {
	store.Store
	stall atomic.Bool
}

func (s *stallStore) ExtendLeases(ctx context.Context, node string, refs []store.JobRef, until time.Time) (store.LeaseReport, error) {
	if s.stall.Load() {
		return store.LeaseReport{}, errors.New("stalled")
	}
	return s.Store.ExtendLeases(ctx, node, refs, until)
}

// TestOwnRescuedJobIsNotRunTwice: the rescuer takes back a job whose lease
// ran out while this very node still runs it, and the producer claims it
// again. The old attempt must be given up (its context cancelled) before
// the new one starts, not go on unnoticed beside it.
func TestOwnRescuedJobIsNotRunTwice(t *testing.T) {
	t.Parallel()
	st := &stallStore{Store: openStore(t)}
	now := time.Now()
	clock := &fakeClock{now: now}
	release := make(chan struct{})
	started := make(chan int, 4)
	var mu sync.Mutex
	ctxs := map[int]context.Context{}
	overlap := make(chan int, 4) // attempts that started while an earlier one was not cancelled
	c := newClient(t, st, rota.Options{Clock: clock, LeaseDuration: 100 * time.Millisecond})
	must(t, c.Register("test.long", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		a := rota.AttemptFrom(ctx)
		mu.Lock()
		for prev, pctx := range ctxs {
			if pctx.Err() == nil {
				overlap <- prev
			}
		}
		ctxs[a] = ctx
		mu.Unlock()
		started <- a
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-release:
			return nil
		}
	})))
	start(t, c)
	defer close(release)
	j := enqueue(t, c, "test.long", nil, rota.MaxAttempts(3))
	if a := <-started; a != 1 {
		t.Fatalf("first attempt is %d", a)
	}

	// Heartbeats stall and the lease runs out: the rescuer puts the job
	// back and this node claims it again.
	st.stall.Store(true)
	clock.set(now.Add(time.Hour))
	select {
	case a := <-started:
		if a != 2 {
			t.Fatalf("second start is attempt %d", a)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the rescued job did not run again")
	}
	st.stall.Store(false)
	select {
	case prev := <-overlap:
		t.Errorf("attempt 2 started while attempt %d still ran with a live context", prev)
	default:
	}
	j = waitJob(t, c, j.ID, "attempt 1 recorded lost", func(j *rota.Job) bool { return len(j.Attempts) >= 1 })
	if a := j.Attempts[0]; a.Outcome != "lost" {
		t.Errorf("attempt 1 outcome %s, want lost", a.Outcome)
	}
}
