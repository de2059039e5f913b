package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rotahq/rota/store"
)

// Get returns one job with its attempt history.
func (s *Store) Get(ctx context.Context, id int64) (*store.Job, error) {
	j, err := scanJob(s.rdb.QueryRowContext(ctx, `SELECT `+jobColumnsFull+` FROM jobs WHERE id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: job %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get job %d: %w", id, err)
	}
	return j, nil
}

// GetByKey returns the active job of (kind, key), or else the newest one,
// with its attempt history.
func (s *Store) GetByKey(ctx context.Context, kind, key string) (*store.Job, error) {
	j, err := scanJob(s.rdb.QueryRowContext(ctx, `SELECT `+jobColumnsFull+` FROM jobs WHERE kind = ? AND key = ? AND key <> ''
		ORDER BY state IN `+finalStates+`, id DESC LIMIT 1`, kind, key), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: job of kind %q with key %q: %w", kind, key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get job of kind %q with key %q: %w", kind, key, err)
	}
	return j, nil
}

// List returns a page of jobs, without attempt history.
func (s *Store) List(ctx context.Context, p store.ListParams) (store.ListPage, error) {
	limit := p.PageLimit()
	var (
		where []string
		args  []any
	)
	inList := func(col string, vals []string) {
		list, _ := json.Marshal(vals)
		where = append(where, col+` IN (SELECT value FROM json_each(?))`)
		args = append(args, string(list))
	}
	if len(p.States) > 0 {
		states := make([]string, len(p.States))
		for i, st := range p.States {
			states[i] = string(st)
		}
		inList("state", states)
	}
	if len(p.Kinds) > 0 {
		inList("kind", p.Kinds)
	}
	if len(p.Queues) > 0 {
		inList("queue", p.Queues)
	}
	if p.Key != "" {
		where = append(where, `key = ?`)
		args = append(args, p.Key)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Metadata)) {
		where = append(where, `EXISTS (SELECT 1 FROM json_each(jobs.metadata) AS m WHERE m.key = ? AND m.type = 'text' AND m.value = ?)`)
		args = append(args, k, p.Metadata[k])
	}
	rangeOf := func(col string, from, to time.Time) {
		if !from.IsZero() {
			where = append(where, col+` >= ?`)
			args = append(args, micros(from))
		}
		if !to.IsZero() {
			where = append(where, col+` < ?`)
			args = append(args, micros(to))
		}
	}
	rangeOf("created_at", p.CreatedFrom, p.CreatedTo)
	rangeOf("run_at", p.RunAtFrom, p.RunAtTo)
	order := `id`
	switch {
	case p.Desc:
		order = `id DESC`
		if p.AfterID > 0 {
			where = append(where, `id < ?`)
			args = append(args, p.AfterID)
		}
	case p.AfterID > 0:
		where = append(where, `id > ?`)
		args = append(args, p.AfterID)
	}
	q := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY ` + order + ` LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return store.ListPage{}, fmt.Errorf("sqlite: list: %w", err)
	}
	jobs, err := scanJobs(rows, false)
	if err != nil {
		return store.ListPage{}, fmt.Errorf("sqlite: list: %w", err)
	}
	page := store.ListPage{Jobs: jobs}
	if len(jobs) > limit {
		page.Jobs = jobs[:limit]
		page.NextAfterID = jobs[limit-1].ID
	}
	return page, nil
}

// Counts returns job counts grouped by queue, kind and state.
func (s *Store) Counts(ctx context.Context) ([]store.Count, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT queue, kind, state, n FROM job_counts
		WHERE n > 0 ORDER BY queue, kind, state`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: counts: %w", err)
	}
	defer rows.Close()
	var counts []store.Count
	for rows.Next() {
		var c store.Count
		var st string
		if err := rows.Scan(&c.Queue, &c.Kind, &st, &c.N); err != nil {
			return nil, fmt.Errorf("sqlite: counts: %w", err)
		}
		c.State = store.State(st)
		counts = append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: counts: %w", err)
	}
	return counts, nil
}

// CountsByHour counts, per hour of UpdatedAt in [from, to), the jobs now in
// each state, ordered by hour then state.
func (s *Store) CountsByHour(ctx context.Context, from, to time.Time) ([]store.HourCount, error) {
	const hour = int64(time.Hour / time.Microsecond)
	rows, err := s.rdb.QueryContext(ctx, `SELECT updated_at / ?1 * ?1 AS hour, state, count(*) FROM jobs
		WHERE updated_at >= ?2 AND updated_at < ?3 GROUP BY hour, state ORDER BY hour, state`,
		hour, micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("sqlite: counts by hour: %w", err)
	}
	defer rows.Close()
	var counts []store.HourCount
	for rows.Next() {
		var c store.HourCount
		var h int64
		var st string
		if err := rows.Scan(&h, &st, &c.N); err != nil {
			return nil, fmt.Errorf("sqlite: counts by hour: %w", err)
		}
		c.Hour, c.State = fromMicros(h), store.State(st)
		counts = append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: counts by hour: %w", err)
	}
	return counts, nil
}

// LastFinished returns when the newest final job of (kind, key) finished.
func (s *Store) LastFinished(ctx context.Context, kind, key string) (time.Time, bool, error) {
	var t sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT max(finished_at) FROM jobs
		WHERE kind = ? AND key = ? AND key <> '' AND state IN `+finalStates, kind, key).Scan(&t)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: last finished: %w", err)
	}
	return fromNullMicros(t), t.Valid, nil
}

// GetMany returns the jobs of ids that exist, without attempt history.
func (s *Store) GetMany(ctx context.Context, ids []int64) ([]*store.Job, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > store.MaxGetMany {
		return nil, fmt.Errorf("sqlite: get %d jobs: at most %d at once", len(ids), store.MaxGetMany)
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get jobs: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("sqlite: get jobs: %w", err)
	}
	jobs, err := scanJobs(rows, false)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get jobs: %w", err)
	}
	return jobs, nil
}
