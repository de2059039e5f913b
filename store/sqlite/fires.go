package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/rotahq/rota/store"
)

// maxFireRows is the most fires of one statement of FireSchedules.
const maxFireRows = 256

// fireRow is a FireParams checked and encoded outside the writer.
type fireRow struct {
	p   *store.FireParams
	job *insertRow // nil: a fire without a job
	err error      // the fire's job is invalid: the fire does nothing
}

// kindKey is a job's (kind, key).
type kindKey struct{ kind, key string }

// FireSchedules records many fires in one transaction: one query finds
// the fires whose schedule is still at the expected next fire (the
// compare-and-set, under the write lock), one the active jobs holding
// their job keys, then their jobs are inserted by multi-row statements and
// their schedules moved by one UPDATE ... FROM per chunk. See
// store.Scheduler.
func (s *Store) FireSchedules(ctx context.Context, fires []store.FireParams) ([]store.FireResult, error) {
	if len(fires) == 0 {
		return nil, nil
	}
	if err := store.CheckFires(fires); err != nil {
		return nil, fmt.Errorf("sqlite: fire schedules: %w", err)
	}
	rows := make([]fireRow, len(fires))
	for i := range fires {
		p := &fires[i]
		rows[i].p = p
		if p.Job == nil {
			continue
		}
		now := utc(p.Now)
		if err := p.Job.Check(); err != nil {
			rows[i].err = fmt.Errorf("sqlite: fire schedule %q: %w", p.Key, err)
			continue
		}
		md, err := encodeMetadata(p.Job.Metadata)
		if err != nil {
			rows[i].err = fmt.Errorf("sqlite: fire schedule %q: metadata: %w", p.Key, err)
			continue
		}
		state, runAt := store.InitialState(p.Job.Hold, p.Job.RunAt, now)
		rows[i].job = &insertRow{p: *p.Job, now: now, args: nullJSON(p.Job.Args), metadata: md, state: state, runAt: runAt}
	}
	results := make([]store.FireResult, len(fires))
	// Not multi, though it writes several statements: fire returns no
	// sentinel error (a fire's refusal is in its result), so a failure
	// rolls back the writer's whole transaction and the other ops run
	// again; without a savepoint, SQLite copies no page to a sub-journal
	// (a fifth of the op's time with 1,000 fires).
	if err := s.do(ctx, false, func(w *writer) error { return w.fire(rows, results) }); err != nil {
		return nil, err
	}
	return results, nil
}

// fire runs FireSchedules in the writer.
func (w *writer) fire(rows []fireRow, results []store.FireResult) error {
	clear(results)
	var live []int // fires that may apply, in input order
	for i := range rows {
		if rows[i].err != nil {
			results[i].Err = rows[i].err
			continue
		}
		live = append(live, i)
	}
	won, err := w.fireWinners(rows, live)
	if err != nil {
		return err
	}
	var keyed []int
	for _, i := range won {
		if j := rows[i].job; j != nil && j.p.Key != "" {
			keyed = append(keyed, i)
		}
	}
	existing, err := w.activeByKeys(rows, keyed)
	if err != nil {
		return err
	}

	// Jobs to insert, with the queue caps of w.insert.
	var (
		rooms    map[string]*queueRoom
		targets  []insertTarget
		inserted = make([]store.InsertResult, len(rows))
		mine     = make(map[kindKey]int) // keys inserted by this call: by which fire
		dupOf    = make(map[int]int)     // fire -> fire of this call that inserted its key
		apply    []int
	)
	for _, i := range won {
		r := rows[i].job
		if r == nil {
			apply = append(apply, i)
			continue
		}
		p := &r.p
		kk := kindKey{p.Kind, p.Key}
		if p.Key != "" {
			if j := existing[kk]; j != nil {
				results[i] = store.FireResult{Job: j, Duplicate: true}
				apply = append(apply, i)
				continue
			}
			if k, ok := mine[kk]; ok {
				dupOf[i] = k
				apply = append(apply, i)
				continue
			}
		}
		room := rooms[p.Queue]
		if room == nil {
			qs, err := w.queueSettings(p.Queue)
			if err != nil {
				return fmt.Errorf("sqlite: fire schedules: %w", err)
			}
			room = &queueRoom{settings: qs}
			if qs.maxSize > 0 {
				if err := w.queryRow(sqlWaitingCount, p.Queue, qs.maxSize).Scan(&room.waiting); err != nil {
					return fmt.Errorf("sqlite: fire schedules: queue size: %w", err)
				}
			}
			if rooms == nil {
				rooms = make(map[string]*queueRoom)
			}
			rooms[p.Queue] = room
		}
		if qs := room.settings; qs.maxSize > 0 && room.waiting >= qs.maxSize && p.Priority > qs.urgent {
			results[i].Err = fmt.Errorf("sqlite: fire schedule %q: %w",
				rows[i].p.Key, store.QueueFull(p.Queue, room.waiting, qs.maxSize, qs.urgent))
			continue
		}
		room.waiting++
		targets = append(targets, insertTarget{r: r, res: &inserted[i], o: w.cur})
		if p.Key != "" {
			mine[kk] = i
		}
		apply = append(apply, i)
	}
	if err := w.insertRows(targets); err != nil {
		return fmt.Errorf("sqlite: fire schedules: %w", err)
	}
	for _, i := range apply {
		switch k, dup := dupOf[i]; {
		case dup:
			results[i] = store.FireResult{Job: inserted[k].Job, Duplicate: true}
		case inserted[i].Job != nil:
			results[i].Job = inserted[i].Job
		}
		results[i].Applied = true
	}
	return w.moveSchedules(rows, results, apply)
}

