package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/rotahq/rota/store"
)

const (
	// sqlClaimSet is the SET list of a claim; its parameters are node,
	// lease_until, lease_token, started_at, updated_at.
	sqlClaimSet = `UPDATE jobs SET state = 'running', node = ?, lease_until = ?, lease_token = ?, started_at = ?, updated_at = ?,
		attempt = attempt + 1, cancel_requested = 0 `
	// sqlClaimNext claims the first jobs of a queue in one statement.
	sqlClaimNext = sqlClaimSet + `WHERE id IN (SELECT id FROM jobs WHERE queue = ? AND state = 'queued'
		AND state IN ` + waitingStates + ` ORDER BY priority, run_at, id LIMIT ?) RETURNING ` + jobColumns
	// sqlClaimNextKind and sqlClaimNextKinds are sqlClaimNext for one kind,
	// and for the kinds in a JSON array.
	sqlClaimNextKind = sqlClaimSet + `WHERE id IN (SELECT id FROM jobs WHERE queue = ? AND state = 'queued'
		AND state IN ` + waitingStates + ` AND kind = ? ORDER BY priority, run_at, id LIMIT ?) RETURNING ` + jobColumns
	sqlClaimNextKinds = sqlClaimSet + `WHERE id IN (SELECT id FROM jobs WHERE queue = ? AND state = 'queued'
		AND state IN ` + waitingStates + ` AND kind IN (SELECT value FROM json_each(?)) ORDER BY priority, run_at, id LIMIT ?) RETURNING ` + jobColumns
	// sqlClaimIDs claims the jobs whose ids are in a JSON array.
	sqlClaimIDs = sqlClaimSet + `WHERE id IN (SELECT value FROM json_each(?)) AND state = 'queued'
		RETURNING ` + jobColumns
)

// claimFilter is the SQL of ClaimParams' Metadata and Args filters.
type claimFilter struct {
	sql  string
	args []any
	// deep holds the args fields whose filter value is an object or an
	// array: SQLite cannot compare them as JSON values (keys in any order,
	// numbers by value), so the SQL only checks their type and the
	// candidates are checked here.
	deep map[string]any
}

// match reports whether the args of a candidate pass the deep filters.
func (f claimFilter) match(args sql.NullString) bool {
	if len(f.deep) == 0 {
		return true
	}
	var fields map[string]any
	if !args.Valid || decodeJSON([]byte(args.String), &fields) != nil {
		return false
	}
	for k, want := range f.deep {
		got, ok := fields[k]
		if !ok || !jsonValueEqual(got, want) {
			return false
		}
	}
	return true
}

// decodeJSON decodes data into v, numbers as json.Number.
func decodeJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return d.Decode(v)
}

// jsonValueEqual compares two decoded JSON values as PostgreSQL's jsonb
// does: objects by their keys in any order, arrays element by element,
// numbers by value.
func jsonValueEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonValueEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonValueEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		p, ok1 := new(big.Rat).SetString(string(x))
		q, ok2 := new(big.Rat).SetString(string(y))
		return ok1 && ok2 && p.Cmp(q) == 0
	default: // string, bool, nil
		return a == b
	}
}

