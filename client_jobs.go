package rota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rotahq/rota/store"
)

// Enqueue adds one job of kind with args (marshalled to JSON) and options.
// If a key names an active job, the existing job is returned (or updated,
// or rejected with ErrDuplicate) as the key's conflict policy says.
func (c *Client) Enqueue(ctx context.Context, kind string, args any, opts ...EnqueueOption) (*Job, error) {
	p := EnqueueParams{Kind: kind, Args: args}
	for _, o := range opts {
		o(&p)
	}
	return c.EnqueueParams(ctx, p)
}

// EnqueueParams adds one job spelled out in full.
func (c *Client) EnqueueParams(ctx context.Context, p EnqueueParams) (*Job, error) {
	jobs, err := c.insert(ctx, []EnqueueParams{p}, false)
	if err != nil {
		return nil, err
	}
	return jobs[0], nil
}

// EnqueueMany adds jobs all together or not at all; an error names the
// index of the job that failed. Jobs come back in input order.
func (c *Client) EnqueueMany(ctx context.Context, ps []EnqueueParams) ([]*Job, error) {
	return c.insert(ctx, ps, true)
}

// Batch collects the jobs fn adds to a Batch and enqueues them all together
// or none (InsightCloudSec's tracker). If fn returns an error nothing is
// enqueued and the error is returned.
func (c *Client) Batch(ctx context.Context, fn func(b *Batch) error) ([]*Job, error) {
	var b Batch
	if err := fn(&b); err != nil {
		return nil, err
	}
	return c.insert(ctx, b.params, true)
}

// EnqueueTx is Enqueue inside tx, a transaction of the caller's own on the
// client's database, so that the job exists if and only if tx commits
// (River's InsertTx). For the PostgreSQL store tx is a pgx.Tx, begun on
// any pool or connection to the store's database:
//
//	tx, err := pool.Begin(ctx)
//	...
//	if _, err := client.EnqueueTx(ctx, tx, "email.send", args); err != nil { ... }
//	return tx.Commit(ctx) // nodes are woken when it commits
//
// The options, defaults, validation, key conflict policies and queue caps
// are Enqueue's. Nodes are notified in tx, so they hear of the job when it
// commits. No event is published for the new job (the client cannot know
// whether tx commits); its later transitions are published as usual. When
// EnqueueTx fails, nothing it did remains in tx; whether tx is still usable
// is up to the store (the PostgreSQL store keeps it usable unless the
// failure broke the transaction itself, and says so). A store that cannot
// write in the caller's transaction (SQLite) fails with an error that
// matches ErrUnsupported and names the driver.
func (c *Client) EnqueueTx(ctx context.Context, tx any, kind string, args any, opts ...EnqueueOption) (*Job, error) {
	p := EnqueueParams{Kind: kind, Args: args}
	for _, o := range opts {
		o(&p)
	}
	jobs, err := c.insertTx(ctx, tx, []EnqueueParams{p}, false)
	if err != nil {
		return nil, err
	}
	return jobs[0], nil
}

// EnqueueManyTx is EnqueueMany inside tx (see EnqueueTx): all of ps or
// none, and only if tx commits.
func (c *Client) EnqueueManyTx(ctx context.Context, tx any, ps []EnqueueParams) ([]*Job, error) {
	return c.insertTx(ctx, tx, ps, true)
}

// BatchTx is Batch inside tx (see EnqueueTx): the jobs fn adds exist all
// together, and only if tx commits.
func (c *Client) BatchTx(ctx context.Context, tx any, fn func(b *Batch) error) ([]*Job, error) {
	var b Batch
	if err := fn(&b); err != nil {
		return nil, err
	}
	return c.insertTx(ctx, tx, b.params, true)
}

// insertTx validates, ranks and inserts ps in the caller's transaction tx.
func (c *Client) insertTx(ctx context.Context, tx any, ps []EnqueueParams, many bool) ([]*Job, error) {
	if tx == nil {
		return nil, fieldErr("tx", "nil transaction")
	}
	ti, ok := c.store.(store.TxInserter)
	if !ok {
		return nil, fmt.Errorf("rota: enqueue in a transaction: the %s store cannot write in the caller's transaction: %w",
			c.store.Driver(), ErrUnsupported)
	}
	if len(ps) == 0 {
		return nil, nil
	}
	now, ips, err := c.prepare(ctx, ps, many)
	if err != nil {
		return nil, err
	}
	res, err := ti.InsertTx(ctx, tx, now, ips)
	if err != nil {
		return nil, insertErr("enqueue in a transaction", err, many)
	}
	jobs := make([]*Job, len(res))
	for i, r := range res {
		jobs[i] = newJob(r.Job)
		jobs[i].Duplicate = r.Duplicate
	}
	return jobs, nil
}

