package rota

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rotahq/rota/store"
)

// Pop claims the next job of queue that matches f for this node (OpenKAT's
// pop with filters), leased for LeaseDuration. The caller runs it and ends
// it with Complete or FailJob; a job not ended before its lease expires is
// rescued by a running node. Pop works without Start. It returns
// ErrNotFound when no job matches (or the queue is paused). The
// cluster-wide limits of the kinds named in f.Kinds, as this client knows
// them (registration and worker configuration), hold for Pop too; a Pop
// that names no kinds takes any kind and ignores cluster-wide limits.
func (c *Client) Pop(ctx context.Context, queue string, f PopFilter) (*Job, error) {
	if queue == "" {
		queue = store.DefaultQueue
	}
	if len(queue) > MaxNameLength || !nameRE.MatchString(queue) {
		return nil, fieldErr("queue", "%q must be 1-%d letters, digits or . _ - : /", queue, MaxNameLength)
	}
	p := store.ClaimParams{
		Queue:    queue,
		Node:     c.opts.NodeID,
		Limit:    1,
		Metadata: f.Metadata,
		Args:     f.Args,
	}
	if len(f.Kinds) > 0 {
		p.Kinds = make([]store.KindLimit, len(f.Kinds))
		for i, k := range f.Kinds {
			o := c.reg.options(k)
			p.Kinds[i] = store.KindLimit{Kind: k, Max: 1, GlobalMax: o.GlobalMaxWorkers, Rate: o.RateLimit}
		}
	}
	p.Now = c.now()
	p.LeaseUntil = p.Now.Add(c.opts.LeaseDuration)
	claimRes, err := c.store.Claim(ctx, p)
	jobs := claimRes.Jobs
	if err != nil {
		return nil, fmt.Errorf("rota: pop %s: %w", queue, err)
	}
	// Whoever pops runs the jobs: the kinds it asks for, found or not, and
	// the popped job's are served through this client (see RemoteKindTTL).
	c.remote.asked(p.Now, f.Kinds...)
	if len(jobs) == 0 {
		return nil, fmt.Errorf("rota: pop %s: no matching job: %w", queue, ErrNotFound)
	}
	j := jobs[0]
	c.remote.granted(j.ID, j.Kind, j.LeaseUntil, p.Now)
	c.events.gate.Lock()
	c.events.transitions([]store.Transition{{Job: j, From: StateQueued}}, p.Now)
	c.events.gate.Unlock()
	return newJob(j), nil
}

// Complete ends a popped job done with result (marshalled to JSON; nil
// keeps a result set with job.SetResult). It returns ErrConflict if the
// attempt is no longer running (its lease expired, or it was aborted).
func (c *Client) Complete(ctx context.Context, job *Job, result any) error {
	if job == nil {
		return fieldErr("job", "nil")
	}
	if result != nil {
		if err := job.SetResult(result); err != nil {
			return fieldErr("result", "%v", err)
		}
	}
	return c.FailJob(ctx, job, nil)
}

// FailJob ends a popped job the way a worker returning err would: nil is
// done, RetryAfter and Snooze put it back for later without counting the
// attempt, Cancel aborts it, Fail ends it in error, and any other error is
// retried with the kind's backoff while attempts remain. It returns
// ErrConflict if the attempt is no longer running.
func (c *Client) FailJob(ctx context.Context, job *Job, err error) error {
	if job == nil {
		return fieldErr("job", "nil")
	}
	now := c.now()
	ko := c.reg.options(job.Kind)
	bo := backoffOr(ko.Backoff)
	started := job.StartedAt
	if started.IsZero() {
		started = now
	}
	f := finishFor(&job.Job, c.opts.NodeID, started, now, err, nil, nil, false, bo)
	if f.State == StateDone {
		f.Result = job.resultJSON()
	}
	f.Limited = ko.GlobalMaxWorkers > 0
	// Held until the event is out; see eventBus.finishes.
	c.events.finishes.RLock()
	defer c.events.finishes.RUnlock()
	states, ferr := c.store.Finish(ctx, []store.FinishParams{f})
	if ferr != nil {
		return fmt.Errorf("rota: finish job %d: %w", job.ID, ferr)
	}
	if len(states) != 1 || states[0] == "" {
		return fmt.Errorf("rota: finish job %d attempt %d: not running: %w", job.ID, job.Attempt, ErrConflict)
	}
	j := job.Job
	j.State = states[0] // aborted if an abort won over a retry
	logFailure(func() *slog.Logger { return c.jobLogger(&j) }, f, j.State, j.MaxAttempts, false)
	if c.events.active() {
		e := jobEvent(&j, StateRunning, f.Error, now)
		e.Outcome, e.RunTime = f.Record.Outcome, f.Record.FinishedAt.Sub(f.Record.StartedAt)
		c.events.publish(e)
	} else {
		c.events.skip(1)
	}
	if !f.RunAt.IsZero() && !j.State.Final() {
		if n := c.runningNode(); n != nil {
			n.maint.consider(f.RunAt)
		}
	}
	return nil
}
