package rota_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

// TestEventFields checks every field an event carries (job id, kind, queue,
// key, metadata, from, to, attempt, error, time) along a job's life: a failed
// attempt, the retry, and a done attempt.
func TestEventFields(t *testing.T) {
	t.Parallel()
	fast := rota.BackoffFunc(func(int) time.Duration { return time.Millisecond })
	c := newClient(t, openStore(t), rota.Options{Queues: map[string]rota.QueueConfig{"q1": {MaxWorkers: 2}}})
	must(t, c.Register("test.fields", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		if rota.AttemptFrom(ctx) == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	}), rota.KindOptions{Backoff: fast}))
	sub := c.Subscribe(100, rota.EventFilter{})
	defer sub.Close()
	start(t, c)

	md := map[string]string{"tenant_id": "9", "user_id": "7"}
	before := time.Now()
	j := enqueue(t, c, "test.fields", nil, rota.Queue("q1"), rota.Key("doc-1", ""), rota.Metadata(md))

	type want struct {
		from, to rota.State
		attempt  int
		err      string
	}
	wants := []want{
		{"", rota.StateQueued, 0, ""},
		{rota.StateQueued, rota.StateRunning, 1, ""},
		{rota.StateRunning, rota.StateRetrying, 1, "first attempt fails"},
		{rota.StateRetrying, rota.StateQueued, 1, "first attempt fails"},
		{rota.StateQueued, rota.StateRunning, 2, ""},
		{rota.StateRunning, rota.StateDone, 2, ""},
	}
	var prev uint64
	for i, w := range wants {
		e := waitEvent(t, sub, "event "+string(w.from)+"→"+string(w.to), func(e rota.Event) bool { return e.JobID == j.ID })
		if e.From != w.from || e.To != w.to {
			t.Fatalf("event %d is %s→%s, want %s→%s", i, e.From, e.To, w.from, w.to)
		}
		if e.Kind != "test.fields" || e.Queue != "q1" || e.Key != "doc-1" || !maps.Equal(e.Metadata, md) {
			t.Errorf("event %d (%s→%s): kind %q queue %q key %q metadata %v, want the job's",
				i, e.From, e.To, e.Kind, e.Queue, e.Key, e.Metadata)
		}
		if e.Attempt != w.attempt || e.Error != w.err {
			t.Errorf("event %d (%s→%s): attempt %d error %q, want %d %q", i, e.From, e.To, e.Attempt, e.Error, w.attempt, w.err)
		}
		// Times are when the node made the change, read around the store
		// call; events are ordered by Seq, and two made microseconds apart
		// by different parts of the engine may have their times swapped.
		if e.At.Before(before.Add(-time.Second)) || e.At.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d (%s→%s): time %s, want now", i, e.From, e.To, e.At)
		}
		if e.Seq <= prev {
			t.Errorf("event %d (%s→%s): seq %d, want after the previous event's %d", i, e.From, e.To, e.Seq, prev)
		}
		prev = e.Seq
	}
}