// insertErr is the error of an insert that failed with err; op names the
// call. A refused duplicate is given by its reason alone, not the store's
// call chain, and in a many-job call with the index of the job refused.
func insertErr(op string, err error, many bool) error {
	var de *DuplicateKeyError
	switch {
	case !errors.As(err, &de):
		return fmt.Errorf("rota: %s: %w", op, err)
	case many:
		return fmt.Errorf("rota: %s: %w", op, indexErr(de.Index, de))
	}
	return fmt.Errorf("rota: %s: %w", op, de)
}

// insert validates, ranks and inserts ps, and publishes their events.
func (c *Client) insert(ctx context.Context, ps []EnqueueParams, many bool) ([]*Job, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	now, ips, err := c.prepare(ctx, ps, many)
	if err != nil {
		return nil, err
	}
	// The gate is held from before the insert until its events are out
	// (eventBus.gate). A store whose commits are visible before they are
	// durable (store.CommitHookInserter) publishes them at the commit, so
	// a claim of the new jobs need not wait for the disk to publish its own.
	c.events.gate.RLock()
	var once sync.Once
	published := func(res []store.InsertResult) {
		once.Do(func() {
			defer c.events.gate.RUnlock()
			if res == nil {
				return
			}
			publish := c.events.active()
			var es []Event
			for _, r := range res {
				switch {
				case r.Duplicate:
				case publish:
					es = append(es, jobEvent(r.Job, "", "", now))
				default:
					c.events.skip(1)
				}
			}
			c.events.publish(es...)
		})
	}
	var res []store.InsertResult
	if hi, ok := c.store.(store.CommitHookInserter); ok {
		res, err = hi.InsertHooked(ctx, now, ips, published)
	} else {
		res, err = c.store.Insert(ctx, now, ips)
	}
	if err != nil {
		published(nil)
		return nil, insertErr("enqueue", err, many)
	}
	published(res)
	jobs := make([]*Job, len(res))
	for i, r := range res {
		jobs[i] = newJob(r.Job)
		jobs[i].Duplicate = r.Duplicate
	}
	return jobs, nil
}

// prepare validates and ranks ps at the client's now; an error of a
// many-job enqueue names the index of the job.
func (c *Client) prepare(ctx context.Context, ps []EnqueueParams, many bool) (time.Time, []store.InsertParams, error) {
	name := func(i int, err error) error {
		if many {
			return indexErr(i, err)
		}
		return err
	}
	now := c.now()
	ips := make([]store.InsertParams, len(ps))
	var lastKind string
	var ko KindOptions
	for i := range ps {
		p := &ps[i]
		if i == 0 || p.Kind != lastKind {
			ko, lastKind = c.reg.options(p.Kind), p.Kind
		}
		ip, rank, err := p.validate(now, ko)
		if err != nil {
			return now, nil, name(i, err)
		}
		if rank {
			pr, err := ko.Ranker.Rank(ctx, RankInput{
				Kind: ip.Kind, Key: ip.Key, Queue: ip.Queue, Args: ip.Args, Metadata: ip.Metadata,
				UserRequested: p.UserRequested, Now: now, History: c.store,
			})
			if err != nil {
				return now, nil, name(i, fmt.Errorf("rota: rank %s: %w", ip.Kind, err))
			}
			if pr < store.MinPriority || pr > store.MaxPriority {
				return now, nil, name(i, fieldErr("priority", "ranker gave %d, out of range %d..%d", pr, store.MinPriority, store.MaxPriority))
			}
			ip.Priority = pr
		}
		ips[i] = ip
	}
	return now, ips, nil
}

// Get returns a job with its attempt history.
func (c *Client) Get(ctx context.Context, id int64) (*Job, error) {
	j, err := c.store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("rota: get job %d: %w", id, err)
	}
	return newJob(j), nil
}

