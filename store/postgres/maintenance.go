package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/rotahq/rota/store"
)

// rescueError is the LastError and attempt error of a job whose lease expired.
const rescueError = "lease expired: node lost"

// limitArg is a LIMIT parameter: nil (no limit) when limit <= 0.
func limitArg(limit int) *int64 {
	if limit <= 0 {
		return nil
	}
	l := int64(limit)
	return &l
}

// Promote moves due scheduled and retrying jobs to queued, in one
// statement (SKIP LOCKED: promoters on several nodes share the work). A
// limit <= 0 means no limit. See store.Store.
func (s *Store) Promote(ctx context.Context, now time.Time, limit int) ([]store.Transition, time.Time, error) {
	if s.isClosed() {
		return nil, time.Time{}, ErrClosed
	}
	now = utc(now)
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id, state FROM jobs WHERE state IN ('scheduled', 'retrying') AND run_at <= $1
			ORDER BY run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
		)
		UPDATE jobs AS j SET state = 'queued', updated_at = $1 FROM due WHERE j.id = due.id
		RETURNING `+jobColumnsJ+`, due.state`, now, limitArg(limit))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: promote: %w", err)
	}
	var promoted []store.Transition
	for rows.Next() {
		var from string
		j, err := scanJob(rows, false, &from)
		if err != nil {
			rows.Close()
			return nil, time.Time{}, fmt.Errorf("postgres: promote: %w", err)
		}
		promoted = append(promoted, store.Transition{Job: j, From: store.State(from)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: promote: %w", err)
	}
	sort.Slice(promoted, func(a, b int) bool {
		x, y := promoted[a].Job, promoted[b].Job
		if !x.RunAt.Equal(y.RunAt) {
			return x.RunAt.Before(y.RunAt)
		}
		return x.ID < y.ID
	})
	var n notes
	for _, t := range promoted {
		n.state(store.StateQueued, t.Job.Queue, t.Job.RunAt)
	}
	if err := s.notify(ctx, nil, &n); err != nil {
		return nil, time.Time{}, err
	}
	var next *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(run_at) FROM jobs WHERE state IN ('scheduled', 'retrying')`).Scan(&next); err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: promote: next: %w", err)
	}
	return promoted, fromNull(next), nil
}

// rescueState is the state a rescued job j goes to (SET expressions read
// the row as it was before the update).
const rescueState = `(CASE WHEN j.cancel_requested THEN 'aborted'
	WHEN j.attempt >= j.max_attempts THEN 'error' ELSE 'queued' END)`

// Rescue takes back running jobs whose lease expired before now, in one
// statement: to queued when attempts remain, to error when none do, and to
// aborted when a cancel was requested; the lost attempt is appended to the
// history. A limit <= 0 means no limit. See store.Store.
func (s *Store) Rescue(ctx context.Context, now time.Time, limit int) ([]store.Transition, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	now = utc(now)
	finished := now.Format(time.RFC3339Nano)
	// The new state is computed from the row the UPDATE sees, the version
	// locked by lost (not from a read of the statement's snapshot, which
	// misses a cancel committed after the statement began).
	rows, err := s.pool.Query(ctx, `WITH lost AS (
			SELECT id FROM jobs WHERE state = 'running' AND lease_until < $1
			ORDER BY lease_until, id LIMIT $2 FOR UPDATE SKIP LOCKED
		)
		UPDATE jobs AS j SET state = `+rescueState+`,
			run_at = CASE WHEN `+rescueState+` = 'queued' THEN $1 ELSE j.run_at END,
			lease_until = NULL, lease_token = NULL, cancel_requested = false, last_error = $3,
			finished_at = CASE WHEN `+rescueState+` = 'queued' THEN NULL ELSE $1 END, updated_at = $1,
			attempts = j.attempts || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
				'number', j.attempt, 'node', j.node,
				'started_at', to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
				'finished_at', $4::text, 'outcome', 'lost', 'error', $3::text)))
		FROM lost WHERE j.id = lost.id
		RETURNING `+jobColumnsJ, now, limitArg(limit), rescueError, finished)
	if err != nil {
		return nil, fmt.Errorf("postgres: rescue: %w", err)
	}
	jobs, err := scanJobs(rows, false)
	if err != nil {
		return nil, fmt.Errorf("postgres: rescue: %w", err)
	}
	var n notes
	rescued := make([]store.Transition, len(jobs))
	for i, j := range jobs {
		rescued[i] = store.Transition{Job: j, From: store.StateRunning}
		n.state(j.State, j.Queue, j.RunAt)
	}
	if err := s.notify(ctx, nil, &n); err != nil {
		return nil, err
	}
	return rescued, nil
}

// Prune deletes final jobs finished before the cutoffs. A zero Before
// prunes only the kinds named in BeforeByKind. See store.Store.
func (s *Store) Prune(ctx context.Context, p store.PruneParams) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	var total int64
	kinds := slices.Sorted(maps.Keys(p.BeforeByKind))
	del := func(cond string, args ...any) error {
		var lim *int64
		if p.Limit > 0 {
			left := int64(p.Limit) - total
			if left <= 0 {
				return nil
			}
			lim = &left
		}
		tag, err := s.pool.Exec(ctx, `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs
			WHERE state IN `+finalStates+` AND finished_at < $1 `+cond+` ORDER BY finished_at LIMIT $2)`,
			append([]any{args[0], lim}, args[1:]...)...)
		if err != nil {
			return fmt.Errorf("postgres: prune: %w", err)
		}
		total += tag.RowsAffected()
		return nil
	}
	for _, k := range kinds {
		if err := del(`AND kind = $3`, utc(p.BeforeByKind[k]), k); err != nil {
			return total, err
		}
	}
	if p.Before.IsZero() {
		return total, nil
	}
	if len(kinds) == 0 {
		return total, del(``, utc(p.Before))
	}
	return total, del(`AND kind <> ALL($3)`, utc(p.Before), kinds)
}
