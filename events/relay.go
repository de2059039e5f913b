package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// Relay defaults.
const (
	// DefaultMaxBatch bounds the records of one Sink.Send.
	DefaultMaxBatch = 100
	// DefaultPoll is how often a relay looks for records that other nodes
	// appended (records of its own node wake it at once through
	// RelayOptions.Changed).
	DefaultPoll = 250 * time.Millisecond
	// DefaultRetryMin and DefaultRetryMax bound the backoff between the
	// tries of a batch the sink refused.
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 30 * time.Second
)

// saveTimeout bounds the save of a position after a delivery, which a
// stopping relay still makes: kept under the leader lease (a new term's
// loops wait for the old term's to return).
const saveTimeout = 2 * time.Second

// Message is one record rendered for a sink.
type Message struct {
	Record Record
	// Payload is the record as its Format rendered it.
	Payload []byte
}

// Sink delivers messages somewhere.
type Sink interface {
	// Send delivers msgs, in order, and returns nil only when the
	// destination has accepted all of them: an error makes the relay send
	// the same batch again later (so a destination may see a message more
	// than once, never out of order with the ones before it).
	Send(ctx context.Context, msgs []Message) error
}

// RelayOptions configures a Relay.
type RelayOptions struct {
	// Name names the relay's saved position in the store (required; one
	// per destination: two relays of one name share a position).
	Name string
	// Sink receives the messages (required).
	Sink Sink
	// Format renders the records (FormatJSON when nil).
	Format Format
	// Filter selects the job events to deliver, as a subscription's
	// filter does (the zero filter: all). Gap records always pass.
	Filter rota.EventFilter
	// FromStart makes a relay that has no saved position start at the
	// oldest record the log still holds; by default it starts at the
	// log's end (the events from then on).
	FromStart bool
	// MaxBatch bounds a batch (DefaultMaxBatch when zero).
	MaxBatch int
	// Poll is how often to look for new records (DefaultPoll when zero).
	Poll time.Duration
	// Changed, when set, returns a channel closed at the next append of
	// this node's event log (rota.EventLog.Changed), so its events go out
	// at once rather than at the next poll.
	Changed func() <-chan struct{}
	// RetryMin and RetryMax bound the backoff after a failed send
	// (DefaultRetryMin, DefaultRetryMax when zero).
	RetryMin, RetryMax time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Relay delivers the store's event log to a sink, at least once and in
// order, from a position it saves in the store after each batch the sink
// accepted.
type Relay struct {
	log   store.EventLog
	opts  RelayOptions
	match func(rota.Event) bool
	lg    *slog.Logger

	// oldest: the next read starts at the oldest record the log holds
	// (a new FromStart relay): records pruned before it are no gap.
	oldest bool
	// warned is the last record id a batch's warnings (a gap, a record
	// skipped) were logged for: a batch sent again after a failed send
	// does not warn again. Only Run's goroutine touches it.
	warned int64

	position  atomic.Int64
	delivered atomic.Uint64
	failures  atomic.Uint64
	gaps      atomic.Uint64
}

// NewRelay makes a relay reading log (the client's store: c.Store()).
func NewRelay(log store.EventLog, opts RelayOptions) (*Relay, error) {
	switch {
	case log == nil:
		return nil, errors.New("events: relay: nil event log")
	case opts.Sink == nil:
		return nil, fmt.Errorf("events: relay %q: nil sink", opts.Name)
	case opts.MaxBatch < 0 || opts.Poll < 0 || opts.RetryMin < 0 || opts.RetryMax < 0:
		return nil, fmt.Errorf("events: relay %q: options must not be negative", opts.Name)
	case opts.MaxBatch > store.MaxEventRead:
		return nil, fmt.Errorf("events: relay %q: max batch %d is over %d", opts.Name, opts.MaxBatch, store.MaxEventRead)
	}
	if err := store.CheckEventCursor(opts.Name, 0); err != nil {
		return nil, fmt.Errorf("events: relay: %w", err)
	}
	if opts.Format == nil {
		opts.Format = FormatJSON
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	if opts.RetryMin == 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = DefaultRetryMax
	}
	opts.RetryMax = max(opts.RetryMax, opts.RetryMin)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Relay{log: log, opts: opts, match: opts.Filter.Matcher(), lg: opts.Logger.With("relay", opts.Name)}, nil
}

// Position is the id of the last record the relay handled (delivered or
// skipped by its filter or format); 0 before it has read its position.
func (r *Relay) Position() int64 { return r.position.Load() }

// Delivered is how many messages the sink accepted.
func (r *Relay) Delivered() uint64 { return r.delivered.Load() }

// Failures is how many steps failed: a send the destination refused, or a
// read or save of the store (each is tried again).
func (r *Relay) Failures() uint64 { return r.failures.Load() }

// Gaps is how many gaps the relay met: records pruned before it read them,
// and nodes' records of events they lost.
func (r *Relay) Gaps() uint64 { return r.gaps.Load() }

// Name is the relay's name (RelayOptions.Name).
func (r *Relay) Name() string { return r.opts.Name }

// Run relays until ctx ends; it returns ctx's error. Store errors and
// refused sends are logged and retried with backoff: Run never gives up.
func (r *Relay) Run(ctx context.Context) error {
	poll := time.NewTicker(r.opts.Poll)
	defer poll.Stop()
	var pos int64
	for retry := r.opts.RetryMin; ; retry = min(2*retry, r.opts.RetryMax) {
		var err error
		if pos, err = r.start(ctx); err == nil {
			break
		}
		r.failures.Add(1)
		r.lg.Warn("rota: event relay: cannot read its position", "retry_in", retry, "err", err)
		if !sleep(ctx, retry) {
			return ctx.Err()
		}
	}
	r.position.Store(pos)
	r.lg.Info("rota: event relay started", "position", pos)
	retry := r.opts.RetryMin
	for {
		var changed <-chan struct{}
		if r.opts.Changed != nil {
			changed = r.opts.Changed()
		}
		n, err := r.step(ctx, &pos)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			r.failures.Add(1)
			r.lg.Warn("rota: event relay: will try again", "position", pos, "retry_in", retry, "err", err)
			if !sleep(ctx, retry) {
				return ctx.Err()
			}
			retry = min(2*retry, r.opts.RetryMax)
			continue
		}
		retry = r.opts.RetryMin
		if n == r.opts.MaxBatch {
			continue // more to read
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-poll.C:
		}
	}
}

