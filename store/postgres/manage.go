package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

const (
	sqlJobByIDLocked = `SELECT ` + jobColumns + ` FROM jobs WHERE id = $1 FOR UPDATE`
	// sqlJobByKeyLocked is the active job of a key, else the newest one.
	sqlJobByKeyLocked = `SELECT ` + jobColumns + ` FROM jobs WHERE kind = $1 AND key = $2 AND key <> ''
		ORDER BY state IN ` + finalStates + `, id DESC LIMIT 1 FOR UPDATE`
)

// lockJob reads and locks a job in tx (ErrNotFound if none).
func lockJob(ctx context.Context, tx pgx.Tx, id int64) (*store.Job, error) {
	j, err := scanJob(tx.QueryRow(ctx, sqlJobByIDLocked, id), false)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: job %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: job %d: %w", id, err)
	}
	return j, nil
}

// Cancel aborts a waiting job at once, or requests the abort of a running
// one (and notifies its node). See store.Store.
func (s *Store) Cancel(ctx context.Context, p store.CancelParams) (store.Transition, error) {
	if p.ID == 0 && p.Key == "" {
		return store.Transition{}, fmt.Errorf("postgres: cancel: no id or key: %w", store.ErrNotFound)
	}
	now := utc(p.Now)
	var tr store.Transition
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var j *store.Job
		var err error
		if p.ID != 0 {
			j, err = lockJob(ctx, tx, p.ID)
		} else {
			j, err = scanJob(tx.QueryRow(ctx, sqlJobByKeyLocked, p.Kind, p.Key), false)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				err = fmt.Errorf("postgres: job of kind %q with key %q: %w", p.Kind, p.Key, store.ErrNotFound)
			case err != nil:
				err = fmt.Errorf("postgres: job of kind %q with key %q: %w", p.Kind, p.Key, err)
			}
		}
		if err != nil {
			return err
		}
		tr = store.Transition{From: j.State}
		var n notes
		switch {
		case j.State.Final():
			return fmt.Errorf("postgres: cancel job %d: it is %s: %w", j.ID, j.State, store.ErrConflict)
		case j.State == store.StateRunning:
			tr.Job, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET cancel_requested = true, updated_at = $1,
				last_error = CASE WHEN $2 <> '' THEN $2 ELSE last_error END
				WHERE id = $3 RETURNING `+jobColumns, now, store.CleanText(p.Reason), j.ID), false)
			n.cancel = []int64{j.ID}
		default:
			tr.Job, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET state = 'aborted', finished_at = $1, updated_at = $1,
				last_error = CASE WHEN $2 <> '' THEN $2 ELSE last_error END
				WHERE id = $3 RETURNING `+jobColumns, now, store.CleanText(p.Reason), j.ID), false)
		}
		if err != nil {
			return fmt.Errorf("postgres: cancel job %d: %w", j.ID, err)
		}
		return s.notify(ctx, tx, &n)
	})
	if err != nil {
		return store.Transition{}, err
	}
	return tr, nil
}

// Retry puts a final, scheduled or retrying job back to queued now, raising
// MaxAttempts by one when its attempts are used up. Running, ready and
// queued jobs give ErrConflict; a job whose key has another active job gives
// ErrDuplicate. See store.Store.
func (s *Store) Retry(ctx context.Context, id int64, now time.Time) (store.Transition, error) {
	now = utc(now)
	var tr store.Transition
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		j, err := lockJob(ctx, tx, id)
		if err != nil {
			return err
		}
		tr = store.Transition{From: j.State}
		if !j.State.Final() && j.State != store.StateScheduled && j.State != store.StateRetrying {
			return fmt.Errorf("postgres: retry job %d: it is %s: %w", id, j.State, store.ErrConflict)
		}
		tr.Job, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET state = 'queued', run_at = $1, updated_at = $1,
			finished_at = NULL, lease_until = NULL, cancel_requested = false,
			max_attempts = CASE WHEN attempt >= max_attempts THEN max_attempts + 1 ELSE max_attempts END
			WHERE id = $2 RETURNING `+jobColumns, now, id), false)
		if isUniqueViolation(err) {
			return fmt.Errorf("postgres: retry job %d: another job has its key: %w", id, store.ErrDuplicate)
		}
		if err != nil {
			return fmt.Errorf("postgres: retry job %d: %w", id, err)
		}
		var n notes
		n.state(store.StateQueued, tr.Job.Queue, tr.Job.RunAt)
		return s.notify(ctx, tx, &n)
	})
	if err != nil {
		return store.Transition{}, err
	}
	return tr, nil
}

// Release moves a ready job to queued, or to scheduled if its run_at is
// after now. See store.Store.
func (s *Store) Release(ctx context.Context, id int64, now time.Time) (store.Transition, error) {
	now = utc(now)
	var tr store.Transition
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		j, err := lockJob(ctx, tx, id)
		if err != nil {
			return err
		}
		tr = store.Transition{From: j.State}
		if j.State != store.StateReady {
			return fmt.Errorf("postgres: release job %d: it is %s: %w", id, j.State, store.ErrConflict)
		}
		state, runAt := store.StateQueued, now
		if j.RunAt.After(now) {
			state, runAt = store.StateScheduled, j.RunAt
		}
		tr.Job, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET state = $1, run_at = $2, updated_at = $3
			WHERE id = $4 RETURNING `+jobColumns, string(state), runAt, now, id), false)
		if err != nil {
			return fmt.Errorf("postgres: release job %d: %w", id, err)
		}
		var n notes
		n.state(state, j.Queue, runAt)
		return s.notify(ctx, tx, &n)
	})
	if err != nil {
		return store.Transition{}, err
	}
	return tr, nil
}

// Delete removes a job that is not running and returns it. See store.Store.
func (s *Store) Delete(ctx context.Context, id int64) (*store.Job, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	j, err := scanJob(s.pool.QueryRow(ctx, `DELETE FROM jobs WHERE id = $1 AND state <> 'running'
		RETURNING `+jobColumnsFull, id), true)
	if err == nil {
		return j, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: delete job %d: %w", id, err)
	}
	var state string
	err = s.pool.QueryRow(ctx, `SELECT state FROM jobs WHERE id = $1`, id).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: job %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: delete job %d: %w", id, err)
	}
	return nil, fmt.Errorf("postgres: delete job %d: it is %s: %w", id, state, store.ErrConflict)
}
