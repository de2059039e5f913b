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

// Check rejects a lease request without a name or a candidate, or whose
// Until is not after Now; drivers call it before writing anything.
func (p LeadParams) Check() error {
	switch {
	case p.Name == "":
		return errors.New("empty leader name")
	case p.Node == "":
		return errors.New("empty node")
	case !p.Until.After(p.Now):
		return fmt.Errorf("until %v is not after now %v", p.Until, p.Now)
	}
	return nil
}

// Check rejects a node without an ID, an instance or a start time, or with
// a negative heartbeat interval.
func (n Node) Check() error {
	switch {
	case n.ID == "":
		return errors.New("empty node id")
	case n.Instance == "":
		return errors.New("empty node instance")
	case n.StartedAt.IsZero():
		return errors.New("zero started_at")
	case n.HeartbeatInterval < 0:
		return fmt.Errorf("negative heartbeat_interval %v", n.HeartbeatInterval)
	}
	return nil
}

// Check rejects a heartbeat without a node ID, an instance or a time.
func (h NodeHeartbeat) Check() error {
	switch {
	case h.ID == "":
		return errors.New("empty node id")
	case h.Instance == "":
		return errors.New("empty node instance")
	case h.Now.IsZero():
		return errors.New("zero now")
	}
	return nil
}