// chunks calls fn with consecutive chunks of idx of up to maxFireRows
// elements, each a power of two long (few statements to cache).
func chunks(idx []int, fn func(chunk []int) error) error {
	for len(idx) > 0 {
		n := min(len(idx), maxFireRows)
		n = 1 << (bits.Len(uint(n)) - 1)
		if err := fn(idx[:n]); err != nil {
			return err
		}
		idx = idx[n:]
	}
	return nil
}

// valuesSQL returns "(?, ?), (?, ?), ..." for n rows of cols values.
func valuesSQL(n, cols int) string {
	row := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return strings.Repeat(row+", ", n-1) + row
}

// fireWinners returns the fires of live whose schedule is enabled with
// next fire Expected and unchanged since Updated, in input order.
func (w *writer) fireWinners(rows []fireRow, live []int) ([]int, error) {
	ok := make(map[string]bool, len(live))
	err := chunks(live, func(chunk []int) error {
		args := make([]any, 0, 3*len(chunk))
		for _, i := range chunk {
			p := rows[i].p
			args = append(args, p.Key, nullMicros(utc(p.Expected)), nullMicros(utc(p.Updated)))
		}
		rs, err := w.query(`WITH v(k, e, u) AS (VALUES `+valuesSQL(len(chunk), 3)+`)
			SELECT v.k FROM v JOIN schedules AS s ON s.key = v.k WHERE s.enabled = 1 AND s.next_fire = v.e
				AND (v.u IS NULL OR s.updated_at = v.u)`, args...)
		if err != nil {
			return fmt.Errorf("sqlite: fire schedules: %w", err)
		}
		defer rs.Close()
		for rs.Next() {
			var k string
			if err := rs.Scan(&k); err != nil {
				return fmt.Errorf("sqlite: fire schedules: %w", err)
			}
			ok[k] = true
		}
		if err := rs.Err(); err != nil {
			return fmt.Errorf("sqlite: fire schedules: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	won := make([]int, 0, len(ok))
	for _, i := range live {
		if ok[rows[i].p.Key] {
			won = append(won, i)
		}
	}
	return won, nil
}

// activeByKeys returns the active jobs holding the job keys of the fires
// idx (all keyed).
func (w *writer) activeByKeys(rows []fireRow, idx []int) (map[kindKey]*store.Job, error) {
	found := make(map[kindKey]*store.Job)
	err := chunks(idx, func(chunk []int) error {
		args := make([]any, 0, 2*len(chunk))
		for _, i := range chunk {
			p := &rows[i].job.p
			args = append(args, p.Kind, p.Key)
		}
		rs, err := w.query(`WITH v(kd, ky) AS (VALUES `+valuesSQL(len(chunk), 2)+`)
			SELECT `+jobColumns+` FROM jobs WHERE (kind, key) IN (SELECT kd, ky FROM v)
				AND key <> '' AND state NOT IN `+finalStates, args...)
		if err != nil {
			return fmt.Errorf("sqlite: fire schedules: active keys: %w", err)
		}
		jobs, err := scanJobs(rs, false)
		if err != nil {
			return fmt.Errorf("sqlite: fire schedules: active keys: %w", err)
		}
		for _, j := range jobs {
			found[kindKey{j.Kind, j.Key}] = j
		}
		return nil
	})
	return found, err
}

// moveSchedules moves the schedules of the applied fires idx to their
// next fire, with their outcome and job, by compare-and-set (which the
// caller checked under the same write lock: every row must change).
func (w *writer) moveSchedules(rows []fireRow, results []store.FireResult, idx []int) error {
	return chunks(idx, func(chunk []int) error {
		args := make([]any, 0, 9*len(chunk))
		for _, i := range chunk {
			p := rows[i].p
			var jobID, pendingID, disable any
			if j := results[i].Job; j != nil {
				if p.Job.Hold {
					pendingID = j.ID
				} else {
					jobID = j.ID
				}
			}
			if p.Disable != "" {
				disable = p.Disable
			}
			args = append(args, p.Key, nullMicros(utc(p.Expected)), nullMicros(utc(p.Next)), nullMicros(utc(p.FireTime)),
				p.Outcome, jobID, pendingID, disable, micros(utc(p.Now)))
		}
		r, err := w.exec(`WITH v(k, e, nx, lf, oc, jb, pd, ds, up) AS (VALUES `+valuesSQL(len(chunk), 9)+`)
			UPDATE schedules SET next_fire = v.nx, last_fire = v.lf, last_outcome = v.oc,
				last_job_id = coalesce(v.jb, schedules.last_job_id),
				pending_job_id = coalesce(v.pd, schedules.pending_job_id),
				enabled = CASE WHEN v.ds IS NULL THEN schedules.enabled ELSE 0 END,
				disabled_reason = coalesce(v.ds, schedules.disabled_reason),
				updated_at = CASE WHEN v.ds IS NULL THEN schedules.updated_at ELSE v.up END
			FROM v WHERE schedules.key = v.k AND schedules.enabled = 1 AND schedules.next_fire = v.e`, args...)
		if err != nil {
			return fmt.Errorf("sqlite: fire schedules: %w", err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: fire schedules: %w", err)
		}
		if n != int64(len(chunk)) {
			return fmt.Errorf("sqlite: fire schedules: %d of %d schedules moved: %w", n, len(chunk), errFireMoved)
		}
		return nil
	})
}

// errFireMoved: a schedule whose compare-and-set held did not move; the
// op is rolled back.
var errFireMoved = errors.New("schedule changed during its fire")
