package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"strings"
	"time"

	"github.com/rotahq/rota/store"
)

// insertRow is an InsertParams checked and encoded outside the writer.
type insertRow struct {
	p        store.InsertParams
	now      time.Time
	args     any
	metadata string
	state    store.State
	runAt    time.Time
}

// insertTarget is a row to insert, where its result goes and the op it
// belongs to (for its notices).
type insertTarget struct {
	r   *insertRow
	res *store.InsertResult
	o   *op
}

// Insert inserts jobs, all or none. See store.Store.
func (s *Store) Insert(ctx context.Context, now time.Time, jobs []store.InsertParams) ([]store.InsertResult, error) {
	return s.InsertHooked(ctx, now, jobs, nil)
}

// InsertHooked is Insert that calls committed (if not nil) with the results
// right after the commit, before the WAL's fsync (store.CommitHookInserter).
func (s *Store) InsertHooked(ctx context.Context, now time.Time, jobs []store.InsertParams,
	committed func([]store.InsertResult)) ([]store.InsertResult, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	now = utc(now)
	rows := make([]insertRow, len(jobs))
	for i, p := range jobs {
		if err := p.Check(); err != nil {
			return nil, fmt.Errorf("sqlite: insert job %d: %w", i, err)
		}
		md, err := encodeMetadata(p.Metadata)
		if err != nil {
			return nil, fmt.Errorf("sqlite: insert job %d: metadata: %w", i, err)
		}
		state, runAt := store.InitialState(p.Hold, p.RunAt, now)
		rows[i] = insertRow{p: p, now: now, args: nullJSON(p.Args), metadata: md, state: state, runAt: runAt}
	}
	results := make([]store.InsertResult, len(rows))
	o := &op{run: func(w *writer) error {
		clear(results)
		return w.insert(rows, results)
	}, multi: len(rows) > 1}
	if committed != nil {
		o.committed = func() { committed(results) }
	}
	keyed := false
	for _, p := range jobs {
		keyed = keyed || p.Key != ""
	}
	if !keyed {
		// Rows without keys can share a statement with other ops' rows.
		o.bulk = &bulkInsert{rows: rows, results: results}
	}
	if err := s.submit(ctx, o); err != nil {
		return nil, err
	}
	return results, nil
}

// queueRoom tracks a capped queue's waiting jobs during one insert.
type queueRoom struct {
	settings queueSettings
	waiting  int
}

// insertColumns are the columns an insert sets, in the order of insertArgs.
const insertColumns = `kind, queue, args, priority, run_at, state, key, metadata, max_attempts, timeout, created_at, updated_at`

// maxInsertRows is the most rows of one INSERT statement.
const maxInsertRows = 256

const (
	sqlActiveByKey = `SELECT ` + jobColumns + ` FROM jobs
		WHERE kind = ? AND key = ? AND key <> '' AND state NOT IN ` + finalStates
	// sqlWaitingCount counts a queue's waiting jobs, stopping at the cap.
	sqlWaitingCount = `SELECT count(*) FROM (SELECT 1 FROM jobs
		WHERE queue = ? AND state IN ` + waitingStates + ` LIMIT ?)`
	sqlReplaceJob = `UPDATE jobs SET args = ?, metadata = ?, priority = ?, run_at = ?, state = ?, max_attempts = ?,
		timeout = ?, updated_at = ? WHERE id = ? RETURNING ` + jobColumns
	sqlUpdatePriority = `UPDATE jobs SET priority = ?, updated_at = ? WHERE id = ? RETURNING ` + jobColumns
)