// start reads the saved position; a relay without one starts at the log's
// end (or before its oldest record, FromStart) and saves that.
func (r *Relay) start(ctx context.Context) (int64, error) {
	pos, ok, err := r.log.EventCursor(ctx, r.opts.Name)
	if err != nil {
		return 0, err
	}
	if ok {
		// A position past the log's end (a store restored from an older
		// backup) would wait, silently, until new records pass it.
		if last, err := r.log.LastEventID(ctx); err == nil && pos > last {
			r.lg.Warn("rota: event relay: its position is past the end of the event log; records up to it will not be sent",
				"position", pos, "log_end", last)
		}
		return pos, nil
	}
	if r.opts.FromStart {
		r.oldest = true
	} else if pos, err = r.log.LastEventID(ctx); err != nil {
		return 0, err
	}
	if err := r.log.SaveEventCursor(ctx, r.opts.Name, pos); err != nil {
		return 0, err
	}
	// Another relay of this name (a leader in the same moment) may have
	// saved a later position: go on from the saved one.
	pos, _, err = r.log.EventCursor(ctx, r.opts.Name)
	return pos, err
}

// step reads one batch after *pos, sends what passes the filter and the
// format, and saves the new position. It returns how many records it read.
func (r *Relay) step(ctx context.Context, pos *int64) (int, error) {
	recs, err := r.log.ReadEvents(ctx, *pos, r.opts.MaxBatch)
	if err != nil {
		return 0, fmt.Errorf("read the event log: %w", err)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	msgs := make([]Message, 0, len(recs))
	after := *pos
	var gaps uint64
	for _, sr := range recs {
		if sr.ID != after+1 && !r.oldest {
			// Pruned before this relay read them.
			gaps++
			gap := Record{ID: sr.ID - 1, Type: TypeGap, Gap: Gap{Reason: GapPruned, After: after}}
			if m, ok, err := r.render(gap); err != nil {
				return 0, err
			} else if ok {
				msgs = append(msgs, m)
			}
			if sr.ID > r.warned {
				r.lg.Warn("rota: event relay: events were pruned before it could deliver them",
					"after", after, "next", sr.ID)
			}
		}
		rec, err := decodeRecord(sr, after)
		after = sr.ID
		if err != nil {
			if sr.ID > r.warned {
				r.lg.Warn("rota: event relay: undecodable record skipped", "id", sr.ID, "err", err)
			}
			continue
		}
		if rec.Type == TypeGap {
			gaps++
		}
		if rec.Type == TypeJob && !r.match(rec.Event) {
			continue
		}
		m, ok, err := r.render(rec)
		if err != nil {
			if sr.ID > r.warned {
				r.lg.Warn("rota: event relay: record not rendered, skipped", "id", sr.ID, "err", err)
			}
			continue
		}
		if ok {
			msgs = append(msgs, m)
		}
	}
	r.warned = max(r.warned, after)
	if len(msgs) > 0 {
		if err := r.opts.Sink.Send(ctx, msgs); err != nil {
			return 0, fmt.Errorf("send %d message(s) (ids %d to %d): %w", len(msgs), msgs[0].Record.ID, msgs[len(msgs)-1].Record.ID, err)
		}
		r.delivered.Add(uint64(len(msgs)))
	}
	// The sink has them: from here a failure only sends them again. The
	// save is not cut short by a relay that is stopping meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := r.log.SaveEventCursor(sctx, r.opts.Name, after); err != nil {
		return 0, fmt.Errorf("save the position %d: %w", after, err)
	}
	*pos = after
	r.oldest = false
	r.gaps.Add(gaps)
	r.position.Store(after)
	return len(recs), nil
}

func (r *Relay) render(rec Record) (Message, bool, error) {
	b, ok, err := r.opts.Format(rec)
	return Message{Record: rec, Payload: b}, ok, err
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
