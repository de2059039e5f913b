package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// insertRow is an InsertParams checked and encoded.
type insertRow struct {
	p        store.InsertParams
	args     *string
	metadata string
	state    store.State
	runAt    time.Time
}

const (
	// sqlInsertRows is the INSERT of the rows of parallel arrays ($1-$10),
	// in array order, so that the ids (from one sequence, increasing within
	// a statement) follow the input order.
	sqlInsertRows = `INSERT INTO jobs (kind, queue, args, priority, run_at, state, key, metadata, max_attempts,
			timeout, created_at, updated_at)
		SELECT u.kind, u.queue, u.args::jsonb, u.priority, u.run_at, u.state, '', u.metadata::jsonb, u.max_attempts,
			u.timeout, u.now, u.now
		FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::text[], $8::int[],
			$9::timestamptz[], $10::bigint[])
			WITH ORDINALITY AS u(kind, queue, args, priority, run_at, state, metadata, max_attempts, now, timeout, ord)`
	sqlInsertMany = sqlInsertRows + ` ORDER BY u.ord RETURNING id`
	// sqlInsertFast inserts rows without keys and notifies them in one
	// statement, unless a queue of $11 has a size cap: then it does nothing
	// and returns no row (the caller takes the transaction path). $12 is
	// the channel, $13 the payload (NULL: no notice).
	sqlInsertFast = `WITH capped AS MATERIALIZED (
			SELECT EXISTS (SELECT 1 FROM queues WHERE name = ANY($11::text[]) AND max_size > 0) AS yes
		), ins AS (` + sqlInsertRows + `
			WHERE NOT (SELECT yes FROM capped)
			ORDER BY u.ord
			RETURNING id
		), note AS (
			SELECT pg_notify($12, $13) WHERE $13::text IS NOT NULL AND EXISTS (SELECT 1 FROM ins)
		)
		SELECT id FROM ins
		UNION ALL
		SELECT 0 FROM note`
	// sqlInsertKeyed inserts one keyed job unless an active job holds its
	// key (then it returns nothing).
	sqlInsertKeyed = `INSERT INTO jobs (kind, queue, args, priority, run_at, state, key, metadata, max_attempts,
			timeout, created_at, updated_at)
		VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $11)
		ON CONFLICT (kind, key) WHERE key <> '' AND state NOT IN ` + finalStates + ` DO NOTHING
		RETURNING ` + jobColumns
	sqlActiveByKey = `SELECT ` + jobColumns + ` FROM jobs
		WHERE kind = $1 AND key = $2 AND key <> '' AND state NOT IN ` + finalStates + ` FOR UPDATE`
	sqlReplaceJob = `UPDATE jobs SET args = $1::jsonb, metadata = $2::jsonb, priority = $3, run_at = $4, state = $5,
		max_attempts = $6, timeout = $7, updated_at = $8 WHERE id = $9 RETURNING ` + jobColumns
	sqlUpdatePriority = `UPDATE jobs SET priority = $1, updated_at = $2 WHERE id = $3 RETURNING ` + jobColumns
	// sqlCappedQueues locks the settings rows of the capped queues among
	// $1, in name order (no deadlock between inserters), so that inserts
	// into a capped queue see each other's jobs.
	sqlCappedQueues = `SELECT name, max_size, urgent_priority FROM queues
		WHERE name = ANY($1) AND max_size > 0 ORDER BY name FOR UPDATE`
	// sqlWaitingCount counts a queue's waiting jobs, stopping at the cap.
	sqlWaitingCount = `SELECT count(*) FROM (SELECT 1 FROM jobs
		WHERE queue = $1 AND state IN ` + waitingStates + ` LIMIT $2) AS w`
)

