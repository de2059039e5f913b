package rota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/rotahq/rota/store"
)

// Lower bounds of the client's timing options.
const (
	MinLeaseDuration = 50 * time.Millisecond
	MinPollInterval  = time.Millisecond
)

// DefaultCleanUpTimeout bounds a worker's CleanUp call.
const DefaultCleanUpTimeout = 10 * time.Second

// ErrAlreadyStarted is returned by a second Start.
var ErrAlreadyStarted = errors.New("rota: client already started")

// Client enqueues, queries and runs jobs. A client that is never started is
// an enqueue-only client: every method except the worker side works.
type Client struct {
	store  store.Store
	opts   Options // defaults applied
	log    *slog.Logger
	clock  Clock
	reg    *registry
	events *eventBus
	remote *remoteKinds // the kinds remote workers take through this client

	condMu sync.Mutex
	conds  map[string]ConditionFunc // schedule conditions by name

	mu      sync.Mutex
	state   clientState
	node    *node         // the running engine; nil before Start
	stopped chan struct{} // closed when Stop has finished
}

type clientState int

const (
	stateNew clientState = iota
	stateStarted
	stateStopping
	stateStopped
)

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// New returns a client on s with opts (zero fields take the defaults). It
// checks the options and reports the first bad one as a *FieldError.
func New(s store.Store, opts Options) (*Client, error) {
	if s == nil {
		return nil, fieldErr("store", "required")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		store:   s,
		opts:    o,
		log:     o.Logger,
		clock:   o.Clock,
		events:  &eventBus{},
		remote:  newRemoteKinds(),
		stopped: make(chan struct{}),
	}
	c.reg = newRegistry(o.Logger, o.WorkerConfig)
	return c, nil
}

// withDefaults checks o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.NodeID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "rota"
		}
		o.NodeID = h
	}
	if len(o.NodeID) > MaxNameLength {
		return o, fieldErr("node_id", "longer than %d bytes", MaxNameLength)
	}
	if len(o.Queues) == 0 {
		o.Queues = map[string]QueueConfig{store.DefaultQueue: {}}
	} else {
		o.Queues = maps.Clone(o.Queues)
	}
	for name, q := range o.Queues {
		if len(name) > MaxNameLength || !nameRE.MatchString(name) {
			return o, fieldErr("queues", "%q must be 1-%d letters, digits or . _ - : /", name, MaxNameLength)
		}
		if q.MaxWorkers < 0 {
			return o, fieldErr("queues."+name+".max_workers", "%d is negative", q.MaxWorkers)
		}
		if q.MaxWorkers == 0 {
			q.MaxWorkers = DefaultQueueWorkers
			o.Queues[name] = q
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.LeaseDuration < 0:
		return o, fieldErr("lease_duration", "%s is negative", o.LeaseDuration)
	case o.LeaseDuration == 0:
		o.LeaseDuration = DefaultLeaseDuration
	case o.LeaseDuration < MinLeaseDuration:
		return o, fieldErr("lease_duration", "%s is under the minimum %s", o.LeaseDuration, MinLeaseDuration)
	}
	switch {
	case o.LeaderLease < 0:
		return o, fieldErr("leader_lease", "%s is negative", o.LeaderLease)
	case o.LeaderLease == 0:
		o.LeaderLease = DefaultLeaderLease
	case o.LeaderLease < MinLeaseDuration:
		return o, fieldErr("leader_lease", "%s is under the minimum %s", o.LeaderLease, MinLeaseDuration)
	}
	for i, task := range o.LeaderTasks {
		if task == nil {
			return o, fieldErr(fmt.Sprintf("leader_tasks[%d]", i), "is nil")
		}
	}
	switch {
	case o.AbortGrace < 0:
		return o, fieldErr("abort_grace", "%s is negative", o.AbortGrace)
	case o.AbortGrace == 0:
		o.AbortGrace = DefaultAbortGrace
	}
	switch {
	case o.Retention < 0:
		return o, fieldErr("retention", "%s is negative", o.Retention)
	case o.Retention == 0:
		o.Retention = DefaultRetention
	}
	switch {
	case o.PollInterval < 0:
		return o, fieldErr("poll_interval", "%s is negative", o.PollInterval)
	case o.PollInterval == 0:
		o.PollInterval = DefaultPollInterval
	case o.PollInterval < MinPollInterval:
		return o, fieldErr("poll_interval", "%s is under the minimum %s", o.PollInterval, MinPollInterval)
	}
	switch {
	case o.ScheduleLookahead > MaxScheduleLookahead:
		return o, fieldErr("schedule_lookahead", "%s is over the maximum %s", o.ScheduleLookahead, MaxScheduleLookahead)
	case o.ScheduleLookahead == 0:
		o.ScheduleLookahead = DefaultScheduleLookahead
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	return o, nil
}

// now is the client's current time in UTC.
func (c *Client) now() time.Time { return c.clock.Now().UTC() }

// Store returns the store the client works on. The caller owns it: Stop
// does not close it.
func (c *Client) Store() store.Store { return c.store }

// NodeID is the node id this client uses in leases and attempt history.
func (c *Client) NodeID() string { return c.opts.NodeID }

// Start starts the node: one producer per configured queue, the completer,
// lease heartbeats, the promoter, the campaign for the leader lease (whose
// holder runs the rescuer and the pruner) and the node's row in the node
// registry. When ctx is
// done the client stops gracefully, giving running jobs
// DefaultShutdownTimeout to finish; call Stop to choose the time yourself.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateStarted:
		return ErrAlreadyStarted
	case stateStopping, stateStopped:
		return ErrStopped
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rota: start: %w", err)
	}
	for i, p := range c.opts.Schedules {
		s, err := p.toStore(c.now())
		if err != nil {
			return fmt.Errorf("rota: start: schedules[%d]: %w", i, err)
		}
		cur, err := c.store.GetSchedule(ctx, s.Key)
		if err != nil {
			cur = nil // none, or unreadable: the upsert decides
		}
		if _, err := c.upsertSchedule(ctx, cur, s); err != nil {
			return fmt.Errorf("rota: start: %w", err)
		}
	}
	n := newNode(c, ctx)
	n.start()
	c.node = n
	c.state = stateStarted
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultShutdownTimeout)
			defer cancel()
			if err := c.Stop(sctx); err != nil {
				c.log.Error("rota: stop", "err", err)
			}
		case <-c.stopped:
		}
	}()
	return nil
}

