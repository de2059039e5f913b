package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// Claim moves up to p.Limit queued jobs of p.Queue to running, in one
// statement per pass: a subquery picks the candidates in claim order with
// FOR UPDATE SKIP LOCKED (so concurrent claimers never wait on each other
// or take the same job) and an UPDATE ... RETURNING claims them by id
// (claimUpdate). With per-kind
// caps, the candidates of a pass are ranked per kind and cut at the caps;
// when the caps cut some and slots remain, another pass reads on without
// the kinds that are full. See store.Store.
//
// A claim of kinds with cluster-wide limits runs in a transaction that
// first locks the kinds' rows of kind_limits (in kind order, FOR UPDATE),
// so the claims of a limited kind are serialized across every node; then,
// in later statements (which see every claim committed before the lock was
// granted), it counts the kinds' running jobs, admits what the limits
// allow (store.Limiter), claims, and writes the rate logs back. A claim
// without such kinds runs no extra statement.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	if p.Limit <= 0 || (p.Kinds != nil && len(p.Kinds) == 0) {
		return store.ClaimResult{}, nil
	}
	if err := p.Check(); err != nil {
		return store.ClaimResult{}, fmt.Errorf("postgres: claim: %w", err)
	}
	caps := p.Caps()
	if caps != nil && len(caps) == 0 {
		return store.ClaimResult{}, nil
	}
	if s.isClosed() {
		return store.ClaimResult{}, ErrClosed
	}
	now, lease := utc(p.Now), utc(p.LeaseUntil)
	args := []any{p.Queue, p.Node, nullTime(lease), now, 0, nullText(p.LeaseToken)}
	var filter strings.Builder
	if len(p.Metadata) > 0 {
		md, err := json.Marshal(p.Metadata)
		if err != nil {
			return store.ClaimResult{}, fmt.Errorf("postgres: claim: metadata filter: %w", err)
		}
		args = append(args, string(md))
		filter.WriteString(` AND metadata @> $` + strconv.Itoa(len(args)) + `::jsonb`)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Args)) {
		v, err := json.Marshal(p.Args[k])
		if err != nil {
			return store.ClaimResult{}, fmt.Errorf("postgres: claim: args filter %q: %w", k, err)
		}
		args = append(args, k, string(v))
		// jsonb equality: numbers by value, the rest by type and value; a
		// missing field is NULL and never equal.
		filter.WriteString(` AND args -> $` + strconv.Itoa(len(args)-1) + `::text = $` + strconv.Itoa(len(args)) + `::jsonb`)
	}
	if len(p.Limits()) == 0 {
		jobs, err := claimPasses(p.Limit, caps, args, filter.String(), func(sql string, args []any) ([]*store.Job, error) {
			return s.claimQuery(ctx, sql, args)
		})
		return store.ClaimResult{Jobs: jobs}, err
	}
	p.Now = now
	var res store.ClaimResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = store.ClaimResult{}
		lim := store.NewLimiter(p)
		caps := maps.Clone(caps)
		states, err := lockLimits(ctx, tx, lim)
		if err != nil {
			return err
		}
		lim.Admit(caps, states)
		if len(caps) > 0 {
			// The claim statements planned as in claimQuery; this
			// transaction commits durably (it holds the rate logs).
			if _, err := tx.Exec(ctx, sqlClaimPlan); err != nil {
				return err
			}
			res.Jobs, err = claimPasses(p.Limit, caps, args, filter.String(), func(sql string, args []any) ([]*store.Job, error) {
				rows, err := tx.Query(ctx, sql, args...)
				if err != nil {
					return nil, err
				}
				return scanJobs(rows, false)
			})
			if err != nil {
				return err
			}
		}
		return writeRateLogs(ctx, tx, lim.Started(&res))
	})
	if err != nil {
		return store.ClaimResult{}, err
	}
	return res, nil
}

