package rota

import (
	"context"
	"sync"
	"time"

	"github.com/rotahq/rota/store"
)

// Completer batching: a batch closes after completerWindow, at
// completerMaxBatch finishes, or as soon as no other attempt is running
// (nothing else could join it).
const (
	completerWindow   = time.Millisecond
	completerMaxBatch = 1000
	// completerFlushes is how many batches may be written at once: the
	// next batch's write need not wait for the previous one's round trip.
	completerFlushes = 2
	// Retries of a failed store.Finish back off from completerRetryMin to completerRetryMax.
	completerRetryMin = 10 * time.Millisecond
	completerRetryMax = time.Second
)

// completer writes finished attempts to the store in batches, one
// store.Finish per batch. It frees their slots as it takes a batch to write,
// so the next claim overlaps the write (at most completerFlushes batches are
// written at once, which bounds the jobs finished but not yet written).
type completer struct {
	n *node

	mu      sync.Mutex
	pending []*execution

	signal  chan struct{} // cap 1: something to look at
	quit    chan struct{} // closed by stop
	giveUp  chan struct{} // closed when stop's flush deadline passes
	done    chan struct{}
	bufs    chan *flushBuf // completerFlushes buffers; a write holds one
	writing sync.WaitGroup // writes started by run
	stopMu  sync.Mutex
	stopped bool
	// ended (under mu) is set when run has made its last flush; a later
	// add flushes by itself, under lateMu.
	ended  bool
	lateMu sync.Mutex
}

// flushBuf is the memory of one batch write, reused.
type flushBuf struct {
	spare  []*execution
	params []store.FinishParams
	events []Event
}

func newCompleter(n *node) *completer {
	c := &completer{
		n:      n,
		signal: make(chan struct{}, 1),
		quit:   make(chan struct{}),
		giveUp: make(chan struct{}),
		done:   make(chan struct{}),
		bufs:   make(chan *flushBuf, completerFlushes),
	}
	for range completerFlushes {
		c.bufs <- new(flushBuf)
	}
	return c
}

func (c *completer) start() { go c.run() }

// add queues a settled attempt for writing.
func (c *completer) add(ex *execution) {
	c.mu.Lock()
	c.pending = append(c.pending, ex)
	n := len(c.pending)
	late := c.ended
	c.mu.Unlock()
	left := c.n.inflight.Add(-1)
	if late {
		// Added after the completer ended (a worker returned as the
		// shutdown grace ran out, or an abort's grace fired late): write
		// it here rather than leave the job running until its lease ends.
		c.lateMu.Lock()
		c.flush()
		c.lateMu.Unlock()
		return
	}
	if n == 1 || n >= completerMaxBatch || left <= 0 {
		c.poke()
	}
}

func (c *completer) poke() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// full reports whether the pending batch should be written now.
func (c *completer) full() bool {
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	return n >= completerMaxBatch || (n > 0 && c.n.inflight.Load() <= 0)
}

func (c *completer) empty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) == 0
}

func (c *completer) run() {
	defer close(c.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-c.signal:
		case <-c.quit:
			c.writing.Wait()
			for !c.empty() {
				c.flush()
			}
			c.mu.Lock()
			c.ended = true
			c.mu.Unlock()
			c.lateMu.Lock()
			c.flush() // what was added before ended was set
			c.lateMu.Unlock()
			return
		}
		if c.empty() {
			continue
		}
		deadline := time.Now().Add(completerWindow)
	window:
		for !c.full() {
			d := time.Until(deadline)
			if d <= 0 {
				break
			}
			timer.Reset(d)
			select {
			case <-c.signal:
			case <-timer.C:
			case <-c.quit:
				timer.Stop()
				break window
			}
			timer.Stop()
		}
		c.flushAsync()
	}
}

// stop writes everything pending and ends the completer. Retries of a
// failing store give up after grace; those jobs stay running in the store
// until their lease expires and the rescuer takes them back.
func (c *completer) stop(grace time.Duration) {
	c.stopMu.Lock()
	if c.stopped {
		c.stopMu.Unlock()
		<-c.done
		return
	}
	c.stopped = true
	c.stopMu.Unlock()
	close(c.quit)
	t := time.AfterFunc(grace, func() { close(c.giveUp) })
	<-c.done
	if t.Stop() {
		// Finishes added from now on are written once, not retried: the
		// caller may close the store after Stop.
		close(c.giveUp)
	}
}

