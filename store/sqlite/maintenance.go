package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rotahq/rota/store"
)

// rescueError is the LastError and attempt error of a job whose lease expired.
const rescueError = "lease expired: node lost"

// Promote moves due scheduled and retrying jobs to queued. A limit <= 0
// means no limit. See store.Store.
func (s *Store) Promote(ctx context.Context, now time.Time, limit int) ([]store.Transition, time.Time, error) {
	now = utc(now)
	var (
		promoted []store.Transition
		next     time.Time
	)
	err := s.doLazy(ctx, false, func(w *writer) error {
		promoted, next = nil, time.Time{}
		lim := int64(limit)
		if limit <= 0 {
			lim = -1 // SQLite: no limit
		}
		rows, err := w.query(`SELECT id, state FROM jobs WHERE state IN ('scheduled', 'retrying') AND run_at <= ?
			ORDER BY run_at, id LIMIT ?`, micros(now), lim)
		if err != nil {
			return fmt.Errorf("sqlite: promote: %w", err)
		}
		var ids []int64
		from := make(map[int64]store.State)
		for rows.Next() {
			var id int64
			var st string
			if err := rows.Scan(&id, &st); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: promote: %w", err)
			}
			ids = append(ids, id)
			from[id] = store.State(st)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: promote: %w", err)
		}
		if len(ids) > 0 {
			list, _ := json.Marshal(ids)
			rows, err := w.query(`UPDATE jobs SET state = 'queued', updated_at = ?
				WHERE id IN (SELECT value FROM json_each(?)) RETURNING `+jobColumns, micros(now), string(list))
			if err != nil {
				return fmt.Errorf("sqlite: promote: %w", err)
			}
			jobs, err := scanJobs(rows, false)
			if err != nil {
				return fmt.Errorf("sqlite: promote: %w", err)
			}
			byID := make(map[int64]*store.Job, len(jobs))
			for _, j := range jobs {
				byID[j.ID] = j
			}
			queues := make(map[string]bool)
			for _, id := range ids { // in run_at order
				j := byID[id]
				promoted = append(promoted, store.Transition{Job: j, From: from[id]})
				w.count(j.Queue, j.Kind, from[id], j.State)
				if !queues[j.Queue] {
					queues[j.Queue] = true
					w.note(store.Notice{Type: store.NoticeQueued, Queue: j.Queue})
				}
			}
		}
		var nextUS sql.NullInt64
		if err := w.queryRow(`SELECT min(run_at) FROM jobs WHERE state IN ('scheduled', 'retrying')`).Scan(&nextUS); err != nil {
			return fmt.Errorf("sqlite: promote: next: %w", err)
		}
		next = fromNullMicros(nextUS)
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return promoted, next, nil
}

// Rescue takes back running jobs whose lease expired before now: to queued
// when attempts remain, to error when none do, and to aborted when a cancel
// was requested. A limit <= 0 means no limit. See store.Store.
func (s *Store) Rescue(ctx context.Context, now time.Time, limit int) ([]store.Transition, error) {
	now = utc(now)
	var rescued []store.Transition
	err := s.doLazy(ctx, true, func(w *writer) error {
		rescued = nil
		lim := int64(limit)
		if limit <= 0 {
			lim = -1
		}
		rows, err := w.query(`SELECT id, attempt, max_attempts, node, started_at, cancel_requested FROM jobs
			WHERE state = 'running' AND lease_until < ? ORDER BY lease_until, id LIMIT ?`, micros(now), lim)
		if err != nil {
			return fmt.Errorf("sqlite: rescue: %w", err)
		}
		type lost struct {
			id              int64
			attempt, max    int
			node            string
			started         sql.NullInt64
			cancelRequested bool
		}
		var found []lost
		for rows.Next() {
			var l lost
			if err := rows.Scan(&l.id, &l.attempt, &l.max, &l.node, &l.started, &l.cancelRequested); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: rescue: %w", err)
			}
			found = append(found, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: rescue: %w", err)
		}
		for _, l := range found {
			state := store.StateQueued
			var finishedAt any
			switch {
			case l.cancelRequested:
				state, finishedAt = store.StateAborted, micros(now)
			case l.attempt >= l.max:
				state, finishedAt = store.StateError, micros(now)
			}
			rec, err := encodeAttempt(store.Attempt{
				Number:     l.attempt,
				Node:       l.node,
				StartedAt:  fromNullMicros(l.started),
				FinishedAt: now,
				Outcome:    store.OutcomeLost,
				Error:      rescueError,
			})
			if err != nil {
				return fmt.Errorf("sqlite: rescue: %w", err)
			}
			j, err := scanJob(w.queryRow(`UPDATE jobs SET state = ?1,
				run_at = CASE WHEN ?1 = 'queued' THEN ?2 ELSE run_at END,
				lease_until = NULL, lease_token = NULL, cancel_requested = 0, last_error = ?3, finished_at = ?4, updated_at = ?2,
				attempts = json_insert(attempts, '$[#]', json(?5))
				WHERE id = ?6 RETURNING `+jobColumns,
				string(state), micros(now), rescueError, finishedAt, rec, l.id), false)
			if err != nil {
				return fmt.Errorf("sqlite: rescue job %d: %w", l.id, err)
			}
			rescued = append(rescued, store.Transition{Job: j, From: store.StateRunning})
			w.noteState(j.State, j.Queue, j.RunAt)
			w.count(j.Queue, j.Kind, store.StateRunning, j.State)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rescued, nil
}

// Prune deletes final jobs finished before the cutoffs. A zero Before
// prunes only the kinds named in BeforeByKind. See store.Store.
func (s *Store) Prune(ctx context.Context, p store.PruneParams) (int64, error) {
	var total int64
	err := s.do(ctx, true, func(w *writer) error {
		total = 0
		// The writer keeps the job_counts rows that reached zero (see
		// applyCounts); they go here.
		if _, err := w.exec(`DELETE FROM job_counts WHERE n = 0`); err != nil {
			return fmt.Errorf("sqlite: prune: job counts: %w", err)
		}
		kinds := slices.Sorted(maps.Keys(p.BeforeByKind))
		limitLeft := func() int64 {
			if p.Limit <= 0 {
				return -1
			}
			return int64(p.Limit) - total
		}
		del := func(cond string, args ...any) error {
			lim := limitLeft()
			if lim == 0 {
				return nil
			}
			rows, err := w.query(`DELETE FROM jobs WHERE id IN (SELECT id FROM jobs
				WHERE state IN `+finalStates+` AND finished_at < ? `+cond+` ORDER BY finished_at LIMIT ?)
				RETURNING queue, kind, state`, append(args, lim)...)
			if err != nil {
				return fmt.Errorf("sqlite: prune: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var queue, kind, state string
				if err := rows.Scan(&queue, &kind, &state); err != nil {
					return fmt.Errorf("sqlite: prune: %w", err)
				}
				w.count(queue, kind, store.State(state), "")
				total++
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("sqlite: prune: %w", err)
			}
			return nil
		}
		for _, k := range kinds {
			if err := del(`AND kind = ?`, micros(p.BeforeByKind[k]), k); err != nil {
				return err
			}
		}
		if p.Before.IsZero() {
			return nil
		}
		if len(kinds) == 0 {
			return del(``, micros(p.Before))
		}
		list, _ := json.Marshal(kinds)
		return del(`AND kind NOT IN (SELECT value FROM json_each(?))`, micros(p.Before), string(list))
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
