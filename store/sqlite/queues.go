package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/rotahq/rota/store"
)

// Queues lists every queue that has settings or jobs, by name, with its
// counts. The reads share one snapshot.
func (s *Store) Queues(ctx context.Context) ([]store.Queue, error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: queues: %w", err)
	}
	defer tx.Rollback()
	qs, err := readQueues(ctx, tx, "")
	if err != nil {
		return nil, fmt.Errorf("sqlite: queues: %w", err)
	}
	return qs, nil
}

// readQueues reads the queues (only the queue name when name is not empty).
func readQueues(ctx context.Context, tx *sql.Tx, name string) ([]store.Queue, error) {
	byName := make(map[string]*store.Queue)
	get := func(n string) *store.Queue {
		q := byName[n]
		if q == nil {
			q = &store.Queue{Name: n, UrgentPriority: -1}
			byName[n] = q
		}
		return q
	}
	// With name empty, "?1 = ''" selects every queue.
	rows, err := tx.QueryContext(ctx, `SELECT name, paused, max_size, urgent_priority, updated_at FROM queues
		WHERE ?1 = '' OR name = ?1`, name)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n string
		var paused bool
		var maxSize, urgent int
		var updated int64
		if err := rows.Scan(&n, &paused, &maxSize, &urgent, &updated); err != nil {
			rows.Close()
			return nil, err
		}
		q := get(n)
		q.Paused, q.MaxSize, q.UrgentPriority, q.UpdatedAt = paused, maxSize, urgent, fromMicros(updated)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = tx.QueryContext(ctx, `SELECT queue, state, sum(n) FROM job_counts
		WHERE n > 0 AND (?1 = '' OR queue = ?1) GROUP BY queue, state`, name)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n, st string
		var c int64
		if err := rows.Scan(&n, &st, &c); err != nil {
			rows.Close()
			return nil, err
		}
		q := get(n)
		if q.Counts == nil {
			q.Counts = make(map[store.State]int64)
		}
		q.Counts[store.State(st)] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// The oldest queued job of each queue that has some: a range of the
	// jobs_waiting index per queue.
	for _, q := range byName {
		if q.Counts[store.StateQueued] == 0 {
			continue
		}
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT min(run_at) FROM jobs
			WHERE queue = ? AND state = 'queued' AND state IN `+waitingStates, q.Name).Scan(&oldest); err != nil {
			return nil, err
		}
		q.OldestQueuedAt = fromNullMicros(oldest)
	}

	out := make([]store.Queue, 0, len(byName))
	for _, q := range byName {
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateQueue creates or changes a queue's settings and returns the queue
// with its counts.
func (s *Store) UpdateQueue(ctx context.Context, u store.QueueUpdate) (store.Queue, error) {
	switch {
	case u.Name == "":
		return store.Queue{}, errors.New("sqlite: update queue: empty name")
	case u.MaxSize != nil && *u.MaxSize < 0:
		return store.Queue{}, fmt.Errorf("sqlite: update queue %q: negative max size %d", u.Name, *u.MaxSize)
	case u.UrgentPriority != nil && *u.UrgentPriority < -1:
		return store.Queue{}, fmt.Errorf("sqlite: update queue %q: urgent priority %d < -1", u.Name, *u.UrgentPriority)
	}
	var paused, maxSize, urgent any
	if u.Paused != nil {
		paused = *u.Paused
	}
	if u.MaxSize != nil {
		maxSize = *u.MaxSize
	}
	if u.UrgentPriority != nil {
		urgent = *u.UrgentPriority
	}
	now := micros(utc(u.Now))
	err := s.do(ctx, false, func(w *writer) error {
		delete(w.queues, u.Name)
		_, err := w.exec(`INSERT INTO queues (name, paused, max_size, urgent_priority, updated_at)
			VALUES (?1, coalesce(?2, 0), coalesce(?3, 0), coalesce(?4, -1), ?5)
			ON CONFLICT (name) DO UPDATE SET paused = coalesce(?2, paused), max_size = coalesce(?3, max_size),
				urgent_priority = coalesce(?4, urgent_priority), updated_at = ?5`,
			u.Name, paused, maxSize, urgent, now)
		if err != nil {
			return fmt.Errorf("sqlite: update queue %q: %w", u.Name, err)
		}
		w.note(store.Notice{Type: store.NoticeQueueChanged, Queue: u.Name})
		return nil
	})
	if err != nil {
		return store.Queue{}, err
	}
	// The counts are read after the commit, outside the writer.
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return store.Queue{}, fmt.Errorf("sqlite: update queue %q: %w", u.Name, err)
	}
	defer tx.Rollback()
	qs, err := readQueues(ctx, tx, u.Name)
	if err != nil {
		return store.Queue{}, fmt.Errorf("sqlite: update queue %q: %w", u.Name, err)
	}
	for _, q := range qs {
		if q.Name == u.Name {
			return q, nil
		}
	}
	return store.Queue{}, fmt.Errorf("sqlite: update queue %q: %w", u.Name, store.ErrNotFound)
}
