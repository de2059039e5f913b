package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// AppendEvents appends records with the next consecutive ids. The update
// of the event_log row comes first in the transaction: its row lock
// serializes the appenders of every node until they commit, so ids are
// committed in order. See store.EventLog.
func (s *Store) AppendEvents(ctx context.Context, recs []store.EventRecord) (int64, error) {
	if len(recs) == 0 {
		return s.LastEventID(ctx)
	}
	types := make([]string, len(recs))
	nodes := make([]string, len(recs))
	ats := make([]time.Time, len(recs))
	datas := make([]string, len(recs))
	for i, r := range recs {
		if err := r.Check(); err != nil {
			return 0, fmt.Errorf("postgres: append events: [%d]: %w", i, err)
		}
		types[i], nodes[i], ats[i], datas[i] = r.Type, r.Node, utc(r.At), string(r.Data)
	}
	var last int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `UPDATE event_log SET last_id = last_id + $1 WHERE one = 1 RETURNING last_id`,
			len(recs)).Scan(&last); err != nil {
			return fmt.Errorf("postgres: append events: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO events (id, type, node, at, data)
			SELECT $1 + u.ord, u.t, u.n, u.a, u.d::jsonb
			FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[]) WITH ORDINALITY AS u(t, n, a, d, ord)`,
			last-int64(len(recs)), types, nodes, ats, datas); err != nil {
			return fmt.Errorf("postgres: append events: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return last, nil
}

// ReadEvents returns records after afterID, by id. See store.EventLog.
func (s *Store) ReadEvents(ctx context.Context, afterID int64, limit int) ([]store.EventRecord, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if limit <= 0 || limit > store.MaxEventRead {
		limit = store.MaxEventRead
	}
	rows, err := s.pool.Query(ctx, `SELECT id, type, node, at, data::text FROM events WHERE id > $1 ORDER BY id LIMIT $2`,
		afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: read events: %w", err)
	}
	defer rows.Close()
	var out []store.EventRecord
	for rows.Next() {
		var (
			r    store.EventRecord
			data string
		)
		if err := rows.Scan(&r.ID, &r.Type, &r.Node, &r.At, &data); err != nil {
			return nil, fmt.Errorf("postgres: read events: %w", err)
		}
		r.At, r.Data = r.At.UTC(), json.RawMessage(data)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read events: %w", err)
	}
	return out, nil
}

// LastEventID returns the newest id ever appended. See store.EventLog.
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	var last int64
	if err := s.pool.QueryRow(ctx, `SELECT last_id FROM event_log WHERE one = 1`).Scan(&last); err != nil {
		return 0, fmt.Errorf("postgres: last event id: %w", err)
	}
	return last, nil
}

// PruneEvents deletes old records, keeping the newest. Nodes that prune at
// once delete the same rows; each reports what it deleted. See
// store.EventLog.
func (s *Store) PruneEvents(ctx context.Context, p store.EventPruneParams) (int64, error) {
	if p.Keep < 0 {
		return 0, errors.New("postgres: prune events: negative Keep")
	}
	last, err := s.LastEventID(ctx)
	if err != nil {
		return 0, err
	}
	cut := int64(0) // delete ids <= cut
	if p.Keep > 0 {
		cut = max(cut, last-int64(p.Keep))
	}
	if !p.Before.IsZero() {
		// The first record young enough to stay, walking the ids from the
		// oldest (so the walk costs the records it deletes).
		var young int64
		err := s.pool.QueryRow(ctx, `SELECT id FROM events WHERE at >= $1 ORDER BY id LIMIT 1`, utc(p.Before)).Scan(&young)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			cut = max(cut, last)
		case err != nil:
			return 0, fmt.Errorf("postgres: prune events: %w", err)
		default:
			cut = max(cut, young-1)
		}
	}
	cut = min(cut, last-1) // the newest record stays
	if cut <= 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE id <= $1`, cut)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// EventCursor returns the saved position of the reader name. See store.EventLog.
func (s *Store) EventCursor(ctx context.Context, name string) (int64, bool, error) {
	if err := store.CheckEventCursor(name, 0); err != nil {
		return 0, false, fmt.Errorf("postgres: %w", err)
	}
	if s.isClosed() {
		return 0, false, ErrClosed
	}
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT last_id FROM event_cursors WHERE name = $1`, name).Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("postgres: event cursor %q: %w", name, err)
	}
	return id, true, nil
}

// SaveEventCursor saves the position of the reader name, never moving it
// back. See store.EventLog.
func (s *Store) SaveEventCursor(ctx context.Context, name string, id int64) error {
	if err := store.CheckEventCursor(name, id); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if s.isClosed() {
		return ErrClosed
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO event_cursors (name, last_id, updated) VALUES ($1, $2, now())
		ON CONFLICT (name) DO UPDATE SET last_id = greatest(event_cursors.last_id, excluded.last_id), updated = excluded.updated`, name, id)
	if err != nil {
		return fmt.Errorf("postgres: save event cursor %q: %w", name, err)
	}
	return nil
}
