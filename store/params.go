package store

import (
	"errors"
	"fmt"
	"time"
)

// Micro returns t in UTC, truncated to microseconds: the precision every
// store keeps. The zero time stays zero.
func Micro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond).UTC()
}

// Check rejects insert parameters that the caller (the rota package) should
// have validated and defaulted; drivers call it before writing anything.
func (p InsertParams) Check() error {
	switch {
	case p.Kind == "":
		return errors.New("empty kind")
	case p.Queue == "":
		return errors.New("empty queue")
	case p.Priority < MinPriority || p.Priority > MaxPriority:
		return fmt.Errorf("priority %d out of range", p.Priority)
	case p.MaxAttempts < 1:
		return fmt.Errorf("max attempts %d < 1", p.MaxAttempts)
	case p.Timeout < 0:
		return fmt.Errorf("negative timeout %v", p.Timeout)
	case !p.OnConflict.Valid():
		return fmt.Errorf("unknown conflict policy %q", p.OnConflict)
	}
	return nil
}

// InitialState is the state and run_at of a new job inserted at now: ready
// when held, scheduled when runAt is after now, else queued to run at now.
func InitialState(hold bool, runAt, now time.Time) (State, time.Time) {
	runAt = Micro(runAt)
	future := runAt.After(now)
	if !future {
		runAt = now
	}
	switch {
	case hold:
		return StateReady, runAt
	case future:
		return StateScheduled, runAt
	default:
		return StateQueued, now
	}
}

// PageLimit is the page size List uses for p.Limit: DefaultListLimit when
// it is not positive, at most MaxListLimit.
func (p ListParams) PageLimit() int {
	switch {
	case p.Limit <= 0:
		return DefaultListLimit
	case p.Limit > MaxListLimit:
		return MaxListLimit
	}
	return p.Limit
}
