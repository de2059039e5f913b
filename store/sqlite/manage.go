package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rotahq/rota/store"
)

const (
	sqlJobByID  = `SELECT ` + jobColumns + ` FROM jobs WHERE id = ?`
	sqlJobByKey = `SELECT ` + jobColumns + ` FROM jobs WHERE kind = ? AND key = ? AND key <> ''
		ORDER BY state IN ` + finalStates + `, id DESC LIMIT 1`
)

// jobByID reads a job in the writer's transaction (ErrNotFound if none).
func (w *writer) jobByID(id int64) (*store.Job, error) {
	j, err := scanJob(w.queryRow(sqlJobByID, id), false)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: job %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: job %d: %w", id, err)
	}
	return j, nil
}

// Cancel aborts a waiting job at once, or requests the abort of a running
// one. See store.Store.
func (s *Store) Cancel(ctx context.Context, p store.CancelParams) (store.Transition, error) {
	if p.ID == 0 && p.Key == "" {
		return store.Transition{}, fmt.Errorf("sqlite: cancel: no id or key: %w", store.ErrNotFound)
	}
	now := micros(utc(p.Now))
	var tr store.Transition
	err := s.do(ctx, false, func(w *writer) error {
		var j *store.Job
		var err error
		if p.ID != 0 {
			j, err = w.jobByID(p.ID)
		} else {
			j, err = scanJob(w.queryRow(sqlJobByKey, p.Kind, p.Key), false)
			if errors.Is(err, sql.ErrNoRows) {
				err = fmt.Errorf("sqlite: job of kind %q with key %q: %w", p.Kind, p.Key, store.ErrNotFound)
			}
		}
		if err != nil {
			return err
		}
		tr = store.Transition{From: j.State}
		switch {
		case j.State.Final():
			return fmt.Errorf("sqlite: cancel job %d: it is %s: %w", j.ID, j.State, store.ErrConflict)
		case j.State == store.StateRunning:
			tr.Job, err = scanJob(w.queryRow(`UPDATE jobs SET cancel_requested = 1, updated_at = ?1,
				last_error = CASE WHEN ?2 <> '' THEN ?2 ELSE last_error END
				WHERE id = ?3 RETURNING `+jobColumns, now, store.CleanText(p.Reason), j.ID), false)
			if err == nil {
				w.note(store.Notice{Type: store.NoticeCancel, JobIDs: []int64{j.ID}})
			}
		default:
			tr.Job, err = scanJob(w.queryRow(`UPDATE jobs SET state = 'aborted', finished_at = ?1, updated_at = ?1,
				last_error = CASE WHEN ?2 <> '' THEN ?2 ELSE last_error END
				WHERE id = ?3 RETURNING `+jobColumns, now, store.CleanText(p.Reason), j.ID), false)
		}
		if err != nil {
			return fmt.Errorf("sqlite: cancel job %d: %w", j.ID, err)
		}
		w.count(j.Queue, j.Kind, j.State, tr.Job.State)
		return nil
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
	nowUS := micros(utc(now))
	var tr store.Transition
	err := s.do(ctx, false, func(w *writer) error {
		j, err := w.jobByID(id)
		if err != nil {
			return err
		}
		tr = store.Transition{From: j.State}
		if !j.State.Final() && j.State != store.StateScheduled && j.State != store.StateRetrying {
			return fmt.Errorf("sqlite: retry job %d: it is %s: %w", id, j.State, store.ErrConflict)
		}
		if j.Key != "" && j.State.Final() {
			other, err := scanJob(w.queryRow(sqlActiveByKey, j.Kind, j.Key), false)
			switch {
			case err == nil:
				return fmt.Errorf("sqlite: retry job %d: job %d has its key: %w", id, other.ID, store.ErrDuplicate)
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("sqlite: retry job %d: %w", id, err)
			}
		}
		tr.Job, err = scanJob(w.queryRow(`UPDATE jobs SET state = 'queued', run_at = ?1, updated_at = ?1,
			finished_at = NULL, lease_until = NULL, cancel_requested = 0,
			max_attempts = CASE WHEN attempt >= max_attempts THEN max_attempts + 1 ELSE max_attempts END
			WHERE id = ?2 RETURNING `+jobColumns, nowUS, id), false)
		if err != nil {
			return fmt.Errorf("sqlite: retry job %d: %w", id, err)
		}
		w.noteState(store.StateQueued, tr.Job.Queue, tr.Job.RunAt)
		w.count(j.Queue, j.Kind, j.State, store.StateQueued)
		return nil
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
	err := s.do(ctx, false, func(w *writer) error {
		j, err := w.jobByID(id)
		if err != nil {
			return err
		}
		tr = store.Transition{From: j.State}
		if j.State != store.StateReady {
			return fmt.Errorf("sqlite: release job %d: it is %s: %w", id, j.State, store.ErrConflict)
		}
		state, runAt := store.StateQueued, now
		if j.RunAt.After(now) {
			state, runAt = store.StateScheduled, j.RunAt
		}
		tr.Job, err = scanJob(w.queryRow(`UPDATE jobs SET state = ?, run_at = ?, updated_at = ?
			WHERE id = ? RETURNING `+jobColumns, string(state), micros(runAt), micros(now), id), false)
		if err != nil {
			return fmt.Errorf("sqlite: release job %d: %w", id, err)
		}
		w.noteState(state, j.Queue, runAt)
		w.count(j.Queue, j.Kind, j.State, state)
		return nil
	})
	if err != nil {
		return store.Transition{}, err
	}
	return tr, nil
}

// Delete removes a job that is not running and returns it. See store.Store.
func (s *Store) Delete(ctx context.Context, id int64) (*store.Job, error) {
	var deleted *store.Job
	err := s.do(ctx, false, func(w *writer) error {
		j, err := scanJob(w.queryRow(`DELETE FROM jobs WHERE id = ? AND state <> 'running' RETURNING `+jobColumnsFull, id), true)
		if err == nil {
			deleted = j
			w.count(j.Queue, j.Kind, j.State, "")
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: delete job %d: %w", id, err)
		}
		j, err = w.jobByID(id)
		if err != nil {
			return err
		}
		return fmt.Errorf("sqlite: delete job %d: it is %s: %w", id, j.State, store.ErrConflict)
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}
