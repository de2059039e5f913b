package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// Queues lists every queue that has settings or jobs, by name, with its
// counts. The reads share one snapshot.
func (s *Store) Queues(ctx context.Context) ([]store.Queue, error) {
	var qs []store.Queue
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		qs, err = readQueues(ctx, tx, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: queues: %w", err)
	}
	return qs, nil
}

// readTx runs fn in a read-only repeatable-read transaction (one snapshot).
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if s.isClosed() {
		return ErrClosed
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// readQueues reads the queues (only the queue name when name is not empty).
func readQueues(ctx context.Context, tx pgx.Tx, name string) ([]store.Queue, error) {
	byName := make(map[string]*store.Queue)
	get := func(n string) *store.Queue {
		q := byName[n]
		if q == nil {
			q = &store.Queue{Name: n, UrgentPriority: -1}
			byName[n] = q
		}
		return q
	}
	rows, err := tx.Query(ctx, `SELECT name, paused, max_size, urgent_priority, updated_at FROM queues
		WHERE $1 = '' OR name = $1`, name)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n string
		var paused bool
		var maxSize, urgent int
		var updated time.Time
		if err := rows.Scan(&n, &paused, &maxSize, &urgent, &updated); err != nil {
			rows.Close()
			return nil, err
		}
		q := get(n)
		q.Paused, q.MaxSize, q.UrgentPriority, q.UpdatedAt = paused, maxSize, urgent, updated.UTC()
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = tx.Query(ctx, `SELECT queue, state, count(*),
			min(run_at) FILTER (WHERE state = 'queued') FROM jobs
		WHERE $1 = '' OR queue = $1 GROUP BY queue, state`, name)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n, st string
		var c int64
		var oldest *time.Time
		if err := rows.Scan(&n, &st, &c, &oldest); err != nil {
			rows.Close()
			return nil, err
		}
		q := get(n)
		if q.Counts == nil {
			q.Counts = make(map[store.State]int64)
		}
		q.Counts[store.State(st)] = c
		if oldest != nil {
			q.OldestQueuedAt = oldest.UTC()
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	out := make([]store.Queue, 0, len(byName))
	for _, q := range byName {
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateQueue creates or changes a queue's settings, notifies the change
// and returns the queue with its counts.
func (s *Store) UpdateQueue(ctx context.Context, u store.QueueUpdate) (store.Queue, error) {
	switch {
	case u.Name == "":
		return store.Queue{}, errors.New("postgres: update queue: empty name")
	case u.MaxSize != nil && *u.MaxSize < 0:
		return store.Queue{}, fmt.Errorf("postgres: update queue %q: negative max size %d", u.Name, *u.MaxSize)
	case u.UrgentPriority != nil && *u.UrgentPriority < -1:
		return store.Queue{}, fmt.Errorf("postgres: update queue %q: urgent priority %d < -1", u.Name, *u.UrgentPriority)
	}
	now := utc(u.Now)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO queues (name, paused, max_size, urgent_priority, updated_at)
			VALUES ($1, coalesce($2, false), coalesce($3, 0), coalesce($4, -1), $5)
			ON CONFLICT (name) DO UPDATE SET paused = coalesce($2, queues.paused),
				max_size = coalesce($3, queues.max_size),
				urgent_priority = coalesce($4, queues.urgent_priority), updated_at = $5`,
			u.Name, u.Paused, u.MaxSize, u.UrgentPriority, now)
		if err != nil {
			return fmt.Errorf("postgres: update queue %q: %w", u.Name, err)
		}
		return s.notify(ctx, tx, &notes{queueChanged: []string{u.Name}})
	})
	if err != nil {
		return store.Queue{}, err
	}
	var qs []store.Queue
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		qs, err = readQueues(ctx, tx, u.Name)
		return err
	})
	if err != nil {
		return store.Queue{}, fmt.Errorf("postgres: update queue %q: %w", u.Name, err)
	}
	for _, q := range qs {
		if q.Name == u.Name {
			return q, nil
		}
	}
	return store.Queue{}, fmt.Errorf("postgres: update queue %q: %w", u.Name, store.ErrNotFound)
}
