package rota

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rotahq/rota/store"
)

// claimErrorBackoff is how long a producer waits after a failed claim before
// trying again (a wake-up still makes it try at once).
const claimErrorBackoff = 100 * time.Millisecond

// producer claims and starts the jobs of one queue on this node. It sleeps
// until woken (a store notice, a freed slot it was waiting for, a registry
// or configuration change, or the PollInterval fallback) and then claims as
// many jobs as it has free slots in one store call.
//
// A freed slot wakes the producer only if slots held it back: its queue was
// full (more) or a kind was at its cap (the kind's waiters). Otherwise the
// queue had no more runnable jobs at its last claim, and new ones announce
// themselves with a notice; this keeps an idle node from making an empty
// claim after every job. Both sides write their flag before reading the
// other's counter, so a slot freed during a claim is never missed.
type producer struct {
	n     *node
	queue string
	bit   uint64 // this producer's bit in kindSlots.waiters
	max   int64
	used  atomic.Int64 // slots taken in this queue (running, reserved, finishing)
	more  atomic.Bool  // the last claim was cut short by the queue's slots
	wake  chan struct{}

	// Reused between claims (only the producer's goroutine touches them).
	limits   []store.KindLimit
	reserved []int64  // per kind index of the snapshot: slots reserved
	counts   []int64  // per kind index: jobs claimed
	freedGen []uint64 // per kind index: kindSlots.freed before the claim
	batch    []*execution

	// nextStart is the earliest time a kind that its rate limit held back
	// may start again, found by the last fill (zero: none); the producer
	// sleeps until then at most.
	nextStart time.Time
}

func newProducer(n *node, queue string, idx, maxWorkers int) *producer {
	return &producer{n: n, queue: queue, bit: 1 << (idx % 64), max: int64(maxWorkers), wake: make(chan struct{}, 1)}
}

// wakeup asks the producer to claim; wake-ups coalesce.
func (p *producer) wakeup() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *producer) run(ctx context.Context) {
	tick := time.NewTicker(p.n.c.opts.PollInterval)
	defer tick.Stop()
	// rate fires when a kind that its rate limit held back may start again.
	rate := time.NewTimer(time.Hour)
	rate.Stop()
	defer rate.Stop()
	for {
		p.fill(ctx)
		if !p.nextStart.IsZero() {
			rate.Reset(max(p.nextStart.Sub(p.n.c.now()), 0))
		} else {
			rate.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-rate.C:
		case <-tick.C:
			// The fallback poll also claims the kinds that were at their
			// cluster-wide maximum, in case a slot was freed unannounced
			// (a job rescued from a dead node, a node without the limit).
			for _, k := range p.n.c.reg.snapshot().list {
				if k.opts.GlobalMaxWorkers > 0 {
					k.slots.freed.Add(1)
				}
			}
		}
	}
}

// fill claims until the queue's slots are full or there is nothing more.
func (p *producer) fill(ctx context.Context) {
	p.nextStart = time.Time{}
	for ctx.Err() == nil {
		again, err := p.claimOnce(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.n.log.Error("rota: claim", "queue", p.queue, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(claimErrorBackoff):
				}
			}
			return
		}
		if !again {
			return
		}
	}
}

// free returns the queue's free slots; when there are none it records that
// the producer waits for one.
func (p *producer) free() int64 {
	if free := p.max - p.used.Load(); free > 0 {
		return free
	}
	p.more.Store(true)
	return p.max - p.used.Load() // a slot freed before more was seen
}

