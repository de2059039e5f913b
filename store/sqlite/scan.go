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

// nullString is s, with "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
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

// scanJob reads one row of jobColumns (or jobColumnsFull when full). It
// scans into *any, database/sql's cheapest path, and converts the driver's
// values (int64, string, nil) itself.
func scanJob(sc scanner, full bool) (*store.Job, error) {
	var v [22]any
	dest := make([]any, 21, 22)
	for i := range dest {
		dest[i] = &v[i]
	}
	if full {
		dest = append(dest, &v[21])
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	j := &store.Job{
		ID:              asInt(v[0]),
		Kind:            asString(v[1]),
		Queue:           asString(v[2]),
		Args:            asJSON(v[3]),
		Priority:        int(asInt(v[4])),
		RunAt:           fromMicros(asInt(v[5])),
		State:           store.State(asString(v[6])),
		Key:             asString(v[7]),
		Attempt:         int(asInt(v[9])),
		MaxAttempts:     int(asInt(v[10])),
		Timeout:         time.Duration(asInt(v[11])) * time.Microsecond,
		Result:          asJSON(v[12]),
		LastError:       asString(v[13]),
		Node:            asString(v[14]),
		LeaseUntil:      asTime(v[15]),
		CancelRequested: asInt(v[16]) != 0,
		CreatedAt:       fromMicros(asInt(v[17])),
		UpdatedAt:       fromMicros(asInt(v[18])),
		StartedAt:       asTime(v[19]),
		FinishedAt:      asTime(v[20]),
	}
	if md := asString(v[8]); md != "" && md != "{}" {
		if err := json.Unmarshal([]byte(md), &j.Metadata); err != nil {
			return nil, fmt.Errorf("job %d: metadata: %w", j.ID, err)
		}
	}
	if full {
		if a := asString(v[21]); len(a) > 2 {
			if err := json.Unmarshal([]byte(a), &j.Attempts); err != nil {
				return nil, fmt.Errorf("job %d: attempts: %w", j.ID, err)
			}
		}
	}
	return j, nil
}

// asInt converts an INTEGER column value.
func asInt(v any) int64 {
	n, _ := v.(int64)
	return n
}

// asString converts a TEXT column value ("" for NULL).
func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

// asJSON converts a JSON text column value (nil for NULL or empty).
func asJSON(v any) json.RawMessage {
	switch x := v.(type) {
	case string:
		if x != "" {
			return json.RawMessage(x)
		}
	case []byte:
		if len(x) > 0 {
			return json.RawMessage(x)
		}
	}
	return nil
}

// asTime converts a nullable microseconds column value.
func asTime(v any) time.Time {
	n, ok := v.(int64)
	if !ok {
		return time.Time{}
	}
	return fromMicros(n)
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
	b, err := a.AppendJSON(make([]byte, 0, 192))
	if err != nil {
		return "", err
	}
	return string(b), nil
}
