package rota

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rotahq/rota/store"
)

// Maintenance batch sizes and intervals.
const (
	promoteBatch  = 1000
	rescueBatch   = 1000
	pruneBatch    = 10000
	pruneInterval = time.Hour
)

// maintenance runs the node's housekeeping: the promoter (scheduled and
// retrying jobs whose time came → queued), the rescuer (running jobs whose
// lease expired → queued or error) and the pruner (old final jobs and
// silent nodes → deleted).
//
// When several nodes share a store, only the leader (see leadership) runs
// the rescuer and the pruner: they scan the whole store, and one node doing
// it is enough. The promoter runs on every node: a promotion is guarded by
// the store (a job is promoted only while it is scheduled or retrying and
// due; PostgreSQL skips rows another promoter has locked, SQLite has one
// writer), so two promoters never promote a job twice, and every node
// keeps its own timer for the run_at it heard of, so that a delayed job
// starts on time without depending on the leader being alive.
type maintenance struct {
	n *node

	mu     sync.Mutex
	target time.Time     // when the promoter means to run next (zero: idle)
	kick   chan struct{} // promote now
	retime chan struct{} // target moved earlier
}

func newMaintenance(n *node) *maintenance {
	return &maintenance{n: n, kick: make(chan struct{}, 1), retime: make(chan struct{}, 1)}
}

// start launches the maintenance loops every node runs: the promoter.
func (m *maintenance) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() { m.promoteLoop(ctx) })
}

// leaderLoops are the loops only the leader runs, each under a context
// that ends when the node stops leading: the rescuer, the pruner and the
// schedule firing loop (the store's compare-and-set makes each fire time
// one job even when two nodes briefly both think they lead), then
// Options.LeaderTasks.
func (m *maintenance) leaderLoops() []func(context.Context) {
	return append([]func(context.Context){m.rescueLoop, m.pruneLoop, m.n.fire.loop}, m.n.c.opts.LeaderTasks...)
}

// consider tells the promoter a job waits until t; it wakes earlier if needed.
func (m *maintenance) consider(t time.Time) {
	if t.IsZero() {
		return
	}
	m.mu.Lock()
	earlier := m.target.IsZero() || t.Before(m.target)
	if earlier {
		m.target = t
	}
	m.mu.Unlock()
	if earlier {
		select {
		case m.retime <- struct{}{}:
		default:
		}
	}
}

// promoteSoon makes the promoter look at the store now.
func (m *maintenance) promoteSoon() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// promoteLoop sleeps until the earliest waiting run_at the store reported
// (or one a notice announced), then promotes what is due. PollInterval
// bounds the sleep as a fallback for changes made by other processes.
func (m *maintenance) promoteLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-m.kick:
		case <-m.retime:
			m.mu.Lock()
			t := m.target
			m.mu.Unlock()
			timer.Reset(max(t.Sub(m.n.c.now()), 0))
			continue
		}
		next := m.promote(ctx)
		now := m.n.c.now()
		m.mu.Lock()
		if !m.target.IsZero() && !m.target.After(now) {
			m.target = time.Time{}
		}
		if !next.IsZero() && (m.target.IsZero() || next.Before(m.target)) {
			m.target = next
		}
		t := m.target
		m.mu.Unlock()
		d := m.n.c.opts.PollInterval
		if !t.IsZero() {
			d = min(max(t.Sub(now), 0), d)
		}
		timer.Reset(d)
	}
}

// promote moves due jobs to queued, in batches; it returns the earliest
// run_at still waiting.
func (m *maintenance) promote(ctx context.Context) time.Time {
	for {
		now := m.n.c.now()
		m.n.c.events.gate.RLock()
		ts, next, err := m.n.store.Promote(ctx, now, promoteBatch)
		if err == nil {
			m.n.c.events.transitionsAfterFinishes(ts, now)
		}
		m.n.c.events.gate.RUnlock()
		if err != nil {
			if ctx.Err() == nil {
				m.n.log.Error("rota: promote", "err", err)
			}
			return time.Time{}
		}
		for _, t := range ts {
			if p := m.n.producers[t.Job.Queue]; p != nil {
				p.wakeup()
			}
		}
		if len(ts) < promoteBatch {
			return next
		}
	}
}

