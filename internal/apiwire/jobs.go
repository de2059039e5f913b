package apiwire

import (
	"encoding/json"
	"time"

	"github.com/rotahq/rota"
)

// EnqueueRequest is one job to enqueue: the body of POST /v1/jobs and
// POST /v1/queues/{name}/push, and an item of POST /v1/jobs/batch.
type EnqueueRequest struct {
	Kind string `json:"kind"`
	// Args is the job's arguments, any JSON value (absent or null: none).
	Args     json.RawMessage `json:"args,omitempty"`
	Queue    string          `json:"queue,omitempty"`
	Priority *int            `json:"priority,omitempty"`
	// RunAt is an RFC 3339 time; it is a string so that the server can name
	// the field when it is not one.
	RunAt *string `json:"run_at,omitempty"`
	// Delay runs the job this long from now (a duration; see the package
	// comment).
	Delay json.RawMessage `json:"delay,omitempty"`
	// Hold creates the job ready, to run after a release.
	Hold bool   `json:"hold,omitempty"`
	Key  string `json:"key,omitempty"`
	// OnConflict is the policy for an active job with the same key
	// (rota.ConflictPolicy).
	OnConflict string            `json:"on_conflict,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	// MaxAttempts is at least 1; absent: the kind's, else the default.
	MaxAttempts   *int            `json:"max_attempts,omitempty"`
	Timeout       json.RawMessage `json:"timeout,omitempty"`
	UserRequested bool            `json:"user_requested,omitempty"`
}

// Job is a job as the API shows it: the answer of an enqueue and of the
// actions on one job, and an item of a list.
type Job struct {
	ID          int64             `json:"id"`
	Kind        string            `json:"kind"`
	Queue       string            `json:"queue"`
	State       rota.State        `json:"state"`
	Args        json.RawMessage   `json:"args"`
	Priority    int               `json:"priority"`
	RunAt       time.Time         `json:"run_at"`
	Key         string            `json:"key,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Attempt     int               `json:"attempt"`
	MaxAttempts int               `json:"max_attempts"`
	// Timeout is the job's own attempt timeout; absent: the kind's.
	Timeout   string          `json:"timeout,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	LastError string          `json:"last_error,omitempty"`
	Node      string          `json:"node,omitempty"`
	// LeaseUntil is the running attempt's lease deadline; absent unless
	// the job is running.
	LeaseUntil      time.Time `json:"lease_until,omitzero"`
	CancelRequested bool      `json:"cancel_requested,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	StartedAt       time.Time `json:"started_at,omitzero"`
	FinishedAt      time.Time `json:"finished_at,omitzero"`
	// Duplicate: an enqueue's answer is the active job of its kind and
	// key, not a new one (rota.Job.Duplicate).
	Duplicate bool `json:"duplicate,omitempty"`
}

// JobDetail is one job with its attempt history: GET /v1/jobs/{id}.
type JobDetail struct {
	Job
	Attempts []Attempt `json:"attempts"`
}

// Attempt is one attempt of a job.
type Attempt struct {
	Number     int          `json:"number"`
	Node       string       `json:"node"`
	StartedAt  time.Time    `json:"started_at"`
	FinishedAt time.Time    `json:"finished_at,omitzero"`
	Outcome    rota.Outcome `json:"outcome"`
	Error      string       `json:"error,omitempty"`
	// Location is a panic's file:line chain.
	Location string `json:"location,omitempty"`
}

// JobList is a page of jobs (GET /v1/jobs) and the answer of
// POST /v1/jobs/batch.
type JobList struct {
	Jobs []Job `json:"jobs"`
	// Next is the cursor of the next page (GET /v1/jobs); empty on the last.
	Next string `json:"next,omitempty"`
}

// AbortRequest is the optional body of POST /v1/jobs/{id}/abort.
type AbortRequest struct {
	// Reason is recorded as the job's last error.
	Reason string `json:"reason"`
}

// AbortKeyRequest is the body of POST /v1/jobs/abort: the active job of a
// kind and key.
type AbortKeyRequest struct {
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
}
