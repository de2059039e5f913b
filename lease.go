package rota

import (
	"context"
	"time"
)

// heartbeatLoop extends the leases of this node's running attempts every
// LeaseDuration/3, and at once when a NoticeChanged asks to look for
// cancel requests made by another process.
func (n *node) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(n.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.hbNow:
		}
		n.heartbeat(ctx)
	}
}

// heartbeat makes one ExtendLeases call and acts on its report: lost
// attempts are given up, cancel requests abort the attempt.
func (n *node) heartbeat(ctx context.Context) {
	n.refsBuf = n.running.refs(n.refsBuf[:0])
	if len(n.refsBuf) == 0 {
		return
	}
	until := n.c.now().Add(n.lease)
	rep, err := n.store.ExtendLeases(ctx, n.id, n.refsBuf, until)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Error("rota: extend leases", "jobs", len(n.refsBuf), "err", err)
		}
		return
	}
	for _, r := range rep.Lost {
		if ex := n.running.get(r.ID); ex != nil && ex.job.Attempt == r.Attempt {
			n.lose(ex)
		}
	}
	for _, r := range rep.CancelRequested {
		if ex := n.running.get(r.ID); ex != nil && ex.job.Attempt == r.Attempt {
			n.abortLocal(ex, "")
		}
	}
}
