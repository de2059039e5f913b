package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// maxFireRounds bounds the insert rounds of FireSchedules: a fire job's
// key taken by a concurrent insert between the read of the active keys and
// the insert sends it to another round.
const maxFireRounds = 8

const (
	// sqlFireWinners locks the schedules still at their expected next fire
	// and unchanged since their expected update ($1 keys, $2 expected, $3
	// updated, NULL not checked), in key order (no deadlock between leaders).
	sqlFireWinners = `SELECT s.key FROM schedules AS s
		JOIN unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS u(key, expected, updated) ON s.key = u.key
		WHERE s.enabled AND s.next_fire = u.expected AND (u.updated IS NULL OR s.updated_at = u.updated)
		ORDER BY s.key FOR UPDATE OF s`
	// sqlFireActive returns (and locks) the active jobs holding the keys
	// ($1 kinds, $2 keys).
	sqlFireActive = `SELECT ` + jobColumns + ` FROM jobs
		WHERE (kind, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
			AND key <> '' AND state NOT IN ` + finalStates + ` FOR UPDATE`
	// sqlFireInsert inserts the fire jobs of parallel arrays ($1-$11, $11
	// the keys), in array order, skipping those whose key an active job
	// holds; it returns the inserted ones.
	sqlFireInsert = `INSERT INTO jobs (kind, queue, args, priority, run_at, state, key, metadata, max_attempts,
			timeout, created_at, updated_at)
		SELECT u.kind, u.queue, u.args::jsonb, u.priority, u.run_at, u.state, u.key, u.metadata::jsonb, u.max_attempts,
			u.timeout, u.now, u.now
		FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::text[], $8::int[],
			$9::timestamptz[], $10::bigint[], $11::text[])
			WITH ORDINALITY AS u(kind, queue, args, priority, run_at, state, metadata, max_attempts, now, timeout, key, ord)
		ORDER BY u.ord
		ON CONFLICT (kind, key) WHERE key <> '' AND state NOT IN ` + finalStates + ` DO NOTHING
		RETURNING id, kind, key`
	// sqlFireMove moves the schedules of the applied fires.
	sqlFireMove = `UPDATE schedules AS s SET next_fire = u.next, last_fire = u.last, last_outcome = u.outcome,
			last_job_id = coalesce(u.job, s.last_job_id), pending_job_id = coalesce(u.pending, s.pending_job_id),
			enabled = s.enabled AND u.disable IS NULL, disabled_reason = coalesce(u.disable, s.disabled_reason),
			updated_at = CASE WHEN u.disable IS NULL THEN s.updated_at ELSE u.now END
		FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::bigint[], $6::bigint[],
			$7::text[], $8::timestamptz[]) AS u(key, next, last, outcome, job, pending, disable, now)
		WHERE s.key = u.key`
)

// fireRow is a FireParams checked and encoded.
type fireRow struct {
	p   *store.FireParams
	now time.Time
	job *insertRow // nil: a fire without a job
	err error      // the fire's job is invalid: the fire does nothing
}

// kindKey is a job's (kind, key).
type kindKey struct{ kind, key string }

// FireSchedules records many fires in one transaction: it locks the
// schedules still at their expected next fire (the compare-and-set), reads
// the active jobs holding their job keys, inserts the other jobs with one
// statement (ON CONFLICT DO NOTHING against a concurrent insert of a key)
// and moves the schedules with one UPDATE. See store.Scheduler.
func (s *Store) FireSchedules(ctx context.Context, fires []store.FireParams) ([]store.FireResult, error) {
	if len(fires) == 0 {
		return nil, nil
	}
	if err := store.CheckFires(fires); err != nil {
		return nil, fmt.Errorf("postgres: fire schedules: %w", err)
	}
	rows := make([]fireRow, len(fires))
	for i := range fires {
		p := &fires[i]
		rows[i] = fireRow{p: p, now: utc(p.Now)}
		if p.Job == nil {
			continue
		}
		ins, _, err := prepareInsert(rows[i].now, []store.InsertParams{*p.Job})
		if err != nil {
			rows[i].err = fmt.Errorf("postgres: fire schedule %q: %w", p.Key, err)
			continue
		}
		rows[i].job = &ins[0]
	}
	results := make([]store.FireResult, len(fires))
	err := s.inTx(ctx, func(tx pgx.Tx) error { return s.fireTx(ctx, tx, rows, results) })
	if err != nil {
		return nil, err
	}
	return results, nil
}