// GetByKey returns the active job of (kind, key), or else the newest one.
func (c *Client) GetByKey(ctx context.Context, kind, key string) (*Job, error) {
	j, err := c.store.GetByKey(ctx, kind, key)
	if err != nil {
		return nil, fmt.Errorf("rota: get %s key %q: %w", kind, key, err)
	}
	return newJob(j), nil
}

// List returns a page of jobs (without attempt history).
func (c *Client) List(ctx context.Context, p ListParams) (ListPage, error) {
	pg, err := c.store.List(ctx, p)
	if err != nil {
		return ListPage{}, fmt.Errorf("rota: list: %w", err)
	}
	out := ListPage{Jobs: make([]*Job, len(pg.Jobs)), NextAfterID: pg.NextAfterID}
	for i, j := range pg.Jobs {
		out.Jobs[i] = newJob(j)
	}
	return out, nil
}

// Stats returns job counts by state, by queue and by kind.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	counts, err := c.store.Counts(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("rota: stats: %w", err)
	}
	s := Stats{
		ByState: make(map[State]int64),
		ByQueue: make(map[string]map[State]int64),
		ByKind:  make(map[string]map[State]int64),
	}
	add := func(m map[string]map[State]int64, k string, st State, n int64) {
		if m[k] == nil {
			m[k] = make(map[State]int64)
		}
		m[k][st] += n
	}
	for _, ct := range counts {
		s.ByState[ct.State] += ct.N
		add(s.ByQueue, ct.Queue, ct.State, ct.N)
		add(s.ByKind, ct.Kind, ct.State, ct.N)
	}
	return s, nil
}

// CountsByHour returns, per hour in [from, to), how many jobs are in each state.
func (c *Client) CountsByHour(ctx context.Context, from, to time.Time) ([]HourCount, error) {
	hc, err := c.store.CountsByHour(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("rota: counts by hour: %w", err)
	}
	return hc, nil
}

// Abort aborts job id: a waiting job ends aborted at once; a running one
// has its context cancelled (on whichever node runs it) and ends aborted
// when its worker returns, or after AbortGrace if it does not. It returns
// the job as it is now, ErrNotFound for an unknown job and ErrConflict for
// a job that is already final.
func (c *Client) Abort(ctx context.Context, id int64, reason string) (*Job, error) {
	return c.cancel(ctx, store.CancelParams{ID: id, Reason: reason})
}

// AbortKey aborts the active job of (kind, key); see Abort. When the key
// has jobs but none active, the ErrConflict names the latest:
// `cannot abort job 12 (kind a.b, key "x"): it is already aborted`.
func (c *Client) AbortKey(ctx context.Context, kind, key, reason string) (*Job, error) {
	if kind == "" || key == "" {
		return nil, fieldErr("key", "kind and key are both required")
	}
	j, err := c.cancel(ctx, store.CancelParams{Kind: kind, Key: key, Reason: reason})
	if errors.Is(err, ErrConflict) {
		return nil, c.endedKeyError(ctx, kind, key, err)
	}
	return j, err
}

// endedKeyError words err, the store's ErrConflict for an abort by key
// whose job has ended, naming that job (the key's latest). It returns err
// as it is if that job cannot be read or is no longer final (a new job of
// the key was enqueued meanwhile).
func (c *Client) endedKeyError(ctx context.Context, kind, key string, err error) error {
	page, lerr := c.store.List(ctx, store.ListParams{Kinds: []string{kind}, Key: key, Desc: true, Limit: 1})
	if lerr != nil || len(page.Jobs) == 0 || !page.Jobs[0].State.Final() {
		return err
	}
	j := page.Jobs[0]
	how := "it is already " + string(j.State)
	if j.State == StateError {
		how = "it has already ended in error"
	}
	return &wordedError{msg: fmt.Sprintf("rota: cannot abort job %d (kind %s, key %q): %s", j.ID, kind, key, how), err: err}
}

