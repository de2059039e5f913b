package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/rotahq/rota/store"
)

// sqlFinish ends one attempt; it applies only while the job runs that attempt.
// Its parameters are those of finishRow.args.
// A requested abort wins over a finish that would run the job again (the
// SET expressions read the row as it was before the update).
const sqlFinish = `UPDATE jobs SET
	state = CASE WHEN cancel_requested = 1 AND ?3 IN ('retrying', 'scheduled', 'queued') THEN 'aborted' ELSE ?3 END,
	run_at = coalesce(?4, run_at), attempt = attempt - ?5, result = coalesce(?6, result),
	last_error = CASE WHEN cancel_requested = 1 AND ?3 IN ('retrying', 'scheduled', 'queued') THEN last_error
		WHEN ?7 <> '' THEN ?7 ELSE last_error END,
	lease_until = NULL, lease_token = NULL, cancel_requested = 0,
	finished_at = CASE WHEN cancel_requested = 1 AND ?3 IN ('retrying', 'scheduled', 'queued') THEN ?9 ELSE ?8 END,
	updated_at = ?9, attempts = json_insert(attempts, '$[#]', json(?10))
	WHERE id = ?1 AND attempt = ?2 AND state = 'running' AND lease_token IS ?11
	RETURNING queue, kind, state`

// finishRows is the most finishes of one statement: a call with more, or
// with the same job twice, runs several statements.
const finishRows = 128