// fireTx runs FireSchedules in tx.
func (s *Store) fireTx(ctx context.Context, tx pgx.Tx, rows []fireRow, results []store.FireResult) error {
	clear(results)
	var live []int
	for i := range rows {
		if rows[i].err != nil {
			results[i].Err = rows[i].err
			continue
		}
		live = append(live, i)
	}
	won, err := fireWinners(ctx, tx, rows, live)
	if err != nil {
		return err
	}
	var (
		apply   []int
		pending []int // fires whose job is not resolved yet
		queues  = make(map[string]bool)
	)
	for _, i := range won {
		if rows[i].job == nil {
			apply = append(apply, i)
			continue
		}
		pending = append(pending, i)
		queues[rows[i].job.p.Queue] = true
	}
	var n notes
	if len(pending) > 0 {
		rooms, err := lockRooms(ctx, tx, slices.Sorted(maps.Keys(queues)))
		if err != nil {
			return err
		}
		ids := make([]int64, len(rows))
		dupOf := make(map[int]int)
		for round := 0; len(pending) > 0; round++ {
			if round == maxFireRounds {
				return fmt.Errorf("postgres: fire schedules: job keys still contended after %d rounds", round)
			}
			existing, err := activeByKeys(ctx, tx, rows, pending)
			if err != nil {
				return err
			}
			mine := make(map[kindKey]int)
			var ins []int
			for _, i := range pending {
				p := &rows[i].job.p
				kk := kindKey{p.Kind, p.Key}
				if p.Key != "" {
					if j := existing[kk]; j != nil {
						results[i] = store.FireResult{Job: j, Duplicate: true}
						apply = append(apply, i)
						continue
					}
					if k, ok := mine[kk]; ok {
						dupOf[i] = k
						continue
					}
				}
				if r := rooms[p.Queue]; r != nil {
					if r.waiting >= r.maxSize && p.Priority > r.urgent {
						results[i].Err = fmt.Errorf("postgres: fire schedule %q: %w",
							rows[i].p.Key, store.QueueFull(p.Queue, r.waiting, r.maxSize, r.urgent))
						continue
					}
					r.waiting++
				}
				if p.Key != "" {
					mine[kk] = i
				}
				ins = append(ins, i)
			}
			got, err := insertFires(ctx, tx, rows, ins)
			if err != nil {
				return err
			}
			pending = pending[:0]
			for x, i := range ins {
				if got[x] == 0 { // a concurrent insert took the key: again
					if r := rooms[rows[i].job.p.Queue]; r != nil {
						r.waiting--
					}
					pending = append(pending, i)
					continue
				}
				ids[i] = got[x]
				r := rows[i].job
				results[i].Job = &store.Job{
					ID: got[x], Kind: r.p.Kind, Queue: r.p.Queue, Args: bytes.Clone(r.p.Args), Priority: r.p.Priority,
					RunAt: r.runAt, State: r.state, Key: r.p.Key, Metadata: cloneMetadata(r.p.Metadata),
					MaxAttempts: r.p.MaxAttempts, Timeout: r.p.Timeout.Truncate(time.Microsecond),
					CreatedAt: rows[i].now, UpdatedAt: rows[i].now,
				}
				n.state(r.state, r.p.Queue, r.runAt)
				apply = append(apply, i)
			}
			for i, k := range dupOf {
				if ids[k] != 0 {
					results[i] = store.FireResult{Job: results[k].Job, Duplicate: true}
					apply = append(apply, i)
					delete(dupOf, i)
				} else if !slices.Contains(pending, k) { // its twin did not insert (a full queue)
					pending = append(pending, i)
					delete(dupOf, i)
				}
			}
		}
	}
	slices.Sort(apply)
	for _, i := range apply {
		results[i].Applied = true
	}
	if err := moveSchedules(ctx, tx, rows, results, apply); err != nil {
		return err
	}
	return s.notify(ctx, tx, &n)
}

// fireWinners locks the schedules of the fires live that are enabled with
// next fire Expected and returns those fires, in input order.
func fireWinners(ctx context.Context, tx pgx.Tx, rows []fireRow, live []int) ([]int, error) {
	if len(live) == 0 {
		return nil, nil
	}
	keys := make([]string, len(live))
	expected := make([]*time.Time, len(live))
	updated := make([]*time.Time, len(live))
	for x, i := range live {
		keys[x], expected[x], updated[x] = rows[i].p.Key, nullTime(rows[i].p.Expected), nullTime(rows[i].p.Updated)
	}
	rs, err := tx.Query(ctx, sqlFireWinners, keys, expected, updated)
	if err != nil {
		return nil, fmt.Errorf("postgres: fire schedules: %w", err)
	}
	got, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: fire schedules: %w", err)
	}
	ok := make(map[string]bool, len(got))
	for _, k := range got {
		ok[k] = true
	}
	var won []int
	for _, i := range live {
		if ok[rows[i].p.Key] {
			won = append(won, i)
		}
	}
	return won, nil
}

