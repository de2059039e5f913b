package rota_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// transitions collects "from→to" of job id's events until one reaches last.
func transitions(t *testing.T, sub *rota.Subscription, id int64, last rota.State) []string {
	t.Helper()
	var out []string
	waitEvent(t, sub, fmt.Sprintf("job %d to reach %s", id, last), func(e rota.Event) bool {
		if e.JobID != id {
			return false
		}
		out = append(out, string(e.From)+"→"+string(e.To))
		return e.To == last
	})
	return out
}

func TestEventsForEachTransition(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	fast := rota.BackoffFunc(func(int) time.Duration { return time.Millisecond })
	c := newClient(t, st, rota.Options{})
	must(t, c.Register("test.flaky", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		switch rota.AttemptFrom(ctx) {
		case 1:
			return errors.New("first attempt fails")
		}
		return nil
	}), rota.KindOptions{Backoff: fast}))
	must(t, c.Register("test.fail", rota.WorkFunc(func(context.Context, *rota.Job) error {
		return rota.Fail(errors.New("permanent"))
	})))
	sub := c.Subscribe(10000, rota.EventFilter{})
	defer sub.Close()
	start(t, c)

	// Insert, claim, retry, promote, claim, finish.
	j := enqueue(t, c, "test.flaky", nil)
	want := "[→queued queued→running running→retrying retrying→queued queued→running running→done]"
	if got := fmt.Sprint(transitions(t, sub, j.ID, rota.StateDone)); got != want {
		t.Errorf("flaky job events = %s, want %s", got, want)
	}

	// Hold, release; then a permanent failure and a manual retry.
	h := enqueue(t, c, "test.fail", nil, rota.Hold())
	_, err := c.Release(context.Background(), h.ID)
	must(t, err)
	if got, want := fmt.Sprint(transitions(t, sub, h.ID, rota.StateError)), "[→ready ready→queued queued→running running→error]"; got != want {
		t.Errorf("held job events = %s, want %s", got, want)
	}
	_, err = c.Retry(context.Background(), h.ID)
	must(t, err)
	if got, want := fmt.Sprint(transitions(t, sub, h.ID, rota.StateError)), "[error→queued queued→running running→error]"; got != want {
		t.Errorf("retried job events = %s, want %s", got, want)
	}

	// Scheduled, then cancelled while waiting.
	s := enqueue(t, c, "test.fail", nil, rota.Delay(time.Hour))
	_, err = c.Abort(context.Background(), s.ID, "")
	must(t, err)
	if got, want := fmt.Sprint(transitions(t, sub, s.ID, rota.StateAborted)), "[→scheduled scheduled→aborted]"; got != want {
		t.Errorf("scheduled job events = %s, want %s", got, want)
	}

	// Rescue of a job left by a dead node. The rescuer runs on the leader,
	// when it starts leading and every LeaseDuration/2: c stops (and
	// resigns) before the dead node's claim, so that c, had its term begun
	// late, cannot be the one that rescues the job; c2 takes over and does.
	r := enqueue(t, c, "test.unregistered", nil)
	must(t, c.Stop(context.Background()))
	now := time.Now()
	res, err := st.Claim(context.Background(), store.ClaimParams{Queue: "default", Node: "dead", Limit: 1,
		Kinds: []store.KindLimit{{Kind: "test.unregistered", Max: 1}}, Now: now, LeaseUntil: now.Add(-time.Second)})
	must(t, err)
	if len(res.Jobs) != 1 || res.Jobs[0].ID != r.ID {
		t.Fatalf("the dead node claimed %d jobs, want job %d", len(res.Jobs), r.ID)
	}
	c2 := newClient(t, st, rota.Options{NodeID: "rescuer"})
	sub2 := c2.Subscribe(100, rota.EventFilter{})
	defer sub2.Close()
	start(t, c2)
	waitEvent(t, sub2, "rescue event", func(e rota.Event) bool {
		return e.JobID == r.ID && e.From == rota.StateRunning && e.To == rota.StateQueued
	})
}

func TestEventSeqAndFilters(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	all := c.Subscribe(0, rota.EventFilter{})
	defer all.Close()
	byKind := c.Subscribe(0, rota.EventFilter{Kinds: []string{"b"}})
	defer byKind.Close()
	byQueue := c.Subscribe(0, rota.EventFilter{Queues: []string{"q2"}})
	defer byQueue.Close()
	byKey := c.Subscribe(0, rota.EventFilter{Key: "k1"})
	defer byKey.Close()
	byMeta := c.Subscribe(0, rota.EventFilter{Metadata: map[string]string{"tenant": "t1"}})
	defer byMeta.Close()

	enqueue(t, c, "a", nil, rota.Queue("q1"), rota.Key("k1", ""))
	enqueue(t, c, "b", nil, rota.Queue("q2"), rota.Metadata(map[string]string{"tenant": "t1", "x": "y"}))
	enqueue(t, c, "b", nil, rota.Queue("q1"), rota.Metadata(map[string]string{"tenant": "t2"}))

	var prev uint64
	for i := range 3 {
		e := <-all.C
		if i > 0 && e.Seq != prev+1 {
			t.Errorf("seq %d after %d", e.Seq, prev)
		}
		prev = e.Seq
	}
	count := func(s *rota.Subscription) int {
		n := 0
		for {
			select {
			case <-s.C:
				n++
			default:
				return n
			}
		}
	}
	for name, tc := range map[string]struct {
		sub  *rota.Subscription
		want int
	}{"kind": {byKind, 2}, "queue": {byQueue, 1}, "key": {byKey, 1}, "metadata": {byMeta, 1}} {
		if got := count(tc.sub); got != tc.want {
			t.Errorf("filter on %s got %d events, want %d", name, got, tc.want)
		}
	}
}

