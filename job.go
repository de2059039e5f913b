package rota

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/rotahq/rota/store"
)

// State is a job's place in its life cycle.
type State = store.State

// The job states; see the store package for their meaning.
const (
	StateReady     = store.StateReady
	StateScheduled = store.StateScheduled
	StateQueued    = store.StateQueued
	StateRunning   = store.StateRunning
	StateRetrying  = store.StateRetrying
	StateDone      = store.StateDone
	StateError     = store.StateError
	StateAborted   = store.StateAborted
)

// Attempt is one recorded run of a job.
type Attempt = store.Attempt

// Outcome names how an attempt ended.
type Outcome = store.Outcome

// The attempt outcomes, as CleanUp gets them and the attempt history records
// them; see the store package for their meaning.
const (
	OutcomeDone        = store.OutcomeDone
	OutcomeRetryLater  = store.OutcomeRetryLater
	OutcomeSnooze      = store.OutcomeSnooze
	OutcomeCancel      = store.OutcomeCancel
	OutcomeFail        = store.OutcomeFail
	OutcomeError       = store.OutcomeError
	OutcomePanic       = store.OutcomePanic
	OutcomeTimeout     = store.OutcomeTimeout
	OutcomeAborted     = store.OutcomeAborted
	OutcomeInterrupted = store.OutcomeInterrupted
	OutcomeLost        = store.OutcomeLost
)

// Job is a job as a worker or a caller sees it. The stored fields are
// promoted from store.Job (job.ID, job.Kind, job.Args, ...).
type Job struct {
	store.Job
	// Duplicate is set on a job that an enqueue returned instead of
	// inserting a new one: an active job of the same kind and key existed,
	// and the key's conflict policy (return, replace, update_priority)
	// gave it back, changed or not. It is not stored: only the answer to
	// that enqueue has it.
	Duplicate bool `json:"duplicate,omitempty"`

	mu     sync.Mutex
	result json.RawMessage
}

// MarshalJSON writes the job as store.Job does, with "duplicate": true
// on an enqueue's answer that is the active job of its key (Duplicate).
// Marshal a *Job: a Job value (which holds a mutex, and go vet advises
// against copying) is encoded field by field, without it.
func (j *Job) MarshalJSON() ([]byte, error) {
	b, err := j.Job.MarshalJSON()
	if err != nil || !j.Duplicate {
		return b, err
	}
	// b is a JSON object: the field goes before its closing brace.
	return append(append(b[:len(b)-1:len(b)-1], `,"duplicate":true`...), '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (j *Job) UnmarshalJSON(b []byte) error {
	if err := j.Job.UnmarshalJSON(b); err != nil {
		return err
	}
	var d struct {
		Duplicate bool `json:"duplicate"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	j.Duplicate = d.Duplicate
	return nil
}

// newJob wraps a stored job.
func newJob(j *store.Job) *Job {
	if j == nil {
		return nil
	}
	return &Job{Job: *j}
}

// SetResult stores v (marshalled to JSON) as the job's result when the
// attempt ends done. Calling it again replaces the result.
func (j *Job) SetResult(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("rota: job %d result: %w", j.ID, err)
	}
	j.mu.Lock()
	j.result = b
	j.mu.Unlock()
	return nil
}

// resultJSON returns what SetResult stored, or nil.
func (j *Job) resultJSON() json.RawMessage {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.result
}

// Decode unmarshals the job's args into v.
func (j *Job) Decode(v any) error {
	if err := json.Unmarshal(j.Args, v); err != nil {
		return fmt.Errorf("rota: job %d args: %w", j.ID, err)
	}
	return nil
}