// Claim moves up to p.Limit queued jobs of p.Queue to running. See store.Store.
//
// Kinds with cluster-wide limits (store.Limiter) are admitted inside the
// writer's transaction, which holds SQLite's write lock from BEGIN
// IMMEDIATE: claims of every process on the file are serialized, so the
// running jobs counted and the rate log read cannot change before the
// claim commits. A claim without such kinds runs no extra statement.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	if p.Limit <= 0 || (p.Kinds != nil && len(p.Kinds) == 0) {
		return store.ClaimResult{}, nil
	}
	if err := p.Check(); err != nil {
		return store.ClaimResult{}, fmt.Errorf("sqlite: claim: %w", err)
	}
	caps := p.Caps()
	if caps != nil && len(caps) == 0 {
		return store.ClaimResult{}, nil
	}
	filter, err := buildClaimFilter(p.Metadata, p.Args)
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("sqlite: claim: %w", err)
	}
	p.Now, p.LeaseUntil = utc(p.Now), utc(p.LeaseUntil)
	limited := len(p.Limits()) > 0
	var res store.ClaimResult
	// A limited claim may write the rate log besides the jobs: more than
	// one write statement, so it runs in its own savepoint (multi).
	err = s.doLazy(ctx, limited, func(w *writer) error {
		var lim *store.Limiter
		if limited {
			lim = store.NewLimiter(p)
		}
		var err error
		res, err = w.claim(p, maps.Clone(caps), filter, lim)
		return err
	})
	if err != nil {
		return store.ClaimResult{}, err
	}
	return res, nil
}

// claim claims in the writer's transaction; lim is nil when no kind of the
// claim has a cluster-wide limit.
func (w *writer) claim(p store.ClaimParams, caps map[string]int, filter claimFilter, lim *store.Limiter) (store.ClaimResult, error) {
	var res store.ClaimResult
	qs, err := w.queueSettings(p.Queue)
	if err != nil || qs.paused {
		return res, err
	}
	if lim != nil {
		states, err := w.limitStates(lim)
		if err != nil {
			return res, err
		}
		lim.Admit(caps, states)
	}
	if caps == nil || len(caps) > 0 {
		if res.Jobs, err = w.claimJobs(p, caps, filter); err != nil {
			return store.ClaimResult{}, err
		}
	}
	if lim == nil {
		return res, nil
	}
	for kind, log := range lim.Started(&res) {
		if _, err := w.exec(`INSERT INTO kind_limits (kind, starts) VALUES (?, ?)
			ON CONFLICT (kind) DO UPDATE SET starts = excluded.starts`, kind, string(log.Encode())); err != nil {
			return store.ClaimResult{}, fmt.Errorf("sqlite: claim: rate log of %q: %w", kind, err)
		}
	}
	return res, nil
}

