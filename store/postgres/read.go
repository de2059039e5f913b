package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// Get returns one job with its attempt history.
func (s *Store) Get(ctx context.Context, id int64) (*store.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumnsFull+` FROM jobs WHERE id = $1`, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: job %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get job %d: %w", id, err)
	}
	return j, nil
}

// GetByKey returns the active job of (kind, key), or else the newest one,
// with its attempt history.
func (s *Store) GetByKey(ctx context.Context, kind, key string) (*store.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumnsFull+` FROM jobs WHERE kind = $1 AND key = $2 AND key <> ''
		ORDER BY state IN `+finalStates+`, id DESC LIMIT 1`, kind, key), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: job of kind %q with key %q: %w", kind, key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get job of kind %q with key %q: %w", kind, key, err)
	}
	return j, nil
}

// List returns a page of jobs, without attempt history. Metadata filters
// use jsonb containment (@>).
func (s *Store) List(ctx context.Context, p store.ListParams) (store.ListPage, error) {
	limit := p.PageLimit()
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(p.States) > 0 {
		states := make([]string, len(p.States))
		for i, st := range p.States {
			states[i] = string(st)
		}
		where = append(where, `state = ANY(`+arg(states)+`::text[])`)
	}
	if len(p.Kinds) > 0 {
		where = append(where, `kind = ANY(`+arg(p.Kinds)+`::text[])`)
	}
	if len(p.Queues) > 0 {
		where = append(where, `queue = ANY(`+arg(p.Queues)+`::text[])`)
	}
	if p.Key != "" {
		where = append(where, `key = `+arg(p.Key))
	}
	if len(p.Metadata) > 0 {
		md, err := json.Marshal(p.Metadata)
		if err != nil {
			return store.ListPage{}, fmt.Errorf("postgres: list: metadata filter: %w", err)
		}
		where = append(where, `metadata @> `+arg(string(md))+`::jsonb`)
	}
	rangeOf := func(col string, from, to time.Time) {
		if !from.IsZero() {
			where = append(where, col+` >= `+arg(utc(from)))
		}
		if !to.IsZero() {
			where = append(where, col+` < `+arg(utc(to)))
		}
	}
	rangeOf("created_at", p.CreatedFrom, p.CreatedTo)
	rangeOf("run_at", p.RunAtFrom, p.RunAtTo)
	order := `id`
	switch {
	case p.Desc:
		order = `id DESC`
		if p.AfterID > 0 {
			where = append(where, `id < `+arg(p.AfterID))
		}
	case p.AfterID > 0:
		where = append(where, `id > `+arg(p.AfterID))
	}
	q := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY ` + order + ` LIMIT ` + arg(limit+1)

	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return store.ListPage{}, fmt.Errorf("postgres: list: %w", err)
	}
	jobs, err := scanJobs(rows, false)
	if err != nil {
		return store.ListPage{}, fmt.Errorf("postgres: list: %w", err)
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
	rows, err := s.pool.Query(ctx, `SELECT queue, kind, state, count(*) FROM jobs
		GROUP BY queue, kind, state ORDER BY queue, kind, state`)
	if err != nil {
		return nil, fmt.Errorf("postgres: counts: %w", err)
	}
	defer rows.Close()
	var counts []store.Count
	for rows.Next() {
		var c store.Count
		var st string
		if err := rows.Scan(&c.Queue, &c.Kind, &st, &c.N); err != nil {
			return nil, fmt.Errorf("postgres: counts: %w", err)
		}
		c.State = store.State(st)
		counts = append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: counts: %w", err)
	}
	return counts, nil
}

// CountsByHour counts, per hour of UpdatedAt in [from, to), the jobs now in
// each state, ordered by hour then state.
func (s *Store) CountsByHour(ctx context.Context, from, to time.Time) ([]store.HourCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT date_trunc('hour', updated_at, 'UTC') AS hour, state, count(*) FROM jobs
		WHERE updated_at >= $1 AND updated_at < $2 GROUP BY hour, state ORDER BY hour, state`, utc(from), utc(to))
	if err != nil {
		return nil, fmt.Errorf("postgres: counts by hour: %w", err)
	}
	defer rows.Close()
	var counts []store.HourCount
	for rows.Next() {
		var c store.HourCount
		var st string
		if err := rows.Scan(&c.Hour, &st, &c.N); err != nil {
			return nil, fmt.Errorf("postgres: counts by hour: %w", err)
		}
		c.Hour, c.State = c.Hour.UTC(), store.State(st)
		counts = append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: counts by hour: %w", err)
	}
	return counts, nil
}

// LastFinished returns when the newest final job of (kind, key) finished.
func (s *Store) LastFinished(ctx context.Context, kind, key string) (time.Time, bool, error) {
	var t *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(finished_at) FROM jobs
		WHERE kind = $1 AND key = $2 AND key <> '' AND state IN `+finalStates, kind, key).Scan(&t)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: last finished: %w", err)
	}
	return fromNull(t), t != nil, nil
}

// GetMany returns the jobs of ids that exist, without attempt history.
func (s *Store) GetMany(ctx context.Context, ids []int64) ([]*store.Job, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > store.MaxGetMany {
		return nil, fmt.Errorf("postgres: get %d jobs: at most %d at once", len(ids), store.MaxGetMany)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: get jobs: %w", err)
	}
	jobs, err := scanJobs(rows, false)
	if err != nil {
		return nil, fmt.Errorf("postgres: get jobs: %w", err)
	}
	return jobs, nil
}
