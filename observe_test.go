package rota_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

// These tests cover what the HTTP server's metrics read from the client:
// an attempt's outcome and run time on its events, the lease-loss and
// started flags of ClientStats, a kind's effective options, and the index
// of the failing job of a batch.

func TestFinishEventsCarryOutcomeAndRunTime(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	sub := c.Subscribe(100, rota.EventFilter{})
	defer sub.Close()
	must(t, c.Register("test.ok", rota.WorkFunc(func(context.Context, *rota.Job) error {
		time.Sleep(5 * time.Millisecond) // the run time to measure
		return nil
	})))
	must(t, c.Register("test.fails", rota.WorkFunc(func(context.Context, *rota.Job) error {
		return rota.Fail(errors.New("no"))
	})))
	if s := c.ClientStats(); s.Started {
		t.Errorf("ClientStats before Start: Started")
	}
	start(t, c)
	if s := c.ClientStats(); !s.Started {
		t.Errorf("ClientStats after Start: not Started")
	}
	ok := enqueue(t, c, "test.ok", nil)
	bad := enqueue(t, c, "test.fails", nil)
	finishes := map[int64]rota.Event{}
	waitEvent(t, sub, "both finishes", func(e rota.Event) bool {
		if e.From == rota.StateRunning {
			finishes[e.JobID] = e
		}
		return len(finishes) == 2
	})
	if e := finishes[ok.ID]; e.To != rota.StateDone || e.Outcome != "done" || e.RunTime < 5*time.Millisecond || e.RunTime > waitTimeout {
		t.Errorf("finish event %+v: want done, outcome done, run time >= 5ms", e)
	}
	if e := finishes[bad.ID]; e.To != rota.StateError || e.Outcome != "fail" || e.RunTime <= 0 {
		t.Errorf("finish event %+v: want error, outcome fail, a run time", e)
	}
	// Events that do not leave running have neither.
	q := enqueue(t, c, "test.other", nil, rota.Hold())
	e := waitEvent(t, sub, "the held job's insert", func(e rota.Event) bool { return e.JobID == q.ID })
	if e.Outcome != "" || e.RunTime != 0 {
		t.Errorf("insert event %+v has an outcome or run time", e)
	}

	// A popped job's finish too.
	p := enqueue(t, c, "test.popped", nil, rota.Queue("ext"))
	j, err := c.Pop(context.Background(), "ext", rota.PopFilter{})
	must(t, err)
	must(t, c.FailJob(context.Background(), j, rota.RetryAfter(time.Hour)))
	e = waitEvent(t, sub, "the popped job's finish", func(e rota.Event) bool { return e.JobID == p.ID && e.From == rota.StateRunning })
	if e.To != rota.StateScheduled || e.Outcome != "retry_later" {
		t.Errorf("popped finish event %+v: want scheduled, outcome retry_later", e)
	}
	must(t, c.Stop(context.Background()))
	if s := c.ClientStats(); s.Started {
		t.Errorf("ClientStats after Stop: Started")
	}
}

// TestLostLeaseCountedAndRescueOutcome: a job whose lease runs out while
// this node runs it is rescued (an event with OutcomeLost) and the node
// gives its attempt up (ClientStats.LeasesLost).
func TestLostLeaseCountedAndRescueOutcome(t *testing.T) {
	t.Parallel()
	st := &stallStore{Store: openStore(t)}
	now := time.Now()
	clock := &fakeClock{now: now}
	started := make(chan int, 4)
	release := make(chan struct{})
	c := newClient(t, st, rota.Options{Clock: clock, LeaseDuration: 100 * time.Millisecond})
	sub := c.Subscribe(100, rota.EventFilter{})
	defer sub.Close()
	must(t, c.Register("test.long", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		started <- rota.AttemptFrom(ctx)
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
	<-started
	if n := c.ClientStats().LeasesLost; n != 0 {
		t.Fatalf("LeasesLost = %d before any loss", n)
	}
	st.stall.Store(true)
	clock.set(now.Add(time.Hour))
	e := waitEvent(t, sub, "the rescue", func(e rota.Event) bool {
		return e.JobID == j.ID && e.From == rota.StateRunning && e.To == rota.StateQueued
	})
	if e.Outcome != "lost" {
		t.Errorf("rescue event outcome %q, want lost", e.Outcome)
	}
	<-started // the node claims it again, giving up the old attempt
	st.stall.Store(false)
	waitFor(t, "LeasesLost to count the lost attempt", func() bool { return c.ClientStats().LeasesLost == 1 })
}

func TestKindOptionsOf(t *testing.T) {
	t.Parallel()
	prio := 7
	src := staticSource{"test.kind": {MaxWorkers: intp(3)}}
	c := newClient(t, openStore(t), rota.Options{WorkerConfig: src})
	must(t, c.Register("test.kind", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
		rota.KindOptions{MaxWorkers: 1, Priority: &prio, Queue: "q"}))
	got := c.KindOptionsOf("test.kind")
	if got.MaxWorkers != 3 || got.Priority == nil || *got.Priority != 7 || got.Queue != "q" {
		t.Errorf("KindOptionsOf = %+v, want MaxWorkers 3 (the config), priority 7 and queue q (registered)", got)
	}
	if got := c.KindOptionsOf("test.nowhere"); !reflect.DeepEqual(got, rota.KindOptions{}) {
		t.Errorf("KindOptionsOf an unknown kind = %+v, want the zero value", got)
	}
}

func TestEnqueueManyNamesTheIndex(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	bad := 99999
	_, err := c.EnqueueMany(context.Background(), []rota.EnqueueParams{{Kind: "a"}, {Kind: "b", Priority: &bad}})
	var ie *rota.IndexError
	var fe *rota.FieldError
	if !errors.As(err, &ie) || ie.Index != 1 || !errors.As(err, &fe) || fe.Field != "priority" {
		t.Fatalf("EnqueueMany error %v: want an IndexError at 1 around a priority FieldError", err)
	}
	if got, want := err.Error(), "job 1: invalid priority: 99999 is out of range 0..32767"; got != want {
		t.Errorf("error text %q, want %q", got, want)
	}
}

// staticSource is a WorkerConfigSource with fixed kinds.
type staticSource map[string]rota.KindConfig

func (s staticSource) Kind(kind string) (rota.KindConfig, bool) { kc, ok := s[kind]; return kc, ok }
func (s staticSource) Changes() <-chan struct{}                 { return nil }

func intp(n int) *int { return &n }
