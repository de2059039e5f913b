package rota

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotahq/rota/store"
)

// eventBus fans events out to subscriptions. Publishing never blocks: each
// subscription has a bounded buffer and a full one drops the event.
type eventBus struct {
	// gate orders a job's events: code that makes jobs claimable (insert,
	// retry, release, promote, rescue) holds it for reading from the store
	// call until its events are published; a producer holds it for writing
	// to publish claim events, so "queued → running" never comes before
	// the event that made the job queued.
	gate sync.RWMutex
	// finishes orders an attempt's finish event before the events of what
	// happens to the job next: the store may promote, retry or abort a job
	// as soon as its finish commits, before the finisher has published.
	// Finishers (the completer, FailJob) hold it for reading from before
	// store.Finish until their events are published; promote, retry and
	// abort take it for writing after their store call, to publish.
	finishes sync.RWMutex

	mu      sync.Mutex // held while numbering and offering, so every subscriber sees Seq in order
	subs    []*Subscription
	nsubs   atomic.Int32
	seq     atomic.Uint64
	dropped atomic.Uint64
	closed  bool
}

// active reports whether anyone listens; callers skip building events when not.
func (b *eventBus) active() bool { return b.nsubs.Load() > 0 }

// skip numbers n events nobody listens to, so Seq stays one per transition.
func (b *eventBus) skip(n int) { b.seq.Add(uint64(n)) }

// subscribe adds a subscription with the given buffer and filter.
func (b *eventBus) subscribe(buffer int, f EventFilter) *Subscription {
	if buffer <= 0 {
		buffer = DefaultSubscriptionBuffer
	}
	ch := make(chan Event, buffer)
	s := &Subscription{C: ch, ch: ch, filter: f.match()}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.Close()
		return s
	}
	s.unsub = b.unsubscribe
	b.subs = append(b.subs, s)
	b.nsubs.Store(int32(len(b.subs)))
	b.mu.Unlock()
	return s
}

func (b *eventBus) unsubscribe(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.subs, s); i >= 0 {
		b.subs = slices.Delete(b.subs, i, i+1)
		b.nsubs.Store(int32(len(b.subs)))
	}
}

// publish numbers and delivers events (in order) to every subscription.
func (b *eventBus) publish(es ...Event) {
	if len(es) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range es {
		es[i].Seq = b.seq.Add(1)
		for _, s := range b.subs {
			if !s.offer(es[i]) {
				b.dropped.Add(1)
			}
		}
	}
}

// closeAll ends every subscription; later subscriptions are closed at once.
func (b *eventBus) closeAll() {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = nil
	b.nsubs.Store(0)
	b.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

// jobEvent describes a transition of j (j.State is the new state).
func jobEvent(j *store.Job, from State, errText string, at time.Time) Event {
	return Event{
		JobID:    j.ID,
		Kind:     j.Kind,
		Queue:    j.Queue,
		Key:      j.Key,
		Metadata: j.Metadata,
		From:     from,
		To:       j.State,
		Attempt:  j.Attempt,
		Error:    errText,
		At:       at,
	}
}

// transitions publishes store transitions as events.
func (b *eventBus) transitions(ts []store.Transition, at time.Time) {
	if !b.active() {
		b.skip(len(ts))
		return
	}
	es := make([]Event, 0, len(ts))
	for _, t := range ts {
		if t.Job != nil {
			es = append(es, jobEvent(t.Job, t.From, t.Job.LastError, at))
		}
	}
	b.publish(es...)
}

// rescued publishes the transitions of jobs taken back after their lease
// expired, with OutcomeLost.
func (b *eventBus) rescued(ts []store.Transition, at time.Time) {
	if !b.active() {
		b.skip(len(ts))
		return
	}
	es := make([]Event, 0, len(ts))
	for _, t := range ts {
		if t.Job != nil {
			e := jobEvent(t.Job, t.From, t.Job.LastError, at)
			e.Outcome = store.OutcomeLost
			es = append(es, e)
		}
	}
	b.publish(es...)
}

// transitionsAfterFinishes publishes store transitions of jobs that a
// finish may have just put where they were (scheduled, retrying, final),
// after the events of the finishes in flight.
func (b *eventBus) transitionsAfterFinishes(ts []store.Transition, at time.Time) {
	if len(ts) == 0 {
		return // nothing to order: do not wait for the finishers in flight
	}
	if !b.active() {
		b.skip(len(ts))
		return
	}
	b.finishes.Lock()
	b.transitions(ts, at)
	b.finishes.Unlock()
}

// match builds the filter function of f; nil matches every event.
func (f EventFilter) match() func(Event) bool {
	if len(f.Kinds) == 0 && len(f.Queues) == 0 && f.Key == "" && len(f.Metadata) == 0 {
		return nil
	}
	kinds := slices.Clone(f.Kinds)
	queues := slices.Clone(f.Queues)
	key := f.Key
	md := maps.Clone(f.Metadata)
	return func(e Event) bool {
		if len(kinds) > 0 && !slices.Contains(kinds, e.Kind) {
			return false
		}
		if len(queues) > 0 && !slices.Contains(queues, e.Queue) {
			return false
		}
		if key != "" && e.Key != key {
			return false
		}
		for k, v := range md {
			if got, ok := e.Metadata[k]; !ok || got != v {
				return false
			}
		}
		return true
	}
}