// insertSQL returns the INSERT statement for n rows.
func (w *writer) insertSQL(n int) string {
	if q, ok := w.insertSQLs[n]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO jobs (` + insertColumns + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	}
	q := b.String()
	w.insertSQLs[n] = q
	return q
}

// insert runs in the writer. Rows without a key are inserted by multi-row
// statements; a row with a key is resolved alone, in input order, so that
// it sees the rows before it.
func (w *writer) insert(rows []insertRow, results []store.InsertResult) error {
	var (
		rooms map[string]*queueRoom
		run   []insertTarget // rows waiting for a multi-row insert
	)
	flush := func() error {
		err := w.insertRows(run)
		run = run[:0]
		return err
	}
	for i := range rows {
		r := &rows[i]
		p := &r.p
		if p.Key != "" {
			if err := flush(); err != nil {
				return err
			}
			existing, err := scanJob(w.queryRow(sqlActiveByKey, p.Kind, p.Key), false)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("sqlite: insert job %d: %w", i, err)
			default:
				res, err := w.resolveConflict(r.now, r, existing)
				if de := (*store.DuplicateKeyError)(nil); errors.As(err, &de) {
					de.Index = i
					return fmt.Errorf("sqlite: insert job %d: %w", i, de)
				}
				if err != nil {
					return fmt.Errorf("sqlite: insert job %d (kind %q, key %q): %w", i, p.Kind, p.Key, err)
				}
				results[i] = res
				continue
			}
		}

		room := rooms[p.Queue]
		if room == nil {
			qs, err := w.queueSettings(p.Queue)
			if err != nil {
				return fmt.Errorf("sqlite: insert job %d: %w", i, err)
			}
			room = &queueRoom{settings: qs}
			if qs.maxSize > 0 {
				if err := w.queryRow(sqlWaitingCount, p.Queue, qs.maxSize).Scan(&room.waiting); err != nil {
					return fmt.Errorf("sqlite: insert job %d: queue size: %w", i, err)
				}
			}
			if rooms == nil {
				rooms = make(map[string]*queueRoom)
			}
			rooms[p.Queue] = room
		}
		if qs := room.settings; qs.maxSize > 0 && room.waiting >= qs.maxSize && p.Priority > qs.urgent {
			return fmt.Errorf("sqlite: insert job %d: %w", i, store.QueueFull(p.Queue, room.waiting, qs.maxSize, qs.urgent))
		}
		room.waiting++
		run = append(run, insertTarget{r: r, res: &results[i], o: w.cur})
		if p.Key != "" {
			if err := flush(); err != nil { // the next keyed row must see this one
				return err
			}
		}
	}
	return flush()
}

// bulkInsert is an insert op without keys, which the writer may merge with
// the ops next to it into shared multi-row statements.
type bulkInsert struct {
	rows    []insertRow
	results []store.InsertResult
}

// mergeable reports whether o is a bulk insert that can share statements:
// no queue of its rows has a size cap to check.
func (w *writer) mergeable(o *op) bool {
	if o.bulk == nil || o.ctx.Err() != nil {
		return false
	}
	for i := range o.bulk.rows {
		qs, err := w.queueSettings(o.bulk.rows[i].p.Queue)
		if err != nil || qs.maxSize > 0 {
			return false
		}
	}
	return true
}

// insertMerged inserts the rows of several bulk insert ops together.
func (w *writer) insertMerged(ops []*op) error {
	var targets []insertTarget
	for _, o := range ops {
		o.err, o.notes, o.counts = nil, nil, nil
		b := o.bulk
		clear(b.results)
		for i := range b.rows {
			targets = append(targets, insertTarget{r: &b.rows[i], res: &b.results[i], o: o})
		}
	}
	return w.insertRows(targets)
}

// insertRows inserts the targets with multi-row statements of up to
// maxInsertRows rows (a power of two, so that few statements are cached).
// The ids of the rows of one INSERT are consecutive (AUTOINCREMENT, and the
// writer holds the write lock), so the last insert id gives them all.
func (w *writer) insertRows(targets []insertTarget) error {
	for len(targets) > 0 {
		n := min(len(targets), maxInsertRows)
		n = 1 << (bits.Len(uint(n)) - 1) // largest power of two <= n
		chunk := targets[:n]
		targets = targets[n:]
		args := make([]any, 0, 12*n)
		for _, t := range chunk {
			r := t.r
			p := &r.p
			nowUS := micros(r.now)
			args = append(args, p.Kind, p.Queue, r.args, p.Priority, micros(r.runAt), string(r.state), p.Key,
				r.metadata, p.MaxAttempts, p.Timeout.Microseconds(), nowUS, nowUS)
		}
		res, err := w.exec(w.insertSQL(n), args...)
		if err != nil {
			return fmt.Errorf("sqlite: insert: %w", err)
		}
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("sqlite: insert: %w", err)
		}
		if got, err := res.RowsAffected(); err != nil || got != int64(n) {
			return fmt.Errorf("sqlite: insert: %d rows inserted of %d (%v)", got, n, err)
		}
		first := last - int64(n) + 1
		for k, t := range chunk {
			r := t.r
			p := &r.p
			*t.res = store.InsertResult{Job: &store.Job{
				ID:          first + int64(k),
				Kind:        p.Kind,
				Queue:       p.Queue,
				Args:        bytes.Clone(p.Args),
				Priority:    p.Priority,
				RunAt:       r.runAt,
				State:       r.state,
				Key:         p.Key,
				Metadata:    cloneMetadata(p.Metadata),
				MaxAttempts: p.MaxAttempts,
				Timeout:     p.Timeout.Truncate(time.Microsecond),
				CreatedAt:   r.now,
				UpdatedAt:   r.now,
			}}
			w.cur = t.o
			w.noteState(r.state, p.Queue, r.runAt)
			w.count(p.Queue, p.Kind, "", r.state)
		}
	}
	return nil
}

// resolveConflict applies r's conflict policy to the active job existing.
func (w *writer) resolveConflict(now time.Time, r *insertRow, existing *store.Job) (store.InsertResult, error) {
	res := store.InsertResult{Job: existing, Duplicate: true}
	p := &r.p
	waiting := existing.State != store.StateRunning
	switch p.OnConflict {
	case store.OnConflictReject:
		return res, &store.DuplicateKeyError{Kind: p.Kind, Key: p.Key, Existing: existing.ID}
	case store.OnConflictReplace:
		if !waiting {
			return res, nil
		}
		state, runAt := r.state, r.runAt
		switch {
		case existing.State == store.StateReady:
			state = store.StateReady
		case state == store.StateReady: // hold does not apply to a job that is not held
			state = store.StateQueued
			if runAt.After(now) {
				state = store.StateScheduled
			}
		}
		if state == store.StateScheduled && existing.State == store.StateRetrying {
			state = store.StateRetrying
		}
		j, err := scanJob(w.queryRow(sqlReplaceJob, r.args, r.metadata, p.Priority, micros(runAt), string(state),
			p.MaxAttempts, p.Timeout.Microseconds(), micros(now), existing.ID), false)
		if err != nil {
			return res, err
		}
		res.Job, res.Updated = j, true
		w.noteState(state, j.Queue, runAt)
		w.count(j.Queue, j.Kind, existing.State, j.State)
	case store.OnConflictUpdatePriority:
		if !waiting || existing.Priority == p.Priority {
			return res, nil
		}
		j, err := scanJob(w.queryRow(sqlUpdatePriority, p.Priority, micros(now), existing.ID), false)
		if err != nil {
			return res, err
		}
		res.Job, res.Updated = j, true
		if j.State == store.StateQueued {
			w.note(store.Notice{Type: store.NoticeQueued, Queue: j.Queue})
		}
	}
	return res, nil
}

// cloneMetadata copies m; an empty map becomes nil, as it reads back.
func cloneMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// noteState records the notice for a job that entered state.
func (w *writer) noteState(state store.State, queue string, runAt time.Time) {
	switch state {
	case store.StateQueued:
		w.note(store.Notice{Type: store.NoticeQueued, Queue: queue})
	case store.StateScheduled, store.StateRetrying:
		w.note(store.Notice{Type: store.NoticeScheduled, RunAt: runAt})
	}
}