// rescueLoop takes back expired leases at start and every LeaseDuration/2.
func (m *maintenance) rescueLoop(ctx context.Context) {
	t := time.NewTicker(m.n.lease / 2)
	defer t.Stop()
	for {
		m.rescue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *maintenance) rescue(ctx context.Context) {
	for {
		now := m.n.c.now()
		m.n.c.events.gate.RLock()
		ts, err := m.n.store.Rescue(ctx, now, rescueBatch)
		if err == nil {
			m.n.c.events.rescued(ts, now)
		}
		m.n.c.events.gate.RUnlock()
		if err != nil {
			if ctx.Err() == nil {
				m.n.log.Error("rota: rescue", "err", err)
			}
			return
		}
		if len(ts) > 0 {
			m.n.log.Warn("rota: rescued jobs whose lease expired", "jobs", len(ts))
		}
		for _, t := range ts {
			// An attempt this node still runs (its heartbeats did not
			// renew the lease in time) is given up: another attempt may
			// start now, here or elsewhere.
			if ex := m.n.running.get(t.Job.ID); ex != nil && ex.job.Attempt == t.Job.Attempt {
				m.n.lose(ex)
			}
			if p := m.n.producers[t.Job.Queue]; p != nil {
				p.wakeup()
			}
		}
		if len(ts) < rescueBatch {
			return
		}
	}
}

// pruneLoop prunes old final jobs and the registry rows of nodes silent
// for NodeRetention, at start and every pruneInterval.
func (m *maintenance) pruneLoop(ctx context.Context) {
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		if _, err := m.n.c.prune(ctx); err != nil && ctx.Err() == nil {
			m.n.log.Error("rota: prune", "err", err)
		}
		if n, err := m.n.store.PruneNodes(ctx, m.n.c.now().Add(-NodeRetention)); err != nil {
			if ctx.Err() == nil {
				m.n.log.Error("rota: prune nodes", "err", err)
			}
		} else if n > 0 {
			m.n.log.Info("rota: pruned silent nodes from the registry", "nodes", n, "silent_for", NodeRetention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneParams returns the cutoffs of a prune at now: Options.Retention (or
// the worker configuration's default retention) for every kind, and its own
// for each kind this node runs or its configuration names (RetentionSource,
// KindLister) whose effective retention differs.
func (c *Client) pruneParams(now time.Time) store.PruneParams {
	global := c.opts.Retention
	kinds := c.reg.kinds()
	if rs, ok := c.reg.src.(RetentionSource); ok {
		if d := rs.DefaultRetention(); d > 0 {
			global = d
		}
		kinds = append(kinds, rs.RetentionKinds()...)
	}
	if kl, ok := c.reg.src.(KindLister); ok {
		kinds = append(kinds, kl.Kinds()...)
	}
	slices.Sort(kinds)
	p := store.PruneParams{Before: now.Add(-global), Limit: pruneBatch}
	for _, kind := range slices.Compact(kinds) {
		if r := c.reg.options(kind).Retention; r > 0 && r != global {
			if p.BeforeByKind == nil {
				p.BeforeByKind = make(map[string]time.Time)
			}
			p.BeforeByKind[kind] = now.Add(-r)
		}
	}
	return p
}

// Prune deletes final jobs older than their retention now (the leader
// also does this when it starts leading, and hourly). It returns how many jobs were deleted.
func (c *Client) Prune(ctx context.Context) (int64, error) { return c.prune(ctx) }

func (c *Client) prune(ctx context.Context) (int64, error) {
	p := c.pruneParams(c.now())
	var total int64
	for {
		n, err := c.store.Prune(ctx, p)
		total += n
		if err != nil {
			return total, fmt.Errorf("rota: prune: %w", err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}
