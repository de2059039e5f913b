package rota

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotahq/rota/store"
)

// node is a started client's engine: producers, executions, the completer,
// heartbeats, maintenance, leader election and the node's registry row.
type node struct {
	c     *Client
	store store.Store
	log   *slog.Logger
	id    string
	// instance tells this start of the node apart from other processes
	// (or earlier starts) with the same id.
	instance string
	lease    time.Duration

	// jobBase is the parent of every job context: the values of Start's
	// context without its cancellation.
	jobBase context.Context

	loops     context.Context // producers
	stopLoops context.CancelFunc
	bg        context.Context // notice dispatcher, heartbeats, maintenance, config watch
	stopBg    context.CancelFunc
	loopWG    sync.WaitGroup
	bgWG      sync.WaitGroup
	execWG    sync.WaitGroup // one per job goroutine
	producers map[string]*producer
	prodList  []*producer
	completer *completer
	running   runningSet
	maint     *maintenance
	fire      *firing
	lead      *leadership
	presence  *presence
	hbNow     chan struct{}
	stopping  atomic.Bool
	active    atomic.Int64 // slots taken: jobs whose goroutine or finish is pending
	inflight  atomic.Int64 // jobs whose finish is not yet handed to the completer
	// leasesLost counts the attempts this node gave up because their lease
	// was lost (ClientStats.LeasesLost).
	leasesLost atomic.Uint64
	refsBuf    []store.JobRef
	// abortReasons holds the reasons of aborts this client is making, by
	// job id or kindKey, so that the store's notice (which may arrive before
	// the Abort call returns) cancels the job with its reason.
	abortReasons sync.Map
	notices      <-chan store.Notice
	stopNotice   context.CancelFunc
}

func newNode(c *Client, startCtx context.Context) *node {
	n := &node{
		c:         c,
		store:     c.store,
		log:       c.log,
		id:        c.opts.NodeID,
		instance:  newInstance(),
		lease:     c.opts.LeaseDuration,
		jobBase:   context.WithoutCancel(startCtx),
		producers: make(map[string]*producer, len(c.opts.Queues)),
		hbNow:     make(chan struct{}, 1),
	}
	n.running.m = make(map[int64]*execution)
	n.loops, n.stopLoops = context.WithCancel(n.jobBase)
	n.bg, n.stopBg = context.WithCancel(n.jobBase)
	names := slices.Sorted(maps.Keys(c.opts.Queues))
	for i, q := range names {
		p := newProducer(n, q, i, c.opts.Queues[q].MaxWorkers)
		n.producers[q] = p
		n.prodList = append(n.prodList, p)
	}
	n.completer = newCompleter(n)
	n.maint = newMaintenance(n)
	n.fire = newFiring(n)
	n.lead = newLeadership(n)
	n.presence = newPresence(n)
	return n
}

// start launches the node's goroutines.
func (n *node) start() {
	var nctx context.Context
	nctx, n.stopNotice = context.WithCancel(n.jobBase)
	n.notices = n.store.Subscribe(nctx)

	wake := func() {
		n.wakeAll()
		n.fire.periodicChanged()
	}
	n.c.reg.onChange.Store(&wake)
	n.c.reg.rebuild()

	n.completer.start()
	n.goBg(n.heartbeatLoop)
	n.goBg(n.c.reg.watch)
	n.maint.start(n.bg, &n.bgWG)
	n.goBg(n.lead.run)
	n.goBg(n.presence.run)
	n.goBg(n.dispatch)
	for _, p := range n.prodList {
		n.loopWG.Add(1)
		go func() {
			defer n.loopWG.Done()
			p.run(n.loops)
		}()
	}
}

func (n *node) goBg(f func(context.Context)) {
	n.bgWG.Add(1)
	go func() {
		defer n.bgWG.Done()
		f(n.bg)
	}()
}

// wakeMask wakes the producers whose bit is in mask.
func (n *node) wakeMask(mask uint64) {
	for _, p := range n.prodList {
		if mask&p.bit != 0 {
			p.wakeup()
		}
	}
}

// wakeAll asks every producer to claim.
func (n *node) wakeAll() {
	for _, p := range n.prodList {
		p.wakeup()
	}
}