// finishSQL returns the statement that ends n attempts at once: the same
// changes as sqlFinish, from a VALUES list. Rows of NULLs pad it to n.
func (w *writer) finishSQL(n int) string {
	if q, ok := w.finishSQLs[n]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString(`UPDATE jobs SET
	state = CASE WHEN jobs.cancel_requested = 1 AND f.column3 IN ('retrying', 'scheduled', 'queued') THEN 'aborted' ELSE f.column3 END,
	run_at = coalesce(f.column4, jobs.run_at),
	attempt = jobs.attempt - f.column5, result = coalesce(f.column6, jobs.result),
	last_error = CASE WHEN jobs.cancel_requested = 1 AND f.column3 IN ('retrying', 'scheduled', 'queued') THEN jobs.last_error
		WHEN f.column7 <> '' THEN f.column7 ELSE jobs.last_error END,
	lease_until = NULL, lease_token = NULL, cancel_requested = 0,
	finished_at = CASE WHEN jobs.cancel_requested = 1 AND f.column3 IN ('retrying', 'scheduled', 'queued') THEN f.column9 ELSE f.column8 END,
	updated_at = f.column9, attempts = json_insert(jobs.attempts, '$[#]', json(f.column10))
	FROM (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	}
	b.WriteString(`) AS f
	WHERE jobs.id = f.column1 AND jobs.attempt = f.column2 AND jobs.state = 'running' AND jobs.lease_token IS f.column11
	RETURNING jobs.id, jobs.queue, jobs.kind, jobs.state`)
	q := b.String()
	w.finishSQLs[n] = q
	return q
}

// finishRow is a FinishParams checked and encoded outside the writer.
type finishRow struct {
	id    int64
	state store.State
	runAt time.Time // for the notice
	// args of sqlFinish, and a row of finishSQL: id, attempt, state, run_at,
	// uncount (0 or 1), result, error, finished_at, updated_at, record,
	// lease_token (NULL for a node's own attempt).
	args   [11]any
	repeat bool // an earlier finish of the same call names the same job
	// limited: announce the freed slot of the job's kind (NoticeFreed).
	limited bool
}

// finishMulti reports whether the finishes need more than one statement.
func finishMulti(rows []finishRow) bool {
	if len(rows) > finishRows {
		return true
	}
	for _, r := range rows {
		if r.repeat {
			return true
		}
	}
	return false
}

// Finish ends attempts; states[i] is the job's state after finishes[i] (""
// if it did not apply). See store.Store.
func (s *Store) Finish(ctx context.Context, finishes []store.FinishParams) ([]store.State, error) {
	if len(finishes) == 0 {
		return nil, nil
	}
	rows := make([]finishRow, len(finishes))
	seen := make(map[int64]bool, len(finishes))
	for i, f := range finishes {
		r, err := prepareFinish(f)
		if err != nil {
			return nil, fmt.Errorf("sqlite: finish %d (job %d): %w", i, f.ID, err)
		}
		r.repeat = seen[f.ID]
		seen[f.ID] = true
		rows[i] = r
	}
	states := make([]store.State, len(rows))
	err := s.do(ctx, finishMulti(rows), func(w *writer) error {
		clear(states)
		return w.finish(rows, states)
	})
	if err != nil {
		return nil, err
	}
	return states, nil
}

// finish runs in the writer: the first finish of each job in statements of
// up to finishRows rows, then the repeats one by one, in order.
func (w *writer) finish(rows []finishRow, states []store.State) error {
	var first, repeats []int
	for i := range rows {
		if rows[i].repeat {
			repeats = append(repeats, i)
		} else {
			first = append(first, i)
		}
	}
	for len(first) > 0 {
		chunk := first[:min(len(first), finishRows)]
		first = first[len(chunk):]
		n := 1 << bits.Len(uint(len(chunk)-1)) // smallest power of two >= len(chunk)
		args := make([]any, 0, 11*n)
		byID := make(map[int64]int, len(chunk))
		for _, i := range chunk {
			args = append(args, rows[i].args[:]...)
			byID[rows[i].id] = i
		}
		for range n - len(chunk) {
			args = append(args, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil)
		}
		res, err := w.query(w.finishSQL(n), args...)
		if err != nil {
			return fmt.Errorf("sqlite: finish: %w", err)
		}
		for res.Next() {
			var id int64
			var queue, kind string
			var state store.State
			if err := res.Scan(&id, &queue, &kind, &state); err != nil {
				res.Close()
				return fmt.Errorf("sqlite: finish: %w", err)
			}
			i := byID[id]
			states[i] = state
			w.noteFinish(&rows[i], queue, kind, state)
		}
		res.Close()
		if err := res.Err(); err != nil {
			return fmt.Errorf("sqlite: finish: %w", err)
		}
	}
	for _, i := range repeats {
		r := &rows[i]
		var queue, kind string
		var state store.State
		err := w.queryRow(sqlFinish, r.args[:]...).Scan(&queue, &kind, &state)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: finish job %d: %w", r.id, err)
		}
		states[i] = state
		w.noteFinish(r, queue, kind, state)
	}
	return nil
}

// noteFinish records the notices and the count change of a finish that
// applied: the job of (queue, kind) left running for state.
func (w *writer) noteFinish(r *finishRow, queue, kind string, state store.State) {
	w.noteState(state, queue, r.runAt)
	if r.limited {
		w.note(store.Notice{Type: store.NoticeFreed, Kind: kind})
	}
	w.count(queue, kind, store.StateRunning, state)
}

func prepareFinish(f store.FinishParams) (finishRow, error) {
	now := utc(f.Now)
	r := finishRow{id: f.ID, state: f.State, limited: f.Limited}
	var runAt, finishedAt any
	switch f.State {
	case store.StateDone, store.StateError, store.StateAborted:
		finishedAt = micros(now)
	case store.StateRetrying, store.StateScheduled:
		r.runAt = utc(f.RunAt)
		if r.runAt.IsZero() {
			r.runAt = now
		}
		runAt = micros(r.runAt)
	case store.StateQueued:
		r.runAt = now
		runAt = micros(now)
	default:
		return r, fmt.Errorf("cannot finish to state %q", f.State)
	}
	rec := f.Record
	// Stored as the PostgreSQL driver stores them: no NUL, valid UTF-8.
	rec.Node, rec.Error, rec.Location = store.CleanText(rec.Node), store.CleanText(rec.Error), store.CleanText(rec.Location)
	if rec.Number == 0 {
		rec.Number = f.Attempt
	}
	if rec.FinishedAt.IsZero() {
		rec.FinishedAt = now
	}
	recJSON, err := encodeAttempt(rec)
	if err != nil {
		return r, fmt.Errorf("attempt record: %w", err)
	}
	uncount := 0
	if f.Uncount {
		uncount = 1
	}
	r.args = [11]any{f.ID, f.Attempt, string(f.State), runAt, uncount, nullJSON(store.CleanJSON(f.Result)),
		store.CleanText(f.Error), finishedAt,
		micros(now), recJSON, nullString(f.LeaseToken)}
	return r, nil
}

// ExtendLeases moves the lease of the node's running attempts. See store.Store.
func (s *Store) ExtendLeases(ctx context.Context, node string, refs []store.JobRef, until time.Time) (store.LeaseReport, error) {
	var rep store.LeaseReport
	if len(refs) == 0 {
		return rep, nil
	}
	untilUS := micros(utc(until))
	err := s.doLazy(ctx, len(refs) > 1, func(w *writer) error {
		rep = store.LeaseReport{}
		for _, ref := range refs {
			var cancel bool
			var row scanner
			if ref.LeaseToken != "" {
				// A remote lease: extended by its token, whatever node holds it.
				row = w.queryRow(`UPDATE jobs SET lease_until = ?
					WHERE id = ? AND attempt = ? AND lease_token = ? AND state = 'running'
					RETURNING cancel_requested`, untilUS, ref.ID, ref.Attempt, ref.LeaseToken)
			} else {
				row = w.queryRow(`UPDATE jobs SET lease_until = ?
					WHERE id = ? AND attempt = ? AND node = ? AND lease_token IS NULL AND state = 'running'
					RETURNING cancel_requested`, untilUS, ref.ID, ref.Attempt, node)
			}
			err := row.Scan(&cancel)
			ref.LeaseToken = "" // reports carry no token
			switch {
			case errors.Is(err, sql.ErrNoRows):
				rep.Lost = append(rep.Lost, ref)
			case err != nil:
				return fmt.Errorf("sqlite: extend lease of job %d: %w", ref.ID, err)
			case cancel:
				rep.CancelRequested = append(rep.CancelRequested, ref)
			}
		}
		return nil
	})
	if err != nil {
		return store.LeaseReport{}, err
	}
	return rep, nil
}
