package rota

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rotahq/rota/store"
)

// MaxLeaseCompletions bounds the items of one CompleteLeases call (and of
// POST /v1/leases/complete/batch).
const MaxLeaseCompletions = 1000

// LeaseCompletion is one item of CompleteLeases: the lease to end done and
// its job's result (marshalled to JSON; nil stores none).
type LeaseCompletion struct {
	Token  string
	Result any
}

// LeaseCompleted answers one item of CompleteLeases.
type LeaseCompleted struct {
	// ID is the job's id (0 when the token could not be read).
	ID int64
	// State is the job's state after the completion (done) when Err is nil.
	State State
	// Err is why this item was refused: a *FieldError on "token" or
	// "result", or ErrLeaseLost. The other items are not affected.
	Err error
}

// CompleteLeases ends many leases done at once, each independently: one
// stale or malformed token is refused in its own answer (out[i] answers
// items[i]) and does not stop the others. It reads the jobs in one store
// statement and finishes them in one Finish call, so a worker that
// completes in batches costs the store two statements per batch rather
// than three per job. The error is for the call as a whole (too many
// items, the store failing); then nothing was completed.
func (c *Client) CompleteLeases(ctx context.Context, items []LeaseCompletion) ([]LeaseCompleted, error) {
	if len(items) > MaxLeaseCompletions {
		return nil, fieldErr("items", "%d items; at most %d at once", len(items), MaxLeaseCompletions)
	}
	out := make([]LeaseCompleted, len(items))
	toks := make([]leaseToken, len(items))
	results := make([][]byte, len(items))
	ids := make([]int64, 0, len(items))
	for i, it := range items {
		tok, err := parseLeaseToken(it.Token)
		if err != nil {
			out[i].Err = err
			continue
		}
		toks[i], out[i].ID = tok, tok.id
		if it.Result != nil {
			b, err := marshalResult(it.Result)
			if err != nil {
				out[i].Err = err
				continue
			}
			results[i] = b
		}
		ids = append(ids, tok.id)
	}
	if len(ids) == 0 {
		return out, nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	jobs, err := c.store.GetMany(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("rota: complete leases: %w", err)
	}
	byID := make(map[int64]*store.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	now := c.now()
	fs := make([]store.FinishParams, 0, len(ids))
	which := make([]int, 0, len(ids)) // fs[k] finishes items[which[k]]
	for i := range items {
		if out[i].Err != nil {
			continue
		}
		tok := toks[i]
		j := byID[tok.id]
		if j == nil || j.State != StateRunning || j.Attempt != tok.attempt {
			out[i].Err = leaseLost(tok)
			continue
		}
		f := completeFinish(c, j, results[i], now)
		f.LeaseToken = tok.secret
		fs = append(fs, f)
		which = append(which, i)
	}
	if len(fs) == 0 {
		return out, nil
	}
	c.events.finishes.RLock()
	defer c.events.finishes.RUnlock()
	states, err := c.store.Finish(ctx, fs)
	if err != nil {
		return nil, fmt.Errorf("rota: complete leases: %w", err)
	}
	active := c.events.active()
	var es []Event
	skipped := 0
	for k, st := range states {
		i := which[k]
		if st == "" {
			out[i].Err = leaseLost(toks[i])
			continue
		}
		out[i].State = st
		c.remote.ended(fs[k].ID, byID[fs[k].ID].Kind, now)
		if !active {
			skipped++
			continue
		}
		after := *byID[fs[k].ID]
		after.State = st
		es = append(es, finishEvent(&after, fs[k], now))
	}
	if active {
		c.events.publish(es...)
	} else {
		c.events.skip(skipped)
	}
	return out, nil
}

// completeFinish is the finish that ends remote lease j done with result.
func completeFinish(c *Client, j *store.Job, result []byte, now time.Time) store.FinishParams {
	f := finishFor(j, j.Node, j.StartedAt, now, nil, nil, nil, false, nil)
	f.Result = result
	f.Limited = c.reg.options(j.Kind).GlobalMaxWorkers > 0
	return f
}

// finishEvent is the event of finish f of remote lease j (j.State is the
// state after it).
func finishEvent(after *store.Job, f store.FinishParams, now time.Time) Event {
	e := jobEvent(after, StateRunning, f.Error, now)
	e.Outcome, e.RunTime = f.Record.Outcome, f.Record.FinishedAt.Sub(f.Record.StartedAt)
	return e
}

// leaseLost is ErrLeaseLost for the attempt of tok.
func leaseLost(tok leaseToken) error {
	return fmt.Errorf("rota: end lease of job %d attempt %d: %w", tok.id, tok.attempt, ErrLeaseLost)
}
