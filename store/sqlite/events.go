package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotahq/rota/store"
)

// eventInsertChunk is how many records one insert statement of
// AppendEvents writes.
const eventInsertChunk = 64

// eventInsert is the statement that inserts n records.
func eventInsert(n int) string {
	return `INSERT INTO events (id, type, node, at, data) VALUES (?, ?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?, ?)`, n-1)
}

// AppendEvents appends records with the next consecutive ids. The writer
// goroutine serializes it with every other write. It is a durable op: a
// record lost to a crash after its id was read by a stream would let the
// id be given again to another record. See store.EventLog.
func (s *Store) AppendEvents(ctx context.Context, recs []store.EventRecord) (int64, error) {
	if len(recs) == 0 {
		return s.LastEventID(ctx)
	}
	for i, r := range recs {
		if err := r.Check(); err != nil {
			return 0, fmt.Errorf("sqlite: append events: [%d]: %w", i, err)
		}
	}
	var last int64
	err := s.do(ctx, true, func(w *writer) error {
		if err := w.queryRow(`UPDATE event_log SET last_id = last_id + ? WHERE one = 1 RETURNING last_id`,
			len(recs)).Scan(&last); err != nil {
			return fmt.Errorf("sqlite: append events: %w", err)
		}
		id := last - int64(len(recs))
		// Full chunks in one statement each, the rest one by one (two
		// statements to prepare, whatever the batch sizes).
		args := make([]any, 0, 5*eventInsertChunk)
		for len(recs) > 0 {
			n := 1
			if len(recs) >= eventInsertChunk {
				n = eventInsertChunk
			}
			args = args[:0]
			for _, r := range recs[:n] {
				id++
				args = append(args, id, r.Type, r.Node, micros(utc(r.At)), string(r.Data))
			}
			if _, err := w.exec(eventInsert(n), args...); err != nil {
				return fmt.Errorf("sqlite: append events: %w", err)
			}
			recs = recs[n:]
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
	if limit <= 0 || limit > store.MaxEventRead {
		limit = store.MaxEventRead
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, type, node, at, data FROM events WHERE id > ? ORDER BY id LIMIT ?`,
		afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read events: %w", err)
	}
	defer rows.Close()
	var out []store.EventRecord
	for rows.Next() {
		var (
			r    store.EventRecord
			at   int64
			data string
		)
		if err := rows.Scan(&r.ID, &r.Type, &r.Node, &at, &data); err != nil {
			return nil, fmt.Errorf("sqlite: read events: %w", err)
		}
		r.At, r.Data = fromMicros(at), json.RawMessage(data)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read events: %w", err)
	}
	return out, nil
}

// LastEventID returns the newest id ever appended. See store.EventLog.
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var last int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT last_id FROM event_log WHERE one = 1`).Scan(&last); err != nil {
		return 0, fmt.Errorf("sqlite: last event id: %w", err)
	}
	return last, nil
}

// PruneEvents deletes old records, keeping the newest. See store.EventLog.
func (s *Store) PruneEvents(ctx context.Context, p store.EventPruneParams) (int64, error) {
	if p.Keep < 0 {
		return 0, errors.New("sqlite: prune events: negative Keep")
	}
	var n int64
	err := s.do(ctx, false, func(w *writer) error {
		n = 0
		var last int64
		if err := w.queryRow(`SELECT last_id FROM event_log WHERE one = 1`).Scan(&last); err != nil {
			return fmt.Errorf("sqlite: prune events: %w", err)
		}
		cut := int64(0) // delete ids <= cut
		if p.Keep > 0 {
			cut = max(cut, last-int64(p.Keep))
		}
		if !p.Before.IsZero() {
			// The first record young enough to stay, walking the ids from
			// the oldest (so the walk costs the records it deletes); every
			// id before it goes.
			var young int64
			err := w.queryRow(`SELECT id FROM events WHERE at >= ? ORDER BY id LIMIT 1`, micros(utc(p.Before))).Scan(&young)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				cut = max(cut, last)
			case err != nil:
				return fmt.Errorf("sqlite: prune events: %w", err)
			default:
				cut = max(cut, young-1)
			}
		}
		cut = min(cut, last-1) // the newest record stays
		if cut <= 0 {
			return nil
		}
		res, err := w.exec(`DELETE FROM events WHERE id <= ?`, cut)
		if err != nil {
			return fmt.Errorf("sqlite: prune events: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: prune events: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// EventCursor returns the saved position of the reader name. See store.EventLog.
func (s *Store) EventCursor(ctx context.Context, name string) (int64, bool, error) {
	if err := store.CheckEventCursor(name, 0); err != nil {
		return 0, false, fmt.Errorf("sqlite: %w", err)
	}
	var id int64
	err := s.rdb.QueryRowContext(ctx, `SELECT last_id FROM event_cursors WHERE name = ?`, name).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("sqlite: event cursor %q: %w", name, err)
	}
	return id, true, nil
}

// SaveEventCursor saves the position of the reader name, never moving it
// back. See store.EventLog.
func (s *Store) SaveEventCursor(ctx context.Context, name string, id int64) error {
	if err := store.CheckEventCursor(name, id); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	now := micros(time.Now().UTC())
	err := s.do(ctx, false, func(w *writer) error {
		_, err := w.exec(`INSERT INTO event_cursors (name, last_id, updated) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET last_id = max(last_id, excluded.last_id), updated = excluded.updated`, name, id, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: save event cursor %q: %w", name, err)
	}
	return nil
}