// dispatch routes the store's notices to producers, the promoter and heartbeats.
func (n *node) dispatch(ctx context.Context) {
	for {
		var nt store.Notice
		var ok bool
		select {
		case <-ctx.Done():
			return
		case nt, ok = <-n.notices:
			if !ok {
				return
			}
		}
		switch nt.Type {
		case store.NoticeQueued:
			if p := n.producers[nt.Queue]; p != nil {
				p.wakeup()
			}
		case store.NoticeScheduled:
			n.maint.consider(nt.RunAt)
		case store.NoticeCancel:
			for _, id := range nt.JobIDs {
				if ex := n.running.get(id); ex != nil {
					n.abortLocal(ex, "")
				}
			}
		case store.NoticeQueueChanged:
			if p := n.producers[nt.Queue]; p != nil && nt.Queue != "" {
				p.wakeup()
			} else {
				n.wakeAll()
			}
		case store.NoticeLeaderFreed:
			if nt.Name == maintenanceLease {
				n.lead.campaignSoon()
			}
		case store.NoticeScheduleChanged:
			n.fire.wake()
		case store.NoticeFreed:
			if k := n.c.reg.snapshot().byKind[nt.Kind]; k != nil && k.opts.GlobalMaxWorkers > 0 {
				k.slots.freed.Add(1)
				// Any queue may hold the kind's jobs.
				n.wakeAll()
			}
		case store.NoticeChanged:
			// Something changed unseen: jobs may have stopped running too.
			for _, k := range n.c.reg.snapshot().list {
				if k.opts.GlobalMaxWorkers > 0 {
					k.slots.freed.Add(1)
				}
			}
			n.wakeAll()
			n.maint.promoteSoon()
			n.fire.wake()
			select {
			case n.hbNow <- struct{}{}:
			default:
			}
		}
	}
}

// stop shuts the node down; see Client.Stop.
func (n *node) stop(ctx context.Context) {
	// 1. Stop claiming.
	n.stopping.Store(true)
	n.stopLoops()
	n.loopWG.Wait()

	// 2. Let running jobs finish until ctx is done.
	all := make(chan struct{})
	go func() {
		n.execWG.Wait()
		close(all)
	}()
	select {
	case <-all:
	case <-ctx.Done():
		// 3. Interrupt the rest: Abort hooks, cancel, wait AbortGrace, then
		// put them back without counting the attempt.
		exs := n.running.list()
		for _, ex := range exs {
			if a, ok := ex.kind.worker.(Aborter); ok && !ex.returned.Load() {
				n.callAbortHook(a, ex)
			}
		}
		for _, ex := range exs {
			ex.cancel(errCauseShutdown)
		}
		grace := time.NewTimer(n.c.opts.AbortGrace)
		select {
		case <-all:
		case <-grace.C:
			for _, ex := range n.running.list() {
				switch {
				case !ex.returned.Load():
					n.forceFinish(ex, errCauseShutdown)
				case ex.finishPending():
					// Returned, but its CleanUp still runs: write the
					// finish now rather than after the completer stopped.
					n.handOver(ex)
				}
			}
		}
		grace.Stop()
	}

	// 4. Flush the finishes, then stop heartbeats and maintenance: the
	// leader resigns and the node marks itself stopped as their loops end.
	n.completer.stop(n.c.opts.AbortGrace)
	n.stopBg()
	n.bgWG.Wait()
	n.stopNotice()
	n.c.reg.onChange.Store(nil)
}

// callAbortHook calls a worker's Abort hook, recovering a panic in it.
func (n *node) callAbortHook(a Aborter, ex *execution) {
	defer func() {
		if r := recover(); r != nil {
			ex.logger().Error("rota: Abort hook panicked", "panic", r)
		}
	}()
	a.Abort(&ex.job)
}

// kindKey names a job by kind and key.
type kindKey struct{ kind, key string }

// abortReason is the reason of an abort this client is making for ex, if any.
func (n *node) abortReason(ex *execution) string {
	if r, ok := n.abortReasons.Load(ex.job.ID); ok {
		return r.(string)
	}
	if ex.job.Key != "" {
		if r, ok := n.abortReasons.Load(kindKey{ex.job.Kind, ex.job.Key}); ok {
			return r.(string)
		}
	}
	return ""
}

// runningSet is this node's running attempts by job id.
type runningSet struct {
	mu sync.Mutex
	m  map[int64]*execution
}

func (s *runningSet) addAll(exs []*execution) {
	s.mu.Lock()
	for _, ex := range exs {
		s.m[ex.job.ID] = ex
	}
	s.mu.Unlock()
}

func (s *runningSet) get(id int64) *execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// remove drops ex if it is still the entry of its job.
func (s *runningSet) remove(ex *execution) {
	s.mu.Lock()
	if s.m[ex.job.ID] == ex {
		delete(s.m, ex.job.ID)
	}
	s.mu.Unlock()
}

func (s *runningSet) removeAll(exs []*execution) {
	s.mu.Lock()
	for _, ex := range exs {
		if s.m[ex.job.ID] == ex {
			delete(s.m, ex.job.ID)
		}
	}
	s.mu.Unlock()
}

func (s *runningSet) list() []*execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*execution, 0, len(s.m))
	for _, ex := range s.m {
		out = append(out, ex)
	}
	return out
}

// refs appends the running attempts to buf.
func (s *runningSet) refs(buf []store.JobRef) []store.JobRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ex := range s.m {
		buf = append(buf, store.JobRef{ID: ex.job.ID, Attempt: ex.job.Attempt})
	}
	return buf
}
