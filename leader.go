package rota

import (
	"context"
	"sync"
	"time"

	"github.com/rotahq/rota/store"
)

// DefaultLeaderLease is how long the leader's lease lasts without renewal
// (Options.LeaderLease): a leader that dies is replaced within it.
const DefaultLeaderLease = 5 * time.Second

// maintenanceLease is the name of the leader lease that gates the
// leader-only maintenance loops (see maintenance.leaderLoops).
const maintenanceLease = "maintenance"

// stopWriteTimeout bounds the writes a stopping node makes after its
// context ended: resigning the leadership and marking itself stopped.
const stopWriteTimeout = 5 * time.Second

// leadership campaigns for the maintenance lease and runs the leader-only
// loops while this node holds it.
//
// Every node campaigns every LeaderLease/3 (and at once when the store
// announces that the leader resigned); the store grants the lease to one
// candidate at a time. The leader renews it on the same cadence. It steps
// down, cancelling the leader-only loops, as soon as the store names
// another holder, or when the lease runs out on its own monotonic clock
// without a successful renewal (the store unreachable): by then another
// node may have taken over. A stopping leader resigns, so that another
// node takes over at once instead of after the lease.
type leadership struct {
	n     *node
	lease time.Duration
	kick  chan struct{} // campaign now

	mu       sync.Mutex
	term     int64              // the term this node leads in; 0 when it does not lead
	deadline time.Time          // monotonic: the lease runs out unless renewed before
	stop     context.CancelFunc // ends the leader-only loops of the term
	loops    *sync.WaitGroup    // the leader-only loops of the latest term
	expiry   *time.Timer        // steps down at deadline
	seen     store.Leader       // the last holder seen, to log changes once
}

func newLeadership(n *node) *leadership {
	return &leadership{n: n, lease: n.c.opts.LeaderLease, kick: make(chan struct{}, 1), loops: new(sync.WaitGroup)}
}

// campaignSoon makes the node campaign now (the lease was freed).
func (l *leadership) campaignSoon() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// leading reports whether this node leads now.
func (l *leadership) leading() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term != 0
}

// run campaigns until ctx ends, then steps down and resigns.
func (l *leadership) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			l.resign(ctx)
			return
		case <-timer.C:
		case <-l.kick:
		}
		timer.Reset(l.campaign(ctx))
	}
}

// campaign asks the store for the lease (or renews it) and acts on the
// answer. It returns when to campaign next: after LeaderLease/3, or when
// the holder's lease runs out if that is sooner, so that a dead leader is
// replaced within its lease.
func (l *leadership) campaign(ctx context.Context) time.Duration {
	every := l.lease / 3
	sent := time.Now() // the local deadline counts from before the request
	now := l.n.c.now()
	cctx, cancel := context.WithTimeout(ctx, l.lease)
	got, err := l.n.store.Lead(cctx, store.LeadParams{
		Name: maintenanceLease, Node: l.n.id, Instance: l.n.instance, Now: now, Until: now.Add(l.lease),
	})
	cancel()
	switch {
	case err != nil:
		// A leader keeps leading until its lease runs out (the expiry
		// timer), as the store keeps it the holder until then.
		if ctx.Err() == nil {
			l.n.log.Error("rota: leader election", "err", err)
		}
		return every
	case got.Node == l.n.id && got.Instance == l.n.instance:
		l.lead(got, sent.Add(l.lease))
		return every
	}
	l.follow(got)
	if got.HeldAt(now) {
		// Just past the holder's deadline, in case it stopped renewing.
		return min(every, got.Until.Sub(now)+time.Millisecond)
	}
	return every
}

// lead records a granted lease: a renewal moves the deadline; a new term
// starts the leader-only loops.
func (l *leadership) lead(got store.Leader, deadline time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deadline = deadline
	if l.term == got.Term {
		l.expiry.Reset(time.Until(deadline))
		return
	}
	if l.term != 0 { // lost and taken again since the last campaign
		l.endTermLocked()
	}
	// The loops of an earlier term were cancelled when it ended; they do
	// not run beside the new ones.
	l.loops.Wait()
	ctx, cancel := context.WithCancel(l.n.bg)
	l.term, l.stop, l.loops, l.seen = got.Term, cancel, new(sync.WaitGroup), got
	for _, f := range l.n.maint.leaderLoops() {
		l.loops.Go(func() { f(ctx) })
	}
	term := got.Term
	l.expiry = time.AfterFunc(time.Until(deadline), func() { l.expire(term) })
	l.n.log.Info("rota: this node leads", "lease", maintenanceLease, "term", term, "lease_duration", l.lease)
}

// expire steps down if the term's lease ran out without a renewal.
func (l *leadership) expire(term int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term != term || time.Now().Before(l.deadline) {
		return // renewed meanwhile, or already over
	}
	l.endTermLocked()
	l.n.log.Warn("rota: this node no longer leads: its lease ran out without renewal",
		"lease", maintenanceLease, "term", term)
}

// follow records that got's holder leads: if this node led, it steps down.
func (l *leadership) follow(got store.Leader) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term != 0 {
		term := l.term
		l.endTermLocked()
		l.n.log.Info("rota: this node no longer leads: another node holds the lease",
			"lease", maintenanceLease, "term", term, "leader", got.Node, "leader_term", got.Term)
	} else if got.Node != "" && got.Term != l.seen.Term {
		l.n.log.Info("rota: another node leads", "lease", maintenanceLease, "leader", got.Node, "term", got.Term)
	}
	l.seen = got
}

// endTermLocked cancels the leader-only loops (without waiting for them).
// l.mu is held.
func (l *leadership) endTermLocked() {
	l.stop()
	l.expiry.Stop()
	l.term = 0
}

// resign ends the term of a stopping node: it stops the leader-only loops,
// waits for them, and frees the lease in the store.
func (l *leadership) resign(ctx context.Context) {
	l.mu.Lock()
	term := l.term
	if term != 0 {
		l.endTermLocked()
	}
	loops := l.loops
	l.mu.Unlock()
	loops.Wait()
	if term == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopWriteTimeout)
	defer cancel()
	if _, err := l.n.store.Resign(rctx, maintenanceLease, l.n.id, l.n.instance); err != nil {
		l.n.log.Error("rota: resign leadership", "lease", maintenanceLease, "term", term, "err", err)
		return
	}
	l.n.log.Info("rota: this node resigned its leadership", "lease", maintenanceLease, "term", term)
}
