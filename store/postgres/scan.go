package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// jobColumns are the columns scanJob reads, in order; jobColumnsFull adds
// the attempt history. qualified prefixes them with "j." for statements
// that join.
const (
	jobColumns = `id, kind, queue, args, priority, run_at, state, key, metadata, attempt, max_attempts, timeout,
		result, last_error, node, lease_until, cancel_requested, created_at, updated_at, started_at, finished_at`
	jobColumnsFull = jobColumns + `, attempts`
	jobColumnsJ    = `j.id, j.kind, j.queue, j.args, j.priority, j.run_at, j.state, j.key, j.metadata, j.attempt,
		j.max_attempts, j.timeout, j.result, j.last_error, j.node, j.lease_until, j.cancel_requested, j.created_at,
		j.updated_at, j.started_at, j.finished_at`
)

// finalStates and waitingStates are SQL lists as written in the partial
// indexes (the planner matches the predicates).
const (
	finalStates   = `('done', 'error', 'aborted')`
	waitingStates = `('ready', 'scheduled', 'queued', 'retrying')`
)

// utc truncates t to the stored precision (microseconds) in UTC. PostgreSQL
// rounds to microseconds; truncating first keeps what is stored and what is
// returned equal.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond).UTC()
}

// nullText is s, or nil (NULL) when s is empty.
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nullTime is t, or nil (NULL) when t is zero.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = utc(t)
	return &t
}

// fromNull converts a nullable time to a UTC time (zero for NULL).
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// scanJob reads one row of jobColumns (plus the attempts when full) and
// any extra columns into extra.
func scanJob(row pgx.Row, full bool, extra ...any) (*store.Job, error) {
	var (
		j                                 store.Job
		args, md, result, attempts        []byte
		state                             string
		timeout                           int64
		runAt, createdAt, updatedAt       time.Time
		leaseUntil, startedAt, finishedAt *time.Time
	)
	dest := []any{&j.ID, &j.Kind, &j.Queue, &args, &j.Priority, &runAt, &state, &j.Key, &md, &j.Attempt,
		&j.MaxAttempts, &timeout, &result, &j.LastError, &j.Node, &leaseUntil, &j.CancelRequested, &createdAt,
		&updatedAt, &startedAt, &finishedAt}
	if full {
		dest = append(dest, &attempts)
	}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	j.State = store.State(state)
	j.Timeout = time.Duration(timeout) * time.Microsecond
	j.RunAt, j.CreatedAt, j.UpdatedAt = runAt.UTC(), createdAt.UTC(), updatedAt.UTC()
	j.LeaseUntil, j.StartedAt, j.FinishedAt = fromNull(leaseUntil), fromNull(startedAt), fromNull(finishedAt)
	if len(args) > 0 {
		j.Args = json.RawMessage(args)
	}
	if len(result) > 0 {
		j.Result = json.RawMessage(result)
	}
	if len(md) > 2 {
		if err := json.Unmarshal(md, &j.Metadata); err != nil {
			return nil, fmt.Errorf("job %d: metadata: %w", j.ID, err)
		}
	}
	if full && len(attempts) > 2 {
		if err := json.Unmarshal(attempts, &j.Attempts); err != nil {
			return nil, fmt.Errorf("job %d: attempts: %w", j.ID, err)
		}
		for i := range j.Attempts {
			a := &j.Attempts[i]
			a.StartedAt, a.FinishedAt = utc(a.StartedAt), utc(a.FinishedAt)
		}
	}
	return &j, nil
}

// scanJobs reads all rows (jobColumns, plus the attempts when full) and
// closes them.
func scanJobs(rows pgx.Rows, full bool) ([]*store.Job, error) {
	defer rows.Close()
	var jobs []*store.Job
	for rows.Next() {
		j, err := scanJob(rows, full)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// encodeMetadata returns m as JSON text ("{}" when empty).
func encodeMetadata(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// nullJSON returns raw as text, or nil (NULL) when empty.
func nullJSON(raw json.RawMessage) *string {
	if len(raw) == 0 {
		return nil
	}
	s := string(raw)
	return &s
}

// encodeAttempt returns a normalized attempt record as JSON text.
func encodeAttempt(a store.Attempt) (string, error) {
	a.StartedAt = utc(a.StartedAt)
	a.FinishedAt = utc(a.FinishedAt)
	b, err := a.AppendJSON(make([]byte, 0, 192))
	if err != nil {
		return "", err
	}
	return string(b), nil
}