// Stop shuts the node down gracefully: it stops claiming, lets running jobs
// finish until ctx is done, then calls the workers' Abort hooks, cancels the
// jobs still running and, after at most AbortGrace, puts them back in their
// queue without counting the attempt (OutcomeInterrupted). It then flushes
// the finishes and stops heartbeats and maintenance; a leader resigns, so
// that another node takes over at once, and the node marks itself stopped
// in the node registry. Stop is idempotent; the
// client still enqueues and queries afterwards, and the store stays open.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	switch c.state {
	case stateNew:
		c.state = stateStopped
		close(c.stopped)
		c.mu.Unlock()
		c.events.closeAll()
		return nil
	case stateStopping, stateStopped:
		c.mu.Unlock()
		select {
		case <-c.stopped:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("rota: stop: %w", context.Cause(ctx))
		}
	}
	c.state = stateStopping
	n := c.node
	c.mu.Unlock()

	n.stop(ctx)
	c.events.closeAll()

	c.mu.Lock()
	c.state = stateStopped
	close(c.stopped)
	c.mu.Unlock()
	return nil
}

// ClientStats returns the client's own counters.
func (c *Client) ClientStats() ClientStats {
	s := ClientStats{EventsDropped: c.events.dropped.Load()}
	c.mu.Lock()
	n := c.node
	s.Started = c.state == stateStarted
	c.mu.Unlock()
	if n != nil {
		s.Running = int(n.active.Load())
		s.Leader = n.lead.leading()
		s.LeasesLost = n.leasesLost.Load()
	}
	if es, ok := c.reg.src.(ConfigErrorSource); ok {
		s.WorkerConfigErrors = len(es.Errors())
	}
	return s
}

// Subscribe returns a subscription to this client's events that match f,
// with a buffer of buffer events (0: DefaultSubscriptionBuffer). A
// subscriber that does not keep up loses events (counted in Dropped); the
// engine never waits for it. Close the subscription when done.
func (c *Client) Subscribe(buffer int, f EventFilter) *Subscription {
	return c.events.subscribe(buffer, f)
}

// runningNode returns the node once started (also while and after it
// stops, so that aborts still reach jobs that run on), or nil.
func (c *Client) runningNode() *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.node
}