func TestSlowSubscriberDoesNotStall(t *testing.T) {
	t.Parallel()
	c := setup(t, rota.Options{}, func(c *rota.Client) {
		must(t, c.Register("test.noop", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })))
	})
	slow := c.Subscribe(10, rota.EventFilter{}) // never read
	defer slow.Close()
	fast := c.Subscribe(4000, rota.EventFilter{})
	defer fast.Close()

	ps := make([]rota.EnqueueParams, 1000)
	for i := range ps {
		ps[i] = rota.EnqueueParams{Kind: "test.noop"}
	}
	_, err := c.EnqueueMany(context.Background(), ps)
	must(t, err)
	done := 0
	waitEvent(t, fast, "1000 jobs to be done", func(e rota.Event) bool {
		if e.To == rota.StateDone {
			done++
		}
		return done == 1000
	})
	if fast.Dropped() != 0 {
		t.Errorf("the fast subscriber dropped %d events", fast.Dropped())
	}
	// 1000 inserts + 1000 claims + 1000 finishes, 10 buffered.
	waitFor(t, "drops to be counted", func() bool { return slow.Dropped() >= 2990 })
	if got := c.ClientStats().EventsDropped; got < slow.Dropped() {
		t.Errorf("client EventsDropped = %d, want at least the subscription's %d", got, slow.Dropped())
	}
}

// holdFinishStore holds the first Finish that sends a job to scheduled
// between its commit and its return (so the completer has not published
// its event yet) until the promoter has promoted that job and then either
// the test saw the promotion's event or holdBound passed.
type holdFinishStore struct {
	store.Store
	held       atomic.Bool
	job        atomic.Int64
	promoted   chan struct{} // closed when Promote returned the held job
	seenQueued chan struct{} // closed by the test on the held job's scheduled→queued event
	promOnce   sync.Once
}

// holdBound is how long the held Finish waits for an event that must not
// come before it; it only bounds the test, the order is checked either way.
const holdBound = 300 * time.Millisecond

func (s *holdFinishStore) Finish(ctx context.Context, fs []store.FinishParams) ([]store.State, error) {
	// The job is named before the store call: the promoter may promote it
	// as soon as the finish commits, before the call returns here.
	for _, f := range fs {
		if f.State == rota.StateScheduled && !s.held.Load() {
			s.job.CompareAndSwap(0, f.ID)
		}
	}
	applied, err := s.Store.Finish(ctx, fs)
	for i, f := range fs {
		if err == nil && applied[i] != "" && f.State == rota.StateScheduled && s.held.CompareAndSwap(false, true) {
			select {
			case <-s.promoted:
			case <-time.After(waitTimeout):
			}
			select {
			case <-s.seenQueued:
			case <-time.After(holdBound):
			}
		}
	}
	return applied, err
}

func (s *holdFinishStore) Promote(ctx context.Context, now time.Time, limit int) ([]store.Transition, time.Time, error) {
	ts, next, err := s.Store.Promote(ctx, now, limit)
	for _, tr := range ts {
		if id := s.job.Load(); id != 0 && tr.Job.ID == id {
			s.promOnce.Do(func() { close(s.promoted) })
		}
	}
	return ts, next, err
}

// TestFinishEventBeforePromotion: a job that asks to retry at once is
// promoted as soon as its finish commits; the promotion's event must still
// come after the finish's event.
func TestFinishEventBeforePromotion(t *testing.T) {
	t.Parallel()
	st := &holdFinishStore{Store: openStore(t), promoted: make(chan struct{}), seenQueued: make(chan struct{})}
	c := newClient(t, st, rota.Options{})
	must(t, c.Register("test.again", rota.WorkFunc(calls(func(n int) error {
		if n == 1 {
			return rota.RetryAfter(0)
		}
		return nil
	}))))
	sub := c.Subscribe(100, rota.EventFilter{})
	defer sub.Close()
	start(t, c)

	j := enqueue(t, c, "test.again", nil)
	var got []string
	var once sync.Once
	waitEvent(t, sub, "job to be done", func(e rota.Event) bool {
		if e.JobID != j.ID {
			return false
		}
		got = append(got, string(e.From)+"→"+string(e.To))
		if e.From == rota.StateScheduled && e.To == rota.StateQueued {
			once.Do(func() { close(st.seenQueued) })
		}
		return e.To == rota.StateDone
	})
	want := "[→queued queued→running running→scheduled scheduled→queued queued→running running→done]"
	if fmt.Sprint(got) != want {
		t.Errorf("events = %s, want %s", fmt.Sprint(got), want)
	}
}