// Insert inserts jobs, all or none, in one transaction. Rows without a key
// are inserted by one statement per run of them; a keyed row is resolved
// alone, in input order, with INSERT ... ON CONFLICT against the unique
// index of active keys, so concurrent inserts of a key make one job. A
// capped queue's settings row is locked, so its cap holds under
// concurrency. See store.Store.
func (s *Store) Insert(ctx context.Context, now time.Time, jobs []store.InsertParams) ([]store.InsertResult, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	now = utc(now)
	rows, queues, err := prepareInsert(now, jobs)
	if err != nil {
		return nil, err
	}
	results := make([]store.InsertResult, len(rows))
	keyed := false
	for _, p := range jobs {
		keyed = keyed || p.Key != ""
	}
	if !keyed {
		op := &insertOp{rows: rows, now: now, results: results}
		if err := s.insertGroup(ctx, op); err != nil {
			return nil, err
		}
		return op.results, nil
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		clear(results)
		var n notes
		if err := s.insertTx(ctx, tx, now, rows, queues, results, &n); err != nil {
			return err
		}
		return s.notify(ctx, tx, &n)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// prepareInsert checks and encodes jobs inserted at now; it returns their
// rows and their queues, sorted.
func prepareInsert(now time.Time, jobs []store.InsertParams) ([]insertRow, []string, error) {
	rows := make([]insertRow, len(jobs))
	queues := make(map[string]bool)
	for i, p := range jobs {
		if err := p.Check(); err != nil {
			return nil, nil, fmt.Errorf("postgres: insert job %d: %w", i, err)
		}
		md, err := encodeMetadata(p.Metadata)
		if err != nil {
			return nil, nil, fmt.Errorf("postgres: insert job %d: metadata: %w", i, err)
		}
		state, runAt := store.InitialState(p.Hold, p.RunAt, now)
		rows[i] = insertRow{p: p, args: nullJSON(p.Args), metadata: md, state: state, runAt: runAt}
		queues[p.Queue] = true
	}
	return rows, slices.Sorted(maps.Keys(queues)), nil
}

var _ store.TxInserter = (*Store)(nil)

// InsertTx is Insert inside tx, which must be a pgx.Tx on the store's
// database (begun on any pool or connection of the caller's): the jobs
// exist if and only if tx commits, and their notice is sent in tx, so
// nodes are woken when it commits. The rules are Insert's (all or none,
// key conflicts, queue caps); locks that they take (a capped queue's
// settings row, a key) are held until tx ends, so other inserts into that
// queue or of that key wait for it.
//
// The call runs in a savepoint of tx with the store's schema as its
// search_path, restored afterwards. When it fails, tx is rolled back to the
// savepoint: nothing of the call remains and tx stays usable, unless the
// failure broke tx itself (its connection was lost, ctx ended during a
// statement), in which case the error says so and tx can only be rolled
// back. On a duplicate key with OnConflictReject, a full queue or invalid
// parameters, tx stays usable.
//
// Under REPEATABLE READ or SERIALIZABLE, a key conflict with a job
// committed after tx's snapshot fails with a serialization error: retry
// the whole transaction, as PostgreSQL asks for any such error.
func (s *Store) InsertTx(ctx context.Context, tx any, now time.Time, jobs []store.InsertParams) ([]store.InsertResult, error) {
	ptx, ok := tx.(pgx.Tx)
	if !ok || ptx == nil {
		return nil, fmt.Errorf("postgres: insert in a transaction: want a pgx.Tx, got %T", tx)
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	now = utc(now)
	rows, queues, err := prepareInsert(now, jobs)
	if err != nil {
		return nil, err
	}
	sp, err := ptx.Begin(ctx) // SAVEPOINT
	if err != nil {
		return nil, fmt.Errorf("postgres: insert in a transaction: savepoint: %w", err)
	}
	results := make([]store.InsertResult, len(rows))
	if err := s.insertInSavepoint(ctx, sp, now, rows, queues, results); err != nil {
		// Not cancelled with ctx: a transaction whose statement failed is
		// usable again only after this.
		if rerr := sp.Rollback(context.WithoutCancel(ctx)); rerr != nil {
			return nil, fmt.Errorf("%w; the transaction is unusable: rollback to the savepoint: %w", err, rerr)
		}
		return nil, err
	}
	if err := sp.Commit(ctx); err != nil { // RELEASE SAVEPOINT
		return nil, fmt.Errorf("postgres: insert in a transaction: release savepoint: %w", err)
	}
	return results, nil
}

// insertInSavepoint runs an insert in sp, a savepoint of the caller's
// transaction, under the store's search_path, and sends its notice in sp.
func (s *Store) insertInSavepoint(ctx context.Context, sp pgx.Tx, now time.Time, rows []insertRow, queues []string,
	results []store.InsertResult) error {
	var oldPath string
	b := &pgx.Batch{}
	b.Queue(`SELECT current_setting('search_path')`).QueryRow(func(row pgx.Row) error { return row.Scan(&oldPath) })
	b.Queue(`SELECT set_config('search_path', $1, true)`, s.opts.Schema)
	if err := sp.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: insert in a transaction: search_path: %w", err)
	}
	var n notes
	if err := s.insertTx(ctx, sp, now, rows, queues, results, &n); err != nil {
		return err
	}
	b = &pgx.Batch{}
	if !n.empty() {
		b.Queue(`SELECT pg_notify($1, $2)`, s.channel, n.encode())
	}
	b.Queue(`SELECT set_config('search_path', $1, true)`, oldPath)
	if err := sp.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: insert in a transaction: notify: %w", err)
	}
	return nil
}

// queueRoom tracks a capped queue's waiting jobs during one insert.
type queueRoom struct {
	maxSize, urgent, waiting int
}

// lockRooms locks the settings rows of the capped queues among queues
// (sorted) and counts their waiting jobs.
func lockRooms(ctx context.Context, tx pgx.Tx, queues []string) (map[string]*queueRoom, error) {
	rooms := make(map[string]*queueRoom)
	rows, err := tx.Query(ctx, sqlCappedQueues, queues)
	if err != nil {
		return nil, fmt.Errorf("postgres: insert: queues: %w", err)
	}
	for rows.Next() {
		var name string
		var r queueRoom
		if err := rows.Scan(&name, &r.maxSize, &r.urgent); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: insert: queues: %w", err)
		}
		rooms[name] = &r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: insert: queues: %w", err)
	}
	for name, r := range rooms {
		if err := tx.QueryRow(ctx, sqlWaitingCount, name, r.maxSize).Scan(&r.waiting); err != nil {
			return nil, fmt.Errorf("postgres: insert: queue size of %q: %w", name, err)
		}
	}
	return rooms, nil
}

