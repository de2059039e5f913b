package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rotahq/rota/store"
)

// sqlFinish ends one attempt; it applies only while the job runs that attempt.
const sqlFinish = `UPDATE jobs SET state = ?1, run_at = coalesce(?2, run_at), attempt = attempt - ?3,
	result = coalesce(?4, result), last_error = CASE WHEN ?5 <> '' THEN ?5 ELSE last_error END,
	lease_until = NULL, cancel_requested = 0, finished_at = ?6, updated_at = ?7,
	attempts = json_insert(attempts, '$[#]', json(?8))
	WHERE id = ?9 AND attempt = ?10 AND state = 'running'
	RETURNING queue`

// finishRow is a FinishParams checked and encoded outside the writer.
type finishRow struct {
	id    int64
	state store.State
	runAt time.Time // for the notice
	args  [10]any   // of sqlFinish
}

// Finish ends attempts; applied[i] tells whether finishes[i] took effect.
// See store.Store.
func (s *Store) Finish(ctx context.Context, finishes []store.FinishParams) ([]bool, error) {
	if len(finishes) == 0 {
		return nil, nil
	}
	rows := make([]finishRow, len(finishes))
	for i, f := range finishes {
		r, err := prepareFinish(f)
		if err != nil {
			return nil, fmt.Errorf("sqlite: finish %d (job %d): %w", i, f.ID, err)
		}
		rows[i] = r
	}
	applied := make([]bool, len(rows))
	err := s.do(ctx, func(w *writer) error {
		clear(applied)
		for i := range rows {
			r := &rows[i]
			var queue string
			err := w.queryRow(sqlFinish, r.args[:]...).Scan(&queue)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("sqlite: finish job %d: %w", r.id, err)
			}
			applied[i] = true
			w.noteState(r.state, queue, r.runAt)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

func prepareFinish(f store.FinishParams) (finishRow, error) {
	now := utc(f.Now)
	r := finishRow{id: f.ID, state: f.State}
	var runAt, finishedAt any
	switch f.State {
	case store.StateDone, store.StateError, store.StateAborted:
		finishedAt = micros(now)
	case store.StateRetrying, store.StateScheduled:
		r.runAt = utc(f.RunAt)
		if r.runAt.IsZero() {
			r.runAt = now
		}
		runAt = micros(r.runAt)
	case store.StateQueued:
		r.runAt = now
		runAt = micros(now)
	default:
		return r, fmt.Errorf("cannot finish to state %q", f.State)
	}
	rec := f.Record
	if rec.Number == 0 {
		rec.Number = f.Attempt
	}
	if rec.FinishedAt.IsZero() {
		rec.FinishedAt = now
	}
	recJSON, err := encodeAttempt(rec)
	if err != nil {
		return r, fmt.Errorf("attempt record: %w", err)
	}
	uncount := 0
	if f.Uncount {
		uncount = 1
	}
	r.args = [10]any{string(f.State), runAt, uncount, nullJSON(f.Result), f.Error, finishedAt, micros(now), recJSON,
		f.ID, f.Attempt}
	return r, nil
}

// ExtendLeases moves the lease of the node's running attempts. See store.Store.
func (s *Store) ExtendLeases(ctx context.Context, node string, refs []store.JobRef, until time.Time) (store.LeaseReport, error) {
	var rep store.LeaseReport
	if len(refs) == 0 {
		return rep, nil
	}
	untilUS := micros(utc(until))
	err := s.do(ctx, func(w *writer) error {
		rep = store.LeaseReport{}
		for _, ref := range refs {
			var cancel bool
			err := w.queryRow(`UPDATE jobs SET lease_until = ?
				WHERE id = ? AND attempt = ? AND node = ? AND state = 'running'
				RETURNING cancel_requested`, untilUS, ref.ID, ref.Attempt, node).Scan(&cancel)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				rep.Lost = append(rep.Lost, ref)
			case err != nil:
				return fmt.Errorf("sqlite: extend lease of job %d: %w", ref.ID, err)
			case cancel:
				rep.CancelRequested = append(rep.CancelRequested, ref)
			}
		}
		return nil
	})
	if err != nil {
		return store.LeaseReport{}, err
	}
	return rep, nil
}
