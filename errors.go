package rota

import (
	"errors"
	"fmt"
	"time"

	"github.com/rotahq/rota/store"
)

// Errors returned by the Client, checked with errors.Is.
var (
	ErrNotFound  = store.ErrNotFound
	ErrQueueFull = store.ErrQueueFull
	ErrDuplicate = store.ErrDuplicate
	ErrConflict  = store.ErrConflict
	// ErrNotStarted: the operation needs a started client.
	ErrNotStarted = errors.New("rota: client not started")
	// ErrStopped: the client has been stopped.
	ErrStopped = errors.New("rota: client stopped")
	// ErrUnknownKind: no worker is registered for the kind.
	ErrUnknownKind = errors.New("rota: unknown kind")
	// ErrUnsupported: the client's store cannot do what was asked (EnqueueTx
	// on SQLite). It is errors.ErrUnsupported.
	ErrUnsupported = errors.ErrUnsupported
)

// DuplicateKeyError is the error (matching ErrDuplicate) of a job refused
// by the reject conflict policy: it names the active job that has the key.
type DuplicateKeyError = store.DuplicateKeyError

// QueueFullError is the error (matching ErrQueueFull) of a job a full
// queue refused: errors.As gives how full the queue is and which
// priorities it still takes.
type QueueFullError = store.QueueFullError

// FieldError is an invalid option or argument; Field names it as the API and
// CLI spell it (queue, priority, run_at, max_attempts, ...).
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *FieldError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

// IndexError is the error of one job of a many-job enqueue (EnqueueMany,
// Batch): Index is the job's position, from 0, and Err what was wrong
// with it (often a *FieldError), reachable with errors.Is and errors.As.
type IndexError struct {
	Index int
	Err   error
}

// Error implements error: "job 3: invalid priority: ...".
func (e *IndexError) Error() string { return fmt.Sprintf("job %d: %v", e.Index, e.Err) }

// Unwrap returns Err.
func (e *IndexError) Unwrap() error { return e.Err }

// wordedError is err with a message for people in place of err's own
// text; it still matches what err matches (errors.Is, errors.As).
type wordedError struct {
	msg string
	err error
}

func (e *wordedError) Error() string { return e.msg }
func (e *wordedError) Unwrap() error { return e.err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// outcomeError is what the worker-contract constructors return.
type outcomeError struct {
	outcome store.Outcome
	delay   time.Duration
	err     error
}

func (e *outcomeError) Error() string {
	switch e.outcome {
	case store.OutcomeRetryLater:
		return fmt.Sprintf("retry after %s", e.delay)
	case store.OutcomeSnooze:
		return fmt.Sprintf("snooze %s", e.delay)
	case store.OutcomeCancel:
		if e.err != nil {
			return e.err.Error() // the reason alone: the outcome already says cancel
		}
		return "cancelled"
	default:
		if e.err != nil {
			return e.err.Error()
		}
		return string(e.outcome)
	}
}

func (e *outcomeError) Unwrap() error { return e.err }

// RetryAfter asks for the job to run again after d, without counting this
// attempt as a failure (4CAT's INTERRUPT_RETRY: release with a delay). The
// job goes to scheduled with run_at = now + d.
func RetryAfter(d time.Duration) error {
	return &outcomeError{outcome: store.OutcomeRetryLater, delay: max(d, 0)}
}

// Snooze is RetryAfter for polling-style jobs: check again after d.
func Snooze(d time.Duration) error {
	return &outcomeError{outcome: store.OutcomeSnooze, delay: max(d, 0)}
}

// Cancel ends the job aborted (4CAT's INTERRUPT_CANCEL), with reason as its error text.
func Cancel(reason string) error {
	var err error
	if reason != "" {
		err = errors.New(reason)
	}
	return &outcomeError{outcome: store.OutcomeCancel, err: err}
}

// Fail ends the job in error at once, with no more attempts.
func Fail(err error) error {
	if err == nil {
		err = errors.New("failed")
	}
	return &outcomeError{outcome: store.OutcomeFail, err: err}
}

// OutcomeOf reports which contract outcome err asks for: done for nil,
// retry_later, snooze, cancel or fail for the constructors above, and error
// for anything else. delay is the RetryAfter/Snooze delay.
func OutcomeOf(err error) (o Outcome, delay time.Duration) {
	if err == nil {
		return store.OutcomeDone, 0
	}
	var oe *outcomeError
	if errors.As(err, &oe) {
		return oe.outcome, oe.delay
	}
	return store.OutcomeError, 0
}
