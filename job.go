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

	mu     sync.Mutex
	result json.RawMessage
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