// insertTx runs an insert in tx.
func (s *Store) insertTx(ctx context.Context, tx pgx.Tx, now time.Time, rows []insertRow, queues []string,
	results []store.InsertResult, n *notes) error {
	if err := s.lockKeys(ctx, tx, rows); err != nil {
		return err
	}
	rooms, err := lockRooms(ctx, tx, queues)
	if err != nil {
		return err
	}
	// room takes a place in the row's queue or fails with ErrQueueFull.
	room := func(i int, p *store.InsertParams) error {
		r := rooms[p.Queue]
		if r == nil {
			return nil
		}
		if r.waiting >= r.maxSize && p.Priority > r.urgent {
			return fmt.Errorf("postgres: insert job %d: %w", i, store.QueueFull(p.Queue, r.waiting, r.maxSize, r.urgent))
		}
		r.waiting++
		return nil
	}

	var run []target // rows without key waiting for a multi-row insert
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		err := insertMany(ctx, tx, run, n)
		run = run[:0]
		return err
	}
	for i := range rows {
		r := &rows[i]
		if r.p.Key == "" {
			if err := room(i, &r.p); err != nil {
				return err
			}
			run = append(run, target{r: r, now: now, res: &results[i]})
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		res, err := s.insertKeyed(ctx, tx, now, r, func() error { return room(i, &r.p) }, n)
		if err != nil {
			if de := (*store.DuplicateKeyError)(nil); errors.As(err, &de) {
				de.Index = i
				return fmt.Errorf("postgres: insert job %d: %w", i, de)
			}
			if errors.Is(err, store.ErrQueueFull) {
				return err
			}
			return fmt.Errorf("postgres: insert job %d (kind %q, key %q): %w", i, r.p.Kind, r.p.Key, err)
		}
		results[i] = res
	}
	return flush()
}

// lockKeys takes transaction-level advisory locks on the keys of rows, in
// one global order, when there are several: two batches that share keys
// then run one after the other instead of deadlocking on each other's rows.
// A batch with one key needs none (it waits on at most one other batch).
func (s *Store) lockKeys(ctx context.Context, tx pgx.Tx, rows []insertRow) error {
	var locks []int64
	for i := range rows {
		if p := &rows[i].p; p.Key != "" {
			h := fnv.New64a()
			h.Write([]byte(s.opts.Schema + "\x00" + p.Kind + "\x00" + p.Key))
			locks = append(locks, int64(h.Sum64()))
		}
	}
	slices.Sort(locks)
	locks = slices.Compact(locks)
	if len(locks) < 2 {
		return nil
	}
	// unnest yields the array in order, so the locks are taken in order.
	if _, err := tx.Exec(ctx, `SELECT count(pg_advisory_xact_lock(h)) FROM unnest($1::bigint[]) AS h`, locks); err != nil {
		return fmt.Errorf("postgres: insert: lock keys: %w", err)
	}
	return nil
}

// target is a row to insert, its insert time and where its result goes.
type target struct {
	r   *insertRow
	now time.Time
	res *store.InsertResult
}

