package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rotahq/rota/store"
)

// jobColumns are the columns scanJob reads, in order. jobColumnsFull adds the
// attempt history.
const (
	jobColumns = `id, kind, queue, args, priority, run_at, state, key, metadata, attempt, max_attempts, timeout,
		result, last_error, node, lease_until, cancel_requested, created_at, updated_at, started_at, finished_at`
	jobColumnsFull = jobColumns + `, attempts`
)

// finalStates is the SQL list of final states, as written in the partial
// indexes (the planner matches the text).
const finalStates = `('done', 'error', 'aborted')`

// waitingStates is the SQL list of waiting states, as written in the
// jobs_waiting index.
const waitingStates = `('ready', 'scheduled', 'queued', 'retrying')`

type scanner interface {
	Scan(dest ...any) error
}

// micros converts t to microseconds since the Unix epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is micros, with the zero time as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros converts microseconds since the Unix epoch to a UTC time.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// utc truncates t to the stored precision and location.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return fromMicros(t.UnixMicro())
}

// scanJob reads one row of jobColumns (or jobColumnsFull when full).
func scanJob(sc scanner, full bool) (*store.Job, error) {
	var (
		j                        store.Job
		args, result, attempts   []byte
		metadata, state          string
		runAt, created, updated  int64
		lease, started, finished sql.NullInt64
		timeout                  int64
		cancel                   int64
	)
	dest := []any{&j.ID, &j.Kind, &j.Queue, &args, &j.Priority, &runAt, &state, &j.Key, &metadata, &j.Attempt,
		&j.MaxAttempts, &timeout, &result, &j.LastError, &j.Node, &lease, &cancel, &created, &updated, &started, &finished}
	if full {
		dest = append(dest, &attempts)
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	if len(args) > 0 {
		j.Args = args
	}
	if len(result) > 0 {
		j.Result = result
	}
	j.State = store.State(state)
	j.RunAt = fromMicros(runAt)
	j.Timeout = time.Duration(timeout) * time.Microsecond
	j.LeaseUntil = fromNullMicros(lease)
	j.CancelRequested = cancel != 0
	j.CreatedAt = fromMicros(created)
	j.UpdatedAt = fromMicros(updated)
	j.StartedAt = fromNullMicros(started)
	j.FinishedAt = fromNullMicros(finished)
	if metadata != "" && metadata != "{}" {
		if err := json.Unmarshal([]byte(metadata), &j.Metadata); err != nil {
			return nil, fmt.Errorf("job %d: metadata: %w", j.ID, err)
		}
	}
	if full && len(attempts) > 2 {
		if err := json.Unmarshal(attempts, &j.Attempts); err != nil {
			return nil, fmt.Errorf("job %d: attempts: %w", j.ID, err)
		}
	}
	return &j, nil
}

// scanJobs reads all rows of rows and closes it.
func scanJobs(rows *sql.Rows, full bool) ([]*store.Job, error) {
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

// nullJSON returns raw as text, or NULL when empty.
func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// encodeAttempt returns a normalized attempt record as JSON text.
func encodeAttempt(a store.Attempt) (string, error) {
	a.StartedAt = utc(a.StartedAt)
	a.FinishedAt = utc(a.FinishedAt)
	b, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
