package sqlite

import (
	"context"
	"slices"
	"sync"

	"github.com/rotahq/rota/store"
)

// hub fans notices out to subscribers without ever blocking the publisher: a
// subscriber whose buffer is full loses the notice and is marked to receive
// a NoticeChanged as soon as it has room.
type hub struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch     chan store.Notice
	missed bool // lost notices; owes a NoticeChanged
}

func (h *hub) subscribe(ctx context.Context) <-chan store.Notice {
	sub := &subscriber{ch: make(chan store.Notice, subscriberBuffer)}
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

// publish sends notes to every subscriber that has room.
func (h *hub) publish(notes []store.Notice) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if sub.missed && !sub.send(store.Notice{Type: store.NoticeChanged}) {
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

// flushMissed sends the owed NoticeChanged to subscribers that have room now.
func (h *hub) flushMissed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if sub.missed && sub.send(store.Notice{Type: store.NoticeChanged}) {
			sub.missed = false
		}
	}
}

// close closes every subscriber channel; later subscriptions get a closed channel.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for sub := range h.subs {
		delete(h.subs, sub)
		close(sub.ch)
	}
}

// send is a non-blocking send.
func (sub *subscriber) send(n store.Notice) bool {
	select {
	case sub.ch <- n:
		return true
	default:
		return false
	}
}