// rowsArgs returns the parameters $1-$10 of sqlInsertRows for ts.
func rowsArgs(ts []target) []any {
	k := len(ts)
	var (
		kinds, queues, states, mds = make([]string, k), make([]string, k), make([]string, k), make([]string, k)
		args                       = make([]*string, k)
		prios, maxes               = make([]int32, k), make([]int32, k)
		runAts, nows               = make([]time.Time, k), make([]time.Time, k)
		timeouts                   = make([]int64, k)
	)
	for x, t := range ts {
		r := t.r
		kinds[x], queues[x], states[x], mds[x] = r.p.Kind, r.p.Queue, string(r.state), r.metadata
		args[x], prios[x], maxes[x] = r.args, int32(r.p.Priority), int32(r.p.MaxAttempts)
		runAts[x], nows[x], timeouts[x] = r.runAt, t.now, r.p.Timeout.Microseconds()
	}
	return []any{kinds, queues, args, prios, runAts, states, mds, maxes, nows, timeouts}
}

// fillResults sets the results of ts, given the ids the INSERT returned
// (in any order: sorted, they follow the input order), and notes them.
func fillResults(ts []target, ids []int64, n *notes) error {
	if len(ids) != len(ts) {
		return fmt.Errorf("postgres: insert: %d rows inserted of %d", len(ids), len(ts))
	}
	slices.Sort(ids)
	for x, t := range ts {
		r := t.r
		p := &r.p
		*t.res = store.InsertResult{Job: &store.Job{
			ID:          ids[x],
			Kind:        p.Kind,
			Queue:       p.Queue,
			Args:        bytes.Clone(p.Args),
			Priority:    p.Priority,
			RunAt:       r.runAt,
			State:       r.state,
			Metadata:    cloneMetadata(p.Metadata),
			MaxAttempts: p.MaxAttempts,
			Timeout:     p.Timeout.Truncate(time.Microsecond),
			CreatedAt:   t.now,
			UpdatedAt:   t.now,
		}}
		if n != nil {
			n.state(r.state, p.Queue, r.runAt)
		}
	}
	return nil
}

// insertMany inserts the targets (rows without keys) with one statement.
func insertMany(ctx context.Context, tx pgx.Tx, ts []target, n *notes) error {
	rows, err := tx.Query(ctx, sqlInsertMany, rowsArgs(ts)...)
	if err != nil {
		return fmt.Errorf("postgres: insert: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("postgres: insert: %w", err)
	}
	return fillResults(ts, ids, n)
}

// insertKeyed inserts a keyed row or resolves its conflict with the active
// job of its key. room is called before a new job is inserted. The loop
// ends: an insert that finds a conflict waited for the conflicting
// transaction to commit, and the next read sees its job (unless that job
// already finished, and the key is free again).
func (s *Store) insertKeyed(ctx context.Context, tx pgx.Tx, now time.Time, r *insertRow, room func() error,
	n *notes) (store.InsertResult, error) {
	p := &r.p
	for {
		existing, err := scanJob(tx.QueryRow(ctx, sqlActiveByKey, p.Kind, p.Key), false)
		switch {
		case err == nil:
			return s.resolveConflict(ctx, tx, now, r, existing, n)
		case !errors.Is(err, pgx.ErrNoRows):
			return store.InsertResult{}, err
		}
		if err := room(); err != nil {
			return store.InsertResult{}, err
		}
		j, err := scanJob(tx.QueryRow(ctx, sqlInsertKeyed, p.Kind, p.Queue, r.args, p.Priority, r.runAt, string(r.state),
			p.Key, r.metadata, p.MaxAttempts, p.Timeout.Microseconds(), now), false)
		if err == nil {
			n.state(j.State, j.Queue, j.RunAt)
			return store.InsertResult{Job: j}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.InsertResult{}, err
		}
		// Another transaction inserted the key meanwhile: read it again.
	}
}

// resolveConflict applies r's conflict policy to the active job existing
// (locked by the caller's transaction).
func (s *Store) resolveConflict(ctx context.Context, tx pgx.Tx, now time.Time, r *insertRow, existing *store.Job,
	n *notes) (store.InsertResult, error) {
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
		j, err := scanJob(tx.QueryRow(ctx, sqlReplaceJob, r.args, r.metadata, p.Priority, runAt, string(state),
			p.MaxAttempts, p.Timeout.Microseconds(), now, existing.ID), false)
		if err != nil {
			return res, err
		}
		res.Job, res.Updated = j, true
		n.state(state, j.Queue, runAt)
	case store.OnConflictUpdatePriority:
		if !waiting || existing.Priority == p.Priority {
			return res, nil
		}
		j, err := scanJob(tx.QueryRow(ctx, sqlUpdatePriority, p.Priority, now, existing.ID), false)
		if err != nil {
			return res, err
		}
		res.Job, res.Updated = j, true
		n.state(j.State, j.Queue, j.RunAt)
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