const (
	// sqlLockLimits locks the rows of the kinds in $1 in kind order (one
	// order for every claimer: no deadlock) and reads their rate logs.
	sqlLockLimits = `SELECT kind, starts::text FROM kind_limits WHERE kind = ANY($1::text[]) ORDER BY kind FOR UPDATE`
	// sqlAddLimits makes the missing rows of the kinds in $1.
	sqlAddLimits = `INSERT INTO kind_limits (kind) SELECT k FROM unnest($1::text[]) AS k ORDER BY k ON CONFLICT DO NOTHING`
	// sqlRunningByKind counts the running jobs of the kinds in $1 through
	// the index of running jobs (jobs_lease, whose predicate is
	// lease_until IS NOT NULL: every running job has a lease), whose size is
	// bounded by the workers of the nodes, not by the jobs stored.
	sqlRunningByKind = `SELECT kind, count(*)::int FROM jobs WHERE state = 'running' AND lease_until IS NOT NULL
		AND kind = ANY($1::text[]) GROUP BY kind`
	// sqlWriteRateLogs replaces the rate logs of the kinds in $1 by $2.
	sqlWriteRateLogs = `UPDATE kind_limits AS l SET starts = u.starts::jsonb
		FROM unnest($1::text[], $2::text[]) AS u(kind, starts) WHERE l.kind = u.kind`
)

// lockLimits locks the rows of lim's kinds, creating the missing ones, and
// reads their states: the rate logs, and the running jobs of the kinds
// with a global maximum. The count is a statement of its own, after the
// lock: under READ COMMITTED its snapshot holds every claim committed by
// the transactions that held the lock before.
func lockLimits(ctx context.Context, tx pgx.Tx, lim *store.Limiter) (map[string]store.LimitState, error) {
	kinds := lim.Kinds()
	states := make(map[string]store.LimitState, len(kinds))
	for try := 0; ; try++ {
		clear(states)
		rows, err := tx.Query(ctx, sqlLockLimits, kinds)
		if err != nil {
			return nil, fmt.Errorf("postgres: claim: lock kind limits: %w", err)
		}
		for rows.Next() {
			var kind, starts string
			if err := rows.Scan(&kind, &starts); err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: claim: lock kind limits: %w", err)
			}
			log, err := store.DecodeRateLog([]byte(starts))
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: claim: kind %q: %w", kind, err)
			}
			states[kind] = store.LimitState{Log: log}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("postgres: claim: lock kind limits: %w", err)
		}
		if len(states) == len(kinds) {
			break
		}
		if try > 0 {
			return nil, fmt.Errorf("postgres: claim: kind limits: %d of %d rows after adding them", len(states), len(kinds))
		}
		if _, err := tx.Exec(ctx, sqlAddLimits, kinds); err != nil {
			return nil, fmt.Errorf("postgres: claim: add kind limits: %w", err)
		}
	}
	if global := lim.GlobalKinds(); len(global) > 0 {
		rows, err := tx.Query(ctx, sqlRunningByKind, global)
		if err != nil {
			return nil, fmt.Errorf("postgres: claim: running jobs: %w", err)
		}
		for rows.Next() {
			var kind string
			var n int
			if err := rows.Scan(&kind, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: claim: running jobs: %w", err)
			}
			st := states[kind]
			st.Running = n
			states[kind] = st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("postgres: claim: running jobs: %w", err)
		}
	}
	return states, nil
}

// writeRateLogs writes the rate logs that changed, in one statement.
func writeRateLogs(ctx context.Context, tx pgx.Tx, logs map[string]store.RateLog) error {
	if len(logs) == 0 {
		return nil
	}
	kinds := slices.Sorted(maps.Keys(logs))
	starts := make([]string, len(kinds))
	for i, k := range kinds {
		starts[i] = string(logs[k].Encode())
	}
	if _, err := tx.Exec(ctx, sqlWriteRateLogs, kinds, starts); err != nil {
		return fmt.Errorf("postgres: claim: write rate logs: %w", err)
	}
	return nil
}

