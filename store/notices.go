package store

import (
	"context"
	"slices"
	"sync"
)

// DefaultNoticeBuffer is the capacity of each channel a NoticeHub hands out.
const DefaultNoticeBuffer = 64

// NoticeHub implements Subscribe for drivers: it fans notices out to
// subscribers without ever blocking the publisher. A subscriber whose buffer
// is full loses the notice and is owed a NoticeChanged, sent as soon as it
// has room (at the next Publish or FlushMissed).
type NoticeHub struct {
	buffer int
	mu     sync.Mutex
	subs   map[*noticeSub]struct{}
	closed bool
}

type noticeSub struct {
	ch     chan Notice
	missed bool // lost notices; owes a NoticeChanged
}

// NewNoticeHub returns a hub whose subscriber channels hold buffer notices
// (DefaultNoticeBuffer when buffer <= 0).
func NewNoticeHub(buffer int) *NoticeHub {
	if buffer <= 0 {
		buffer = DefaultNoticeBuffer
	}
	return &NoticeHub{buffer: buffer, subs: make(map[*noticeSub]struct{})}
}

// Buffer is the capacity of each subscriber channel.
func (h *NoticeHub) Buffer() int { return h.buffer }

// Subscribe returns a channel of notices that is closed when ctx ends or the
// hub closes; after Close it returns a closed channel.
func (h *NoticeHub) Subscribe(ctx context.Context) <-chan Notice {
	sub := &noticeSub{ch: make(chan Notice, h.buffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(sub.ch)
		return sub.ch
	}
	h.subs[sub] = struct{}{}
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[sub]; ok {
			delete(h.subs, sub)
			close(sub.ch)
		}
	})
	return sub.ch
}

// Publish sends notes to every subscriber that has room.
func (h *NoticeHub) Publish(notes []Notice) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if sub.missed && !sub.send(Notice{Type: NoticeChanged}) {
			continue
		}
		sub.missed = false
		for _, n := range notes {
			if n.JobIDs != nil {
				n.JobIDs = slices.Clone(n.JobIDs) // each subscriber owns its notices
			}
			if !sub.send(n) {
				sub.missed = true
				break
			}
		}
	}
}

// FlushMissed sends the owed NoticeChanged to subscribers that have room now.
func (h *NoticeHub) FlushMissed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if sub.missed && sub.send(Notice{Type: NoticeChanged}) {
			sub.missed = false
		}
	}
}

// Close closes every subscriber channel; later subscriptions get a closed channel.
func (h *NoticeHub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for sub := range h.subs {
		delete(h.subs, sub)
		close(sub.ch)
	}
}

// send is a non-blocking send.
func (sub *noticeSub) send(n Notice) bool {
	select {
	case sub.ch <- n:
		return true
	default:
		return false
	}
}
