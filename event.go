package rota

import (
	"sync"
	"sync/atomic"
	"time"
)

// Event is one job state change. Every transition publishes one.
type Event struct {
	// Seq numbers the events of this client, from 1.
	Seq      uint64            `json:"seq"`
	JobID    int64             `json:"job_id"`
	Kind     string            `json:"kind"`
	Queue    string            `json:"queue"`
	Key      string            `json:"key,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// From is "" for a newly inserted job.
	From    State  `json:"from"`
	To      State  `json:"to"`
	Attempt int    `json:"attempt"`
	Error   string `json:"error,omitempty"`
	// At is when this node made the change, read around its store call.
	// Order events by Seq: the times of two changes a few microseconds
	// apart, made by different parts of the node (a finish and the
	// promotion of the retry it scheduled), may be out of order.
	At time.Time `json:"at"`
	// Outcome is how the attempt ended, on events that leave running (a
	// finish, or a rescue after a lost lease: OutcomeLost); "" otherwise.
	Outcome Outcome `json:"outcome,omitempty"`
	// RunTime is how long the attempt ran, on events of a finish written by
	// this client (its workers, or Complete/FailJob of a popped job); 0
	// otherwise. In JSON it is nanoseconds.
	RunTime time.Duration `json:"run_time_ns,omitempty"`
}

// DefaultSubscriptionBuffer is the buffer of a subscription made with size 0.
const DefaultSubscriptionBuffer = 1024

// Subscription receives events on C. When its buffer is full, new events are
// dropped (never blocking the engine) and counted in Dropped.
type Subscription struct {
	// C delivers the events. It is closed by Close or when the client stops.
	C <-chan Event

	ch      chan Event
	filter  func(Event) bool
	dropped atomic.Uint64
	once    sync.Once
	unsub   func(*Subscription)
}

// Dropped is how many events this subscription lost to a full buffer.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.once.Do(func() {
		if s.unsub != nil {
			s.unsub(s)
		}
		close(s.ch)
	})
}

// offer delivers e without blocking; it reports false if e was dropped.
func (s *Subscription) offer(e Event) bool {
	if s.filter != nil && !s.filter(e) {
		return true
	}
	select {
	case s.ch <- e:
		return true
	default:
		s.dropped.Add(1)
		return false
	}
}