// claimPasses claims up to limit jobs with caps (nil: any kind); args are
// the claim's parameters $1-$6 and those of filter. caps is used up. run
// runs one claim statement and returns the jobs it claimed.
func claimPasses(limit int, caps map[string]int, args []any, filter string,
	run func(sql string, args []any) ([]*store.Job, error)) ([]*store.Job, error) {
	args = slices.Clone(args)
	var jobs []*store.Job
	remain := limit
	for remain > 0 {
		args[4] = remain
		var sql string
		base := len(args)
		if caps == nil {
			sql = claimSQL(filter)
		} else {
			kinds := slices.Sorted(maps.Keys(caps))
			if len(kinds) == 0 {
				break
			}
			binding := false
			capList := make([]int32, len(kinds))
			for i, k := range kinds {
				capList[i] = int32(caps[k])
				binding = binding || caps[k] < remain
			}
			if binding {
				sql = claimCappedSQL(filter, len(args)+1)
				args = append(args[:len(args):len(args)], kinds, capList)
			} else {
				// No cap can cut this pass (the engine's usual claim: caps
				// of its free slots): only the kinds, no ranking.
				sql = claimSQL(filter + ` AND kind = ANY($` + strconv.Itoa(len(args)+1) + `::text[])`)
				args = append(args[:len(args):len(args)], kinds)
			}
		}
		got, err := run(sql, args)
		args = args[:base]
		if err != nil {
			return nil, fmt.Errorf("postgres: claim: %w", err)
		}
		jobs = append(jobs, got...)
		remain -= len(got)
		if caps == nil || len(got) == 0 {
			break
		}
		full := false
		for _, j := range got {
			caps[j.Kind]--
			if caps[j.Kind] <= 0 {
				delete(caps, j.Kind)
				full = true
			}
		}
		if !full { // the caps cut nothing: the queue has no more candidates
			break
		}
	}
	// RETURNING has no defined order.
	sort.Slice(jobs, func(i, j int) bool { return claimLess(jobs[i], jobs[j]) })
	return jobs, nil
}

// claimSettings are set for the transaction of each claim, in one
// statement: the claim's plan (sqlClaimPlan), and no wait for the WAL
// flush at commit: a claim lost in a crash only leaves its jobs queued, to
// be claimed again, as on SQLite (decision 0005).
var claimSettings = []string{sqlClaimPlan + `, set_config('synchronous_commit', 'off', true)`}

// sqlClaimPlan fixes the plan of the claim statements for the rest of the
// transaction, whatever the statistics say (decision 0008): sorts priced
// out, so the candidates are read in claim order from the claim index up
// to the LIMIT, never all read and sorted; sequential scans priced out, so
// the update finds its rows by primary key; and the generic plan of the
// prepared statement, made once per connection, so a claim is not planned
// again at each call (planning took a fifth of the claim's time). A
// generic plan cannot see the LIMIT or the queue, which is why the shape
// is fixed by the first two settings rather than left to estimates.
const sqlClaimPlan = `SELECT set_config('enable_sort', 'off', true), set_config('enable_seqscan', 'off', true),
	set_config('plan_cache_mode', 'force_generic_plan', true)`