// activeByKeys returns the active jobs holding the keys of the fire jobs
// idx, locked.
func activeByKeys(ctx context.Context, tx pgx.Tx, rows []fireRow, idx []int) (map[kindKey]*store.Job, error) {
	var kinds, keys []string
	for _, i := range idx {
		if p := &rows[i].job.p; p.Key != "" {
			kinds, keys = append(kinds, p.Kind), append(keys, p.Key)
		}
	}
	found := make(map[kindKey]*store.Job)
	if len(keys) == 0 {
		return found, nil
	}
	rs, err := tx.Query(ctx, sqlFireActive, kinds, keys)
	if err != nil {
		return nil, fmt.Errorf("postgres: fire schedules: active keys: %w", err)
	}
	jobs, err := scanJobs(rs, false)
	if err != nil {
		return nil, fmt.Errorf("postgres: fire schedules: active keys: %w", err)
	}
	for _, j := range jobs {
		found[kindKey{j.Kind, j.Key}] = j
	}
	return found, nil
}

// insertFires inserts the jobs of the fires idx and returns, for each, its
// id, or 0 when an active job took its key meanwhile.
func insertFires(ctx context.Context, tx pgx.Tx, rows []fireRow, idx []int) ([]int64, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	ts := make([]target, len(idx))
	keys := make([]string, len(idx))
	for x, i := range idx {
		ts[x] = target{r: rows[i].job, now: rows[i].now}
		keys[x] = rows[i].job.p.Key
	}
	rs, err := tx.Query(ctx, sqlFireInsert, append(rowsArgs(ts), keys)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: fire schedules: insert: %w", err)
	}
	type inserted struct {
		id        int64
		kind, key string
	}
	var got []inserted
	for rs.Next() {
		var r inserted
		if err := rs.Scan(&r.id, &r.kind, &r.key); err != nil {
			rs.Close()
			return nil, fmt.Errorf("postgres: fire schedules: insert: %w", err)
		}
		got = append(got, r)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("postgres: fire schedules: insert: %w", err)
	}
	// The ids follow the input order (one sequence, rows inserted in
	// ORDER BY u.ord): a row skipped by its key is absent from them.
	slices.SortFunc(got, func(a, b inserted) int { return cmp.Compare(a.id, b.id) })
	ids := make([]int64, len(idx))
	k := 0
	for x, i := range idx {
		p := &rows[i].job.p
		if k < len(got) && got[k].kind == p.Kind && got[k].key == p.Key {
			ids[x] = got[k].id
			k++
		}
	}
	if k != len(got) {
		return nil, fmt.Errorf("postgres: fire schedules: insert: %d inserted jobs do not follow the input", len(got)-k)
	}
	return ids, nil
}

// moveSchedules moves the schedules of the applied fires idx (locked by
// fireWinners) to their next fire, with their outcome and job.
func moveSchedules(ctx context.Context, tx pgx.Tx, rows []fireRow, results []store.FireResult, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	k := len(idx)
	var (
		keys, outcomes = make([]string, k), make([]string, k)
		nexts, lasts   = make([]*time.Time, k), make([]*time.Time, k)
		jobs, pendings = make([]*int64, k), make([]*int64, k)
		disables       = make([]*string, k)
		nows           = make([]time.Time, k)
	)
	for x, i := range idx {
		p := rows[i].p
		keys[x], outcomes[x], nows[x] = p.Key, p.Outcome, rows[i].now
		nexts[x], lasts[x] = nullTime(p.Next), nullTime(p.FireTime)
		if j := results[i].Job; j != nil {
			id := j.ID
			if p.Job.Hold {
				pendings[x] = &id
			} else {
				jobs[x] = &id
			}
		}
		if p.Disable != "" {
			disables[x] = &p.Disable
		}
	}
	tag, err := tx.Exec(ctx, sqlFireMove, keys, nexts, lasts, outcomes, jobs, pendings, disables, nows)
	if err != nil {
		return fmt.Errorf("postgres: fire schedules: %w", err)
	}
	if tag.RowsAffected() != int64(k) {
		return fmt.Errorf("postgres: fire schedules: %d of %d schedules moved: %w", tag.RowsAffected(), k, errFireMoved)
	}
	return nil
}

// errFireMoved: a locked schedule did not move; the transaction is rolled back.
var errFireMoved = errors.New("schedule changed during its fire")