// claimOnce makes one claim for the free slots. again reports that another
// claim may find more.
func (p *producer) claimOnce(ctx context.Context) (again bool, err error) {
	free := p.free()
	if free <= 0 {
		return false, nil
	}
	reg := p.n.c.reg
	reg.claims.RLock()
	defer reg.claims.RUnlock()
	snap := reg.snapshot()
	if len(snap.list) == 0 {
		return false, nil
	}
	nk := len(snap.list)
	p.limits = p.limits[:0]
	p.reserved = grow(p.reserved, nk)
	p.counts = grow(p.counts, nk)
	if cap(p.freedGen) < nk {
		p.freedGen = make([]uint64, nk)
	}
	p.freedGen = p.freedGen[:nk]
	now := p.n.c.now()
	for i, k := range snap.list {
		if p.held(k, now) {
			continue
		}
		p.freedGen[i] = k.slots.freed.Load()
		m := free
		if c := int64(k.opts.MaxWorkers); c > 0 {
			m = k.slots.reserve(c, free)
			p.reserved[i] = m
			if m == 0 {
				// At its cap: wait for one of its slots.
				k.slots.waiters.Or(p.bit)
				if k.slots.used.Load() < c {
					again = true
				}
				continue
			}
		}
		p.limits = append(p.limits, store.KindLimit{Kind: k.kind, Max: int(m),
			GlobalMax: k.opts.GlobalMaxWorkers, Rate: k.opts.RateLimit})
	}
	if len(p.limits) == 0 {
		return again, nil
	}
	p.used.Add(free)
	// The claim is not cancelled by shutdown: jobs it takes must not be
	// left running in the store without anyone holding them.
	res, err := p.n.store.Claim(context.WithoutCancel(ctx), store.ClaimParams{
		Queue:      p.queue,
		Node:       p.n.id,
		Limit:      int(free),
		Kinds:      p.limits,
		Now:        now,
		LeaseUntil: now.Add(p.n.lease),
	})
	jobs := res.Jobs
	got := int64(len(jobs))
	p.noteHeld(res, snap)
	for _, j := range jobs {
		if k := snap.byKind[j.Kind]; k != nil {
			p.counts[k.idx]++
		}
	}
	var wake uint64
	for i, k := range snap.list {
		c := int64(k.opts.MaxWorkers)
		switch {
		case c <= 0:
			if p.counts[i] > 0 {
				k.slots.used.Add(p.counts[i])
			}
		case p.reserved[i] > 0:
			if unused := p.reserved[i] - p.counts[i]; unused > 0 {
				k.slots.used.Add(-unused)
				wake |= k.slots.waiters.Load() &^ p.bit
			}
			if err == nil && p.counts[i] >= p.reserved[i] {
				k.slots.waiters.Or(p.bit) // may have more: wait for a slot
				if k.slots.used.Load() < c {
					again = true
				}
			} else if err == nil {
				k.slots.waiters.And(^p.bit)
			}
		}
	}
	p.used.Add(got - free)
	if wake != 0 {
		p.n.wakeMask(wake)
	}
	if err != nil {
		return false, err
	}
	if got < free {
		p.more.Store(false)
	} else {
		again = true
	}
	p.launch(jobs, snap, now)
	return again, nil
}

// held reports whether kind k is left out of the claim: the store said it
// is at its cluster-wide maximum and no job of it stopped running since
// (NoticeFreed), or its rate limit allows no start before a later time
// (which the producer then sleeps until at most).
func (p *producer) held(k *kindRT, now time.Time) bool {
	if k.opts.GlobalMaxWorkers > 0 {
		if full := k.slots.full.Load(); full != 0 && full == k.slots.freed.Load()+1 {
			return true
		}
	}
	if k.opts.RateLimit.N > 0 {
		if until := k.slots.rateUntil.Load(); until != 0 && now.UnixNano() < until {
			p.waitStart(time.Unix(0, until))
			return true
		}
	}
	return false
}

// noteHeld records the kinds the claim's cluster-wide limits held back.
// A kind at its maximum is marked with the freed count read before the
// claim, so a NoticeFreed that came meanwhile is not lost.
func (p *producer) noteHeld(res store.ClaimResult, snap *regSnapshot) {
	for _, kind := range res.AtMax {
		if k := snap.byKind[kind]; k != nil {
			k.slots.full.Store(p.freedGen[k.idx] + 1)
		}
	}
	for kind, t := range res.NextStart {
		if k := snap.byKind[kind]; k != nil {
			k.slots.rateUntil.Store(t.UnixNano())
		}
		p.waitStart(t)
	}
}

// waitStart makes the producer claim again at t at the latest.
func (p *producer) waitStart(t time.Time) {
	if p.nextStart.IsZero() || t.Before(p.nextStart) {
		p.nextStart = t
	}
}

// grow returns s resized to n zeroed elements.
func grow(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// launch starts a goroutine per claimed job.
func (p *producer) launch(jobs []*store.Job, snap *regSnapshot, now time.Time) {
	if len(jobs) == 0 {
		return
	}
	n := p.n
	p.batch = p.batch[:0]
	for _, j := range jobs {
		ex := newExecution(n, p, snap.byKind[j.Kind], j, now)
		p.batch = append(p.batch, ex)
		if old := n.running.get(j.ID); old != nil {
			// The store gave us the job again: an earlier attempt that
			// still runs here lost its lease and was rescued. Give it up
			// (cancel it) before the new attempt starts, or it would run
			// on beside it, out of the heartbeats' sight.
			n.lose(old)
		}
	}
	n.running.addAll(p.batch)
	n.active.Add(int64(len(p.batch)))
	n.inflight.Add(int64(len(p.batch)))
	n.execWG.Add(len(p.batch))
	if n.c.events.active() {
		es := make([]Event, len(jobs))
		for i, j := range jobs {
			es[i] = jobEvent(j, StateQueued, "", now)
		}
		n.c.events.gate.Lock()
		n.c.events.publish(es...)
		n.c.events.gate.Unlock()
	} else {
		n.c.events.skip(len(jobs))
	}
	for _, ex := range p.batch {
		go n.execute(ex)
	}
	clear(p.batch)
}
