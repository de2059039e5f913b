package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/rotahq/rota"
)

// longPolls bounds the requests that wait for work at once.
type longPolls struct {
	slots chan struct{}
}

func newLongPolls(n int) *longPolls { return &longPolls{slots: make(chan struct{}, n)} }

// acquire takes a slot without waiting; false when all are taken.
func (l *longPolls) acquire() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (l *longPolls) release() { <-l.slots }

// waitingEvents is the buffer of a long poll's subscription: it only needs
// to know that something happened.
const waitingEvents = 16

// longPoll calls try until it reports done, an error, or wait has passed.
// After a first try that finds nothing it holds one of the server's
// long-poll slots (429 too_many_long_polls when none is free) and tries
// again whenever this client publishes an event matching f that makes a
// job queued, every LongPollInterval (for work another process
// enqueued), and once more at the end of the wait. It extends the
// response's write deadline by the wait. The request's end or the server's
// shutdown ends it early (503). It is the one place requests wait for
// work: pop uses it, and so should any future endpoint that long-polls.
func (s *Server) longPoll(w http.ResponseWriter, r *http.Request, wait time.Duration, f rota.EventFilter,
	try func(context.Context) (bool, error)) error {
	ctx := r.Context()
	done, err := try(ctx)
	if err != nil || done || wait <= 0 {
		return err
	}
	if !s.polls.acquire() {
		return &apiError{Status: http.StatusTooManyRequests, Code: CodeTooManyLongPolls,
			Message: fmt.Sprintf("all %d long-poll slots are taken; retry, or ask with a shorter wait", s.opts.MaxLongPolls)}
	}
	defer s.polls.release()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + s.opts.WriteTimeout))
	sub := s.client.Subscribe(waitingEvents, f)
	defer sub.Close()
	// Again, now that events are heard: a job queued between the first try
	// and the subscription is not missed.
	if done, err := try(ctx); err != nil || done {
		return err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(s.opts.LongPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the request ended while waiting", err: ctx.Err()}
		case <-s.base.Done():
			return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the server is shutting down"}
		case e, ok := <-sub.C:
			if !ok {
				return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the node stopped"}
			}
			if e.To != rota.StateQueued {
				continue
			}
		case <-tick.C:
		case <-deadline.C:
			_, err := try(ctx)
			return err
		}
		if done, err := try(ctx); err != nil || done {
			return err
		}
	}
}
