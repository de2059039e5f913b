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
// until woken (a store notice, a freed slot, a registry or configuration
// change, or the PollInterval fallback) and then claims as many jobs as it
// has free slots in one store call.
type producer struct {
	n     *node
	queue string
	max   int64
	used  atomic.Int64 // slots taken in this queue (running, reserved, finishing)
	wake  chan struct{}

	// Reused between claims (only the producer's goroutine touches them).
	limits   []store.KindLimit
	reserved []int64 // per kind index of the snapshot: slots reserved
	counts   []int64 // per kind index: jobs claimed
	batch    []*execution
}

func newProducer(n *node, queue string, maxWorkers int) *producer {
	return &producer{n: n, queue: queue, max: int64(maxWorkers), wake: make(chan struct{}, 1)}
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
	p.fill(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-tick.C:
		}
		p.fill(ctx)
	}
}

// fill claims until the queue's slots are full or a claim comes back short.
func (p *producer) fill(ctx context.Context) {
	for ctx.Err() == nil {
		got, asked, err := p.claimOnce(ctx)
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
		if asked == 0 || got < asked {
			return
		}
	}
}

// claimOnce makes one claim for the free slots. asked is 0 when there was
// nothing to ask for (no free slot, no runnable kind).
func (p *producer) claimOnce(ctx context.Context) (got, asked int, err error) {
	free := p.max - p.used.Load()
	if free <= 0 {
		return 0, 0, nil
	}
	snap := p.n.c.reg.snapshot()
	if len(snap.list) == 0 {
		return 0, 0, nil
	}
	nk := len(snap.list)
	p.limits = p.limits[:0]
	p.reserved = grow(p.reserved, nk)
	p.counts = grow(p.counts, nk)
	for i, k := range snap.list {
		m := free
		if k.opts.MaxWorkers > 0 {
			m = k.slots.reserve(int64(k.opts.MaxWorkers), free)
			p.reserved[i] = m
			if m == 0 {
				continue
			}
		}
		p.limits = append(p.limits, store.KindLimit{Kind: k.kind, Max: int(m)})
	}
	if len(p.limits) == 0 {
		return 0, 0, nil
	}
	p.used.Add(free)
	now := p.n.c.now()
	// The claim is not cancelled by shutdown: jobs it takes must not be
	// left running in the store without anyone holding them.
	jobs, err := p.n.store.Claim(context.WithoutCancel(ctx), store.ClaimParams{
		Queue:      p.queue,
		Node:       p.n.id,
		Limit:      int(free),
		Kinds:      p.limits,
		Now:        now,
		LeaseUntil: now.Add(p.n.lease),
	})
	p.used.Add(int64(len(jobs)) - free)
	for _, j := range jobs {
		if k := snap.byKind[j.Kind]; k != nil {
			p.counts[k.idx]++
		}
	}
	wakeOthers := false
	for i, k := range snap.list {
		if k.opts.MaxWorkers > 0 {
			if k.slots.settle(p.reserved[i], p.counts[i]) {
				wakeOthers = true
			}
		} else if p.counts[i] > 0 {
			k.slots.used.Add(p.counts[i])
		}
	}
	if wakeOthers {
		for _, o := range p.n.prodList {
			if o != p {
				o.wakeup()
			}
		}
	}
	if err != nil {
		return 0, int(free), err
	}
	p.launch(jobs, snap, now)
	return len(jobs), int(free), nil
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
		n.c.events.publish(es...)
	} else {
		n.c.events.skip(len(jobs))
	}
	for _, ex := range p.batch {
		go n.execute(ex)
	}
	clear(p.batch)
}