func (c *Client) cancel(ctx context.Context, p store.CancelParams) (*Job, error) {
	n := c.runningNode()
	if n != nil && p.Reason != "" {
		var k any = p.ID
		if p.ID == 0 {
			k = kindKey{p.Kind, p.Key}
		}
		n.abortReasons.Store(k, p.Reason)
		defer n.abortReasons.Delete(k)
	}
	p.Now = c.now()
	// Held across the store's cancel and the local abort so that the
	// completer either writes a finish that knows of the abort or wrote
	// its finish before the store's cancel saw the job (see completer.write).
	c.events.finishes.Lock()
	defer c.events.finishes.Unlock()
	tr, err := c.store.Cancel(ctx, p)
	if err != nil {
		if p.ID != 0 {
			return nil, fmt.Errorf("rota: abort job %d: %w", p.ID, err)
		}
		return nil, fmt.Errorf("rota: abort %s key %q: %w", p.Kind, p.Key, err)
	}
	if tr.Job == nil {
		return nil, fmt.Errorf("rota: abort: store returned no job: %w", ErrNotFound)
	}
	if tr.Job.State != tr.From {
		c.events.transitions([]store.Transition{tr}, p.Now) // after the finishes: finishes is held
	}
	if tr.Job.State == StateRunning && n != nil {
		if ex := n.running.get(tr.Job.ID); ex != nil {
			n.abortLocal(ex, p.Reason)
		}
	}
	return newJob(tr.Job), nil
}

// Retry puts a final, scheduled or retrying job back to queued now (with
// one more attempt if its attempts are used up).
func (c *Client) Retry(ctx context.Context, id int64) (*Job, error) {
	now := c.now()
	c.events.gate.RLock()
	defer c.events.gate.RUnlock()
	tr, err := c.store.Retry(ctx, id, now)
	if err != nil {
		return nil, fmt.Errorf("rota: retry job %d: %w", id, err)
	}
	c.events.transitionsAfterFinishes([]store.Transition{tr}, now)
	return newJob(tr.Job), nil
}

// Release moves a held (ready) job to queued, or scheduled if its run_at is
// in the future.
func (c *Client) Release(ctx context.Context, id int64) (*Job, error) {
	now := c.now()
	c.events.gate.RLock()
	defer c.events.gate.RUnlock()
	tr, err := c.store.Release(ctx, id, now)
	if err != nil {
		return nil, fmt.Errorf("rota: release job %d: %w", id, err)
	}
	c.events.transitions([]store.Transition{tr}, now)
	return newJob(tr.Job), nil
}

// Delete removes a job that is not running and returns it.
func (c *Client) Delete(ctx context.Context, id int64) (*Job, error) {
	j, err := c.store.Delete(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("rota: delete job %d: %w", id, err)
	}
	return newJob(j), nil
}

// Queues lists every queue with its settings and counts.
func (c *Client) Queues(ctx context.Context) ([]QueueInfo, error) {
	qs, err := c.store.Queues(ctx)
	if err != nil {
		return nil, fmt.Errorf("rota: queues: %w", err)
	}
	return qs, nil
}

// UpdateQueue changes a queue's settings (creating the queue if needed).
func (c *Client) UpdateQueue(ctx context.Context, name string, u QueueUpdate) (QueueInfo, error) {
	if name == "" || len(name) > MaxNameLength || !nameRE.MatchString(name) {
		return QueueInfo{}, fieldErr("queue", "%q must be 1-%d letters, digits or . _ - : /", name, MaxNameLength)
	}
	if u.MaxSize != nil && *u.MaxSize < 0 {
		return QueueInfo{}, fieldErr("max_size", "%d is negative", *u.MaxSize)
	}
	if u.UrgentPriority != nil && (*u.UrgentPriority < -1 || *u.UrgentPriority > store.MaxPriority) {
		return QueueInfo{}, fieldErr("urgent_priority", "%d is out of range -1..%d", *u.UrgentPriority, store.MaxPriority)
	}
	q, err := c.store.UpdateQueue(ctx, store.QueueUpdate{
		Name: name, Paused: u.Paused, MaxSize: u.MaxSize, UrgentPriority: u.UrgentPriority, Now: c.now(),
	})
	if err != nil {
		return QueueInfo{}, fmt.Errorf("rota: update queue %s: %w", name, err)
	}
	if n := c.runningNode(); n != nil {
		if p := n.producers[name]; p != nil {
			p.wakeup()
		}
	}
	return q, nil
}

// PauseQueue stops every node from claiming jobs of the queue; running jobs go on.
func (c *Client) PauseQueue(ctx context.Context, name string) error {
	paused := true
	_, err := c.UpdateQueue(ctx, name, QueueUpdate{Paused: &paused})
	return err
}

// ResumeQueue lets nodes claim jobs of the queue again.
func (c *Client) ResumeQueue(ctx context.Context, name string) error {
	paused := false
	_, err := c.UpdateQueue(ctx, name, QueueUpdate{Paused: &paused})
	return err
}