// limitStates reads what lim needs: the running jobs of the kinds with a
// global maximum and the rate logs of the kinds with a rate limit.
func (w *writer) limitStates(lim *store.Limiter) (map[string]store.LimitState, error) {
	states := make(map[string]store.LimitState)
	if kinds := lim.GlobalKinds(); len(kinds) > 0 {
		list, _ := json.Marshal(kinds)
		rows, err := w.query(sqlRunningByKind, string(list))
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim: running jobs: %w", err)
		}
		for rows.Next() {
			var kind string
			var n int
			if err := rows.Scan(&kind, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: claim: running jobs: %w", err)
			}
			st := states[kind]
			st.Running = n
			states[kind] = st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: claim: running jobs: %w", err)
		}
	}
	list, _ := json.Marshal(lim.Kinds())
	rows, err := w.query(`SELECT kind, starts FROM kind_limits WHERE kind IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: rate logs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, starts string
		if err := rows.Scan(&kind, &starts); err != nil {
			return nil, fmt.Errorf("sqlite: claim: rate logs: %w", err)
		}
		log, err := store.DecodeRateLog([]byte(starts))
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim: kind %q: %w", kind, err)
		}
		st := states[kind]
		st.Log = log
		states[kind] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim: rate logs: %w", err)
	}
	return states, nil
}

// sqlRunningByKind counts the running jobs of the kinds in a JSON array,
// through the index of running jobs (jobs_lease), whose size is bounded
// by the workers of the nodes, not by the jobs stored.
const sqlRunningByKind = `SELECT kind, count(*) FROM jobs
	WHERE state = 'running' AND kind IN (SELECT value FROM json_each(?)) GROUP BY kind`

// claimJobs claims with caps (nil: any kind), by one statement when the
// caps cannot bind and there are no filters to check in Go, else by
// picking candidates first.
func (w *writer) claimJobs(p store.ClaimParams, caps map[string]int, filter claimFilter) ([]*store.Job, error) {
	set := []any{p.Node, nullMicros(p.LeaseUntil), nullString(p.LeaseToken), micros(p.Now), micros(p.Now)}
	var jobs []*store.Job
	if q, args, ok := claimDirect(p, caps, filter); ok {
		rows, err := w.query(q, append(set, args...)...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
		if jobs, err = scanJobs(rows, false); err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
	} else {
		ids, err := w.claimCandidates(p, caps, &filter)
		if err != nil || len(ids) == 0 {
			return nil, err
		}
		idList, _ := json.Marshal(ids)
		rows, err := w.query(sqlClaimIDs, append(set, string(idList))...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
		if jobs, err = scanJobs(rows, false); err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
	}
	for _, j := range jobs {
		w.count(j.Queue, j.Kind, store.StateQueued, store.StateRunning)
	}
	// RETURNING has no defined order.
	sort.Slice(jobs, func(i, j int) bool { return claimLess(jobs[i], jobs[j]) })
	return jobs, nil
}

// claimDirect returns the single statement that claims the jobs when the
// per-kind caps cannot bind (each allows the whole Limit) and there are no
// filters to check in Go: the engine's usual claim, with caps of its free
// slots for kinds that have no maximum of their own.
func claimDirect(p store.ClaimParams, caps map[string]int, filter claimFilter) (string, []any, bool) {
	if filter.sql != "" || len(filter.deep) > 0 {
		return "", nil, false
	}
	if caps == nil {
		return sqlClaimNext, []any{p.Queue, p.Limit}, true
	}
	for _, n := range caps {
		if n < p.Limit {
			return "", nil, false
		}
	}
	if len(caps) == 1 {
		for k := range caps {
			return sqlClaimNextKind, []any{p.Queue, k, p.Limit}, true
		}
	}
	list, _ := json.Marshal(slices.Sorted(maps.Keys(caps)))
	return sqlClaimNextKinds, []any{p.Queue, string(list), p.Limit}, true
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

// claimCandidates picks the ids to claim in claim order, honouring the
// per-kind caps: when the caps pass over candidates and slots remain, it
// reads on from the last candidate, without the kinds that are full.
func (w *writer) claimCandidates(p store.ClaimParams, caps map[string]int, filter *claimFilter) ([]int64, error) {
	var (
		ids    []int64
		after  []any // keyset cursor: priority, run_at, id of the last candidate
		remain = p.Limit
	)
	for remain > 0 {
		var q strings.Builder
		args := []any{p.Queue}
		q.WriteString(`SELECT id, kind, priority, run_at, args FROM jobs WHERE queue = ? AND state = 'queued' AND state IN ` + waitingStates)
		if caps != nil {
			open := make([]string, 0, len(caps))
			for k, n := range caps {
				if n > 0 {
					open = append(open, k)
				}
			}
			if len(open) == 0 {
				break
			}
			slices.Sort(open)
			list, _ := json.Marshal(open)
			q.WriteString(` AND kind IN (SELECT value FROM json_each(?))`)
			args = append(args, string(list))
		}
		q.WriteString(filter.sql)
		args = append(args, filter.args...)
		if after != nil {
			q.WriteString(` AND (priority, run_at, id) > (?, ?, ?)`)
			args = append(args, after...)
		}
		q.WriteString(` ORDER BY priority, run_at, id LIMIT ?`)
		lim := remain
		if len(filter.deep) > 0 { // some candidates may fail the deep filters: read ahead
			lim = max(remain, deepReadAhead)
		}
		args = append(args, lim)

		rows, err := w.query(q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
		n := 0
		for rows.Next() {
			var (
				id, runAt int64
				prio      int
				kind      string
				args      sql.NullString
			)
			if err := rows.Scan(&id, &kind, &prio, &runAt, &args); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: claim: %w", err)
			}
			n++
			after = []any{prio, runAt, id}
			if !filter.match(args) {
				continue
			}
			if caps != nil {
				if caps[kind] <= 0 {
					continue
				}
				caps[kind]--
			}
			ids = append(ids, id)
			if len(ids) == p.Limit {
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: claim: %w", err)
		}
		if n < lim || len(ids) >= p.Limit { // no more candidates, or enough
			break
		}
		remain = p.Limit - len(ids)
	}
	return ids, nil
}

// buildClaimFilter turns the metadata and args filters into SQL. Metadata
// values are compared as strings; args fields as JSON values: numbers by
// value, strings, booleans and null by type and value; objects and arrays
// as PostgreSQL's jsonb compares them (keys in any order), in Go (see
// claimFilter.deep).
func buildClaimFilter(md map[string]string, args map[string]any) (claimFilter, error) {
	var f claimFilter
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(md)) {
		b.WriteString(` AND EXISTS (SELECT 1 FROM json_each(jobs.metadata) AS m WHERE m.key = ? AND m.type = 'text' AND m.value = ?)`)
		f.args = append(f.args, k, md[k])
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		cond, val, err := jsonValueCond(args[k])
		if err != nil {
			return f, fmt.Errorf("args filter %q: %w", k, err)
		}
		if cond == condDeep {
			var want any
			if err := decodeJSON([]byte(val.(string)), &want); err != nil {
				return f, fmt.Errorf("args filter %q: %w", k, err)
			}
			switch want.(type) {
			case map[string]any:
				if f.deep == nil {
					f.deep = make(map[string]any)
				}
				f.deep[k], cond, val = want, `a.type = 'object'`, nil
			case []any:
				if f.deep == nil {
					f.deep = make(map[string]any)
				}
				f.deep[k], cond, val = want, `a.type = 'array'`, nil
			default: // a type of its own that marshals to a scalar
				if cond, val, err = jsonValueCond(want); err != nil {
					return f, fmt.Errorf("args filter %q: %w", k, err)
				}
			}
		}
		b.WriteString(` AND EXISTS (SELECT 1 FROM json_each(jobs.args) AS a WHERE a.key = ? AND ` + cond + `)`)
		f.args = append(f.args, k)
		if val != nil {
			f.args = append(f.args, val)
		}
	}
	f.sql = b.String()
	return f, nil
}

// jsonValueCond returns the condition on json_each's row "a" that matches v,
// and its parameter (nil when it has none).
func jsonValueCond(v any) (cond string, val any, err error) {
	switch x := v.(type) {
	case nil:
		return `a.type = 'null'`, nil, nil
	case bool:
		if x {
			return `a.type = 'true'`, nil, nil
		}
		return `a.type = 'false'`, nil, nil
	case string:
		return `a.type = 'text' AND a.value = ?`, x, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return `a.type IN ('integer', 'real') AND a.value = ?`, i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return "", nil, err
		}
		return `a.type IN ('integer', 'real') AND a.value = ?`, f, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return `a.type IN ('integer', 'real') AND a.value = ?`, rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return `a.type IN ('integer', 'real') AND a.value = ?`, float64(u), nil
		}
		return `a.type IN ('integer', 'real') AND a.value = ?`, int64(u), nil
	case reflect.Float32, reflect.Float64:
		return `a.type IN ('integer', 'real') AND a.value = ?`, rv.Float(), nil
	case reflect.String:
		return `a.type = 'text' AND a.value = ?`, rv.String(), nil
	case reflect.Bool:
		return jsonValueCond(rv.Bool())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", nil, err
	}
	return condDeep, string(b), nil
}

// deepReadAhead is the fewest candidates a claim with deep filters reads
// at once.
const deepReadAhead = 64

// condDeep is what jsonValueCond returns for an object or an array, with
// its JSON text: compared by claimFilter.match.
const condDeep = "deep"