// claimQuery runs the claim statement q and scans the claimed jobs. It
// runs in a transaction of its own with the claim's plan fixed, sent in
// one round trip: the claim must walk the claim index in order and stop at
// its LIMIT, and the planner, when its statistics predate a burst of
// inserts (a new queue, or autovacuum slow or off), estimates a queue at a
// handful of rows and prefers reading all of them and sorting, which made
// each claim of a 100,000-job queue read the whole queue (2,300 jobs/s
// instead of 26,000; decision 0008).
func (s *Store) claimQuery(ctx context.Context, q string, args []any) ([]*store.Job, error) {
	var jobs []*store.Job
	err := s.txBatch(ctx, claimSettings, q, args, func(rows pgx.Rows) error {
		var err error
		jobs, err = scanJobs(rows, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// txBatch runs the statement q in a transaction of its own after the
// settings, all sent in one round trip; read reads q's rows (and closes
// them).
func (s *Store) txBatch(ctx context.Context, settings []string, q string, args []any, read func(pgx.Rows) error) error {
	var b pgx.Batch
	b.Queue(`BEGIN`)
	for _, set := range settings {
		b.Queue(set)
	}
	b.Queue(q, args...)
	b.Queue(`COMMIT`)
	br := s.pool.SendBatch(ctx, &b)
	err := func() error {
		for range 1 + len(settings) {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if err := read(rows); err != nil {
			return err
		}
		_, err = br.Exec()
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// claimUpdate is the UPDATE of a claim of the jobs whose ids the query
// chosen returns (locked, FOR UPDATE SKIP LOCKED); $2 node, $3
// lease_until, $4 now, $6 lease_token. The ids are gathered once into an
// array (an InitPlan) that the update looks up by primary key: no join,
// so no plan can turn on a misestimated row count (decision 0008).
func claimUpdate(with, chosen string) string {
	return with + `UPDATE jobs AS j SET state = 'running', node = $2, lease_until = $3, lease_token = $6::text,
		started_at = $4, updated_at = $4,
		attempt = j.attempt + 1, cancel_requested = false
	WHERE j.id = ANY(ARRAY(` + chosen + `))
	RETURNING ` + jobColumnsJ
}

// claimPaused is true when the queue $1 is paused.
const claimPaused = `EXISTS (SELECT 1 FROM queues WHERE name = $1 AND paused)`

// claimSQL claims the first $5 queued jobs of queue $1 that pass filter.
func claimSQL(filter string) string {
	return claimUpdate("", `SELECT id FROM jobs
		WHERE queue = $1 AND state = 'queued' AND NOT `+claimPaused+filter+`
		ORDER BY priority, run_at, id
		LIMIT $5
		FOR UPDATE SKIP LOCKED`)
}

// claimCappedSQL claims like claimSQL, only kinds of the array $k, each up
// to its cap in the array $k+1.
func claimCappedSQL(filter string, k int) string {
	kp, cp := "$"+strconv.Itoa(k), "$"+strconv.Itoa(k+1)
	return claimUpdate(`WITH locked AS (
		SELECT id, kind, priority, run_at FROM jobs
		WHERE queue = $1 AND state = 'queued' AND kind = ANY(`+kp+`::text[]) AND NOT `+claimPaused+filter+`
		ORDER BY priority, run_at, id
		LIMIT $5
		FOR UPDATE SKIP LOCKED
	), ranked AS (
		SELECT l.id, c.cap,
			row_number() OVER (PARTITION BY l.kind ORDER BY l.priority, l.run_at, l.id) AS n
		FROM locked AS l JOIN unnest(`+kp+`::text[], `+cp+`::int[]) AS c(kind, cap) ON c.kind = l.kind
	) `, `SELECT id FROM ranked WHERE n <= cap`)
}

// claimLess is the claim order: priority, run_at, id.
func claimLess(a, b *store.Job) bool {
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	if !a.RunAt.Equal(b.RunAt) {
		return a.RunAt.Before(b.RunAt)
	}
	return a.ID < b.ID
}

// sqlLockRunning locks the running jobs among the ids of the array $n in
// id order: statements that change several jobs (finishes, lease
// extensions of one node, running at once) take their row locks in one
// order, whatever the join order of their plans, so they do not deadlock.
func sqlLockRunning(n int) string {
	return `locked AS (SELECT id FROM jobs WHERE id = ANY($` + strconv.Itoa(n) + `::bigint[]) AND state = 'running'
		ORDER BY id FOR UPDATE)`
}

// sqlFinish ends attempts given as parallel arrays, each only while its job
// runs that attempt; the attempt record is appended to the history. A
// requested abort wins over a finish that would run the job again: the job
// is aborted, keeping the abort's reason (SET expressions read the row as
// it was before the update).
//
// The update reads its jobs by primary key with id = ANY($1), which a
// B-tree index scan visits in key order (it sorts the array's values), so
// statements that change several jobs (finishes, lease extensions, running
// at once) lock them in one order and do not deadlock (see sqlLockRunning;
// finishSettings rule out the bitmap scan, whose order is the heap's; a
// call of several rounds locks all its jobs first). A job's values are
// read at its position in the arrays, width_bucket(id, $1): a binary
// search, which needs the ids $1 sorted, ascending and distinct
// (finishArgs). There is no join of the arrays to the jobs (a join the
// planner, misled by its row estimates, ran as a nested loop over the
// unpacked arrays: 100 x 100 rows per statement; decision 0008) and no
// lock taken before the update.
var sqlFinish = strings.NewReplacer("$i", "width_bucket(j.id, $1::bigint[])").Replace(`UPDATE jobs AS j SET
		state = CASE WHEN j.cancel_requested AND ($3::text[])[$i] IN ('retrying', 'scheduled', 'queued') THEN 'aborted'
			ELSE ($3::text[])[$i] END,
		run_at = coalesce(($4::timestamptz[])[$i], j.run_at),
		attempt = j.attempt - ($5::int[])[$i], result = coalesce((($6::text[])[$i])::jsonb, j.result),
		last_error = CASE WHEN j.cancel_requested AND ($3::text[])[$i] IN ('retrying', 'scheduled', 'queued') THEN j.last_error
			WHEN ($7::text[])[$i] <> '' THEN ($7::text[])[$i] ELSE j.last_error END,
		lease_until = NULL, lease_token = NULL, cancel_requested = false,
		finished_at = CASE WHEN j.cancel_requested AND ($3::text[])[$i] IN ('retrying', 'scheduled', 'queued') THEN ($9::timestamptz[])[$i]
			ELSE ($8::timestamptz[])[$i] END,
		updated_at = ($9::timestamptz[])[$i],
		attempts = j.attempts || jsonb_build_array((($10::text[])[$i])::jsonb)
	WHERE j.id = ANY($1::bigint[]) AND j.state = 'running' AND j.attempt = ($2::int[])[$i]
		AND j.lease_token IS NOT DISTINCT FROM ($11::text[])[$i]
	RETURNING j.id, j.queue, j.kind, j.state`)

// finishRow is a FinishParams checked and encoded.
type finishRow struct {
	id         int64
	attempt    int32
	state      store.State
	runAt      *time.Time
	uncount    int32
	result     *string
	errText    string
	finishedAt *time.Time
	now        time.Time
	record     string
	limited    bool    // announce the freed slot of the job's kind
	token      *string // the remote lease's token; nil for a node's own attempt
}

// Finish ends attempts; states[i] is the job's state after finishes[i] (""
// if it did not apply).
// The first finish of each job goes in one statement (sqlFinish), sent
// with its transaction in one round trip; a later finish of the same job
// in the call runs after it, in the same transaction, so that it sees the
// first. See store.Store.
func (s *Store) Finish(ctx context.Context, finishes []store.FinishParams) ([]store.State, error) {
	if len(finishes) == 0 {
		return nil, nil
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	rows := make([]finishRow, len(finishes))
	// rounds[k] holds the indexes of the (k+1)-th finish of each job.
	var rounds [][]int
	seen := make(map[int64]int, len(finishes))
	for i, f := range finishes {
		r, err := prepareFinish(f)
		if err != nil {
			return nil, fmt.Errorf("postgres: finish %d (job %d): %w", i, f.ID, err)
		}
		rows[i] = r
		k := seen[f.ID]
		seen[f.ID] = k + 1
		if k == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[k] = append(rounds[k], i)
	}
	applied := make([]store.State, len(rows))
	var n notes
	var err error
	if len(rounds) == 1 {
		args, byID := finishArgs(rows, rounds[0])
		err = s.txBatch(ctx, finishSettings, sqlFinish, args, func(res pgx.Rows) error {
			return readFinish(res, rows, byID, applied, &n)
		})
	} else {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			n = notes{}
			clear(applied)
			for _, set := range finishSettings {
				if _, err := tx.Exec(ctx, set); err != nil {
					return err
				}
			}
			// Each round's update locks only the jobs it changes, in id
			// order; across rounds that order would not hold (a later
			// round may change a lower id), so every running job of the
			// call is locked first, in id order, as sqlLockRunning does.
			ids := make([]int64, 0, len(seen))
			for id := range seen {
				ids = append(ids, id)
			}
			if _, err := tx.Exec(ctx, `WITH `+sqlLockRunning(1)+` SELECT count(*) FROM locked`, ids); err != nil {
				return err
			}
			for _, idx := range rounds {
				args, byID := finishArgs(rows, idx)
				res, err := tx.Query(ctx, sqlFinish, args...)
				if err != nil {
					return err
				}
				if err := readFinish(res, rows, byID, applied, &n); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: finish: %w", err)
	}
	if err := s.notify(ctx, nil, &n); err != nil {
		return nil, err
	}
	return applied, nil
}

// finishSettings fix the plan of the finish statement for the rest of its
// transaction, as sqlClaimPlan does the claim's: the generic plan of the
// prepared statement, made once per connection (planning the finish took
// as long as running it for a tenth of its jobs), in the only shape that
// is right at every size and locks the jobs in id order: an index scan of
// the primary key, never a sequential scan nor a bitmap scan.
var finishSettings = []string{`SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('plan_cache_mode', 'force_generic_plan', true)`}

// finishArgs are the parameters of sqlFinish for rows idx (distinct jobs),
// in the order of their ids, and the index in rows of each job id.
func finishArgs(rows []finishRow, idx []int) ([]any, map[int64]int) {
	idx = slices.Clone(idx)
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(rows[a].id, rows[b].id) })
	k := len(idx)
	var (
		ids                 = make([]int64, k)
		attempts, uncounts  = make([]int32, k), make([]int32, k)
		states, errs, recs  = make([]string, k), make([]string, k), make([]string, k)
		runAts, finishedAts = make([]*time.Time, k), make([]*time.Time, k)
		results, tokens     = make([]*string, k), make([]*string, k)
		nows                = make([]time.Time, k)
	)
	byID := make(map[int64]int, k)
	for x, i := range idx {
		r := &rows[i]
		ids[x], attempts[x], uncounts[x] = r.id, r.attempt, r.uncount
		states[x], errs[x], recs[x] = string(r.state), r.errText, r.record
		runAts[x], finishedAts[x], results[x], nows[x] = r.runAt, r.finishedAt, r.result, r.now
		tokens[x] = r.token
		byID[r.id] = i
	}
	return []any{ids, attempts, states, runAts, uncounts, results, errs, finishedAts, nows, recs, tokens}, byID
}

// readFinish reads the rows of a finish statement (and closes them): the
// state each applied finish produced, and the notices to send.
func readFinish(res pgx.Rows, rows []finishRow, byID map[int64]int, applied []store.State, n *notes) error {
	defer res.Close()
	for res.Next() {
		var id int64
		var queue, kind, state string
		if err := res.Scan(&id, &queue, &kind, &state); err != nil {
			return err
		}
		i := byID[id]
		applied[i] = store.State(state)
		r := &rows[i]
		var runAt time.Time
		if r.runAt != nil {
			runAt = *r.runAt
		}
		n.state(store.State(state), queue, runAt)
		if r.limited {
			n.freed(kind)
		}
	}
	return res.Err()
}

func prepareFinish(f store.FinishParams) (finishRow, error) {
	now := utc(f.Now)
	// Text and JSON that PostgreSQL would refuse (a NUL, invalid UTF-8)
	// must not fail the finish, nor the others of its batch.
	r := finishRow{id: f.ID, attempt: int32(f.Attempt), state: f.State, now: now, errText: store.CleanText(f.Error),
		result: nullJSON(store.CleanJSON(f.Result)), limited: f.Limited}
	if f.LeaseToken != "" {
		tok := f.LeaseToken
		r.token = &tok
	}
	switch f.State {
	case store.StateDone, store.StateError, store.StateAborted:
		r.finishedAt = &now
	case store.StateRetrying, store.StateScheduled:
		runAt := utc(f.RunAt)
		if runAt.IsZero() {
			runAt = now
		}
		r.runAt = &runAt
	case store.StateQueued:
		r.runAt = &now
	default:
		return r, fmt.Errorf("cannot finish to state %q", f.State)
	}
	if f.Uncount {
		r.uncount = 1
	}
	rec := f.Record
	rec.Node, rec.Error, rec.Location = store.CleanText(rec.Node), store.CleanText(rec.Error), store.CleanText(rec.Location)
	if rec.Number == 0 {
		rec.Number = f.Attempt
	}
	if rec.FinishedAt.IsZero() {
		rec.FinishedAt = now
	}
	var err error
	if r.record, err = encodeAttempt(rec); err != nil {
		return r, fmt.Errorf("attempt record: %w", err)
	}
	return r, nil
}

// ExtendLeases moves the lease of the node's running attempts, in one
// statement. See store.Store.
func (s *Store) ExtendLeases(ctx context.Context, node string, refs []store.JobRef, until time.Time) (store.LeaseReport, error) {
	var rep store.LeaseReport
	if len(refs) == 0 {
		return rep, nil
	}
	if s.isClosed() {
		return rep, ErrClosed
	}
	ids, attempts := make([]int64, len(refs)), make([]int32, len(refs))
	tokens := make([]*string, len(refs))
	for i, r := range refs {
		ids[i], attempts[i] = r.ID, int32(r.Attempt)
		if r.LeaseToken != "" {
			tok := r.LeaseToken
			tokens[i] = &tok
		}
	}
	// A ref with a token is a remote lease, extended by its token whatever
	// node holds it; one without, only the node's own attempt.
	rows, err := s.pool.Query(ctx, `WITH `+sqlLockRunning(2)+`
		UPDATE jobs AS j SET lease_until = $1
		FROM unnest($2::bigint[], $3::int[], $5::text[]) AS r(id, attempt, token), locked
		WHERE j.id = r.id AND j.id = locked.id AND j.attempt = r.attempt AND j.state = 'running'
			AND j.lease_token IS NOT DISTINCT FROM r.token AND (r.token IS NOT NULL OR j.node = $4)
		RETURNING j.id, j.attempt, j.cancel_requested`, nullTime(until), ids, attempts, node, tokens)
	if err != nil {
		return rep, fmt.Errorf("postgres: extend leases: %w", err)
	}
	defer rows.Close()
	held := make(map[store.JobRef]bool, len(refs))
	for rows.Next() {
		var ref store.JobRef
		var cancel bool
		if err := rows.Scan(&ref.ID, &ref.Attempt, &cancel); err != nil {
			return rep, fmt.Errorf("postgres: extend leases: %w", err)
		}
		held[ref] = cancel
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("postgres: extend leases: %w", err)
	}
	for _, ref := range refs {
		ref.LeaseToken = "" // reports carry no token
		cancel, ok := held[ref]
		switch {
		case !ok:
			rep.Lost = append(rep.Lost, ref)
		case cancel:
			rep.CancelRequested = append(rep.CancelRequested, ref)
		}
	}
	return rep, nil
}