// flush writes the pending batch with one store.Finish, retrying on
// errors, and returns when it is written.
func (c *completer) flush() {
	b := <-c.bufs
	c.write(b, c.take(b))
	c.bufs <- b
}

// flushAsync writes the pending batch like flush, in a goroutine of its
// own once a buffer is free (at most completerFlushes writes at once). It
// takes the batch only then, so the batch holds what came meanwhile.
func (c *completer) flushAsync() {
	b := <-c.bufs
	batch := c.take(b)
	if len(batch) == 0 {
		c.bufs <- b
		return
	}
	c.writing.Add(1)
	go func() {
		defer c.writing.Done()
		c.write(b, batch)
		c.bufs <- b
	}()
}

// take swaps the pending batch for b's spare slice.
func (c *completer) take(b *flushBuf) []*execution {
	c.mu.Lock()
	batch := c.pending
	c.pending = b.spare[:0]
	c.mu.Unlock()
	b.spare = nil
	return batch
}

// write writes batch (taken with b) and publishes its events.
func (c *completer) write(b *flushBuf, batch []*execution) {
	if len(batch) == 0 {
		b.spare = batch
		return
	}
	n := c.n
	for _, ex := range batch {
		ex.release() // the worker has returned: its slot may run another job
	}
	// On success write returns holding eventBus.finishes for reading, so
	// these events go out before any of the jobs' next transitions.
	applied, ok := c.finishBatch(b, batch)
	now := n.c.now()
	publish := n.c.events.active()
	b.events = b.events[:0]
	var runAt time.Time
	for i, ex := range batch {
		f := &b.params[i]
		if !ok {
			break
		}
		if i < len(applied) && applied[i] != "" {
			if publish {
				j := &ex.job.Job
				// The state the store made: an abort requested from
				// another process wins over a retry.
				b.events = append(b.events, Event{
					JobID: j.ID, Kind: j.Kind, Queue: j.Queue, Key: j.Key, Metadata: j.Metadata,
					From: StateRunning, To: applied[i], Attempt: j.Attempt, Error: f.Error, At: now,
					Outcome: f.Record.Outcome, RunTime: f.Record.FinishedAt.Sub(f.Record.StartedAt),
				})
			} else {
				n.c.events.skip(1)
			}
			if !f.RunAt.IsZero() && !applied[i].Final() && (runAt.IsZero() || f.RunAt.Before(runAt)) {
				runAt = f.RunAt
			}
		} else {
			ex.logger().Warn("rota: finish not applied: the attempt is no longer running on this node",
				"state", f.State, "outcome", f.Record.Outcome)
		}
	}
	if len(b.events) > 0 {
		n.c.events.publish(b.events...)
		clear(b.events)
	}
	if ok {
		n.c.events.finishes.RUnlock()
	}
	if !runAt.IsZero() {
		n.maint.consider(runAt)
	}
	n.running.removeAll(batch)
	clear(b.params)
	clear(batch)
	b.spare = batch[:0]
}

// finishBatch fills b.params from batch and calls store.Finish until it succeeds
// (or the stop grace runs out). On success it returns holding
// eventBus.finishes for reading; the caller releases it once the finish
// events are published. Client.cancel holds it for writing across the
// store's cancel, so an abort of a running attempt either comes before the
// finish is built (and turns it into an abort) or sees the finished job.
func (c *completer) finishBatch(b *flushBuf, batch []*execution) (applied []store.State, ok bool) {
	backoff := completerRetryMin
	for {
		c.n.c.events.finishes.RLock()
		b.params = b.params[:0]
		for _, ex := range batch {
			f := ex.fin
			ex.lateAbort(&f)
			f.Limited = ex.kind.opts.GlobalMaxWorkers > 0
			b.params = append(b.params, f)
		}
		applied, err := c.n.store.Finish(context.WithoutCancel(c.n.jobBase), b.params)
		if err == nil {
			return applied, true
		}
		c.n.c.events.finishes.RUnlock()
		c.n.log.Error("rota: finish jobs; retrying", "jobs", len(b.params), "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-c.giveUp:
			t.Stop()
			c.n.log.Error("rota: giving up finishing jobs at shutdown; they will be rescued when their lease expires",
				"jobs", len(b.params))
			return nil, false
		}
		backoff = min(backoff*2, completerRetryMax)
	}
}
