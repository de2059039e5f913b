package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MisfirePolicy says what happens to fire times a schedule missed by more
// than its grace window (nothing ran, the store was unreachable).
type MisfirePolicy string

// Misfire policies. The empty policy is MisfireOnce.
const (
	// MisfireSkip drops the missed fire times; the schedule goes on with
	// the next one.
	MisfireSkip MisfirePolicy = "skip"
	// MisfireOnce fires one job for all the missed fire times (with the
	// earliest missed time as its fire time).
	MisfireOnce MisfirePolicy = "once"
	// MisfireAll fires every missed fire time, oldest first, up to the
	// schedule's MisfireCap; the rest are dropped.
	MisfireAll MisfirePolicy = "all"
)

// Valid reports whether p is a known policy (the empty policy is valid).
func (p MisfirePolicy) Valid() bool {
	switch p {
	case "", MisfireSkip, MisfireOnce, MisfireAll:
		return true
	}
	return false
}

// OverlapPolicy says what a fire does while the job of the previous fire
// is unfinished (not in a final state).
type OverlapPolicy string

// Overlap policies. The empty policy is OverlapAllow.
const (
	// OverlapAllow fires regardless.
	OverlapAllow OverlapPolicy = "allow"
	// OverlapSkip skips the fire (recorded as skipped: overlap).
	OverlapSkip OverlapPolicy = "skip"
	// OverlapQueueOne keeps at most one fire waiting behind an unfinished
	// one: its job is inserted held (ready) and released when the previous
	// job is final; further fires meanwhile are skipped.
	OverlapQueueOne OverlapPolicy = "queue_one"
)

// Valid reports whether p is a known policy (the empty policy is valid).
func (p OverlapPolicy) Valid() bool {
	switch p {
	case "", OverlapAllow, OverlapSkip, OverlapQueueOne:
		return true
	}
	return false
}

// Fire outcomes recorded as a schedule's LastOutcome.
const (
	FireOutcomeFired         = "fired"
	FireOutcomeHeld          = "held: queued behind the previous fire"
	FireOutcomeSkipCondition = "skipped: condition false"
	FireOutcomeSkipOverlap   = "skipped: overlap"
	FireOutcomeMisfired      = "misfired"
	FireOutcomeError         = "error"
	// FireOutcomeTakenBack: the latest fire's job was written ahead of its
	// fire time and deleted when the schedule changed before that time.
	FireOutcomeTakenBack = "taken back: the schedule changed before its fire time"
)

// Schedule is a stored schedule: a spec that makes jobs of Kind at its
// fire times. Times are UTC with microsecond precision.
type Schedule struct {
	Key      string            `json:"key"`
	Kind     string            `json:"kind"`
	Queue    string            `json:"queue"`
	Args     json.RawMessage   `json:"args"`
	Priority int               `json:"priority"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Spec is the schedule spec (see package schedule); Zone the IANA zone
	// of its wall-clock times ("" is UTC).
	Spec string `json:"spec"`
	Zone string `json:"zone,omitempty"`
	// Jitter: each fire's job runs up to Jitter after the fire time.
	Jitter         time.Duration `json:"jitter,omitempty"`
	Enabled        bool          `json:"enabled"`
	DisabledReason string        `json:"disabled_reason,omitempty"`
	Misfire        MisfirePolicy `json:"misfire"`
	// MisfireCap bounds the fires of MisfireAll in one catch-up.
	MisfireCap int `json:"misfire_cap"`
	// MisfireGrace: a fire time less than this late is fired as usual;
	// later, it is missed and the misfire policy applies.
	MisfireGrace time.Duration `json:"misfire_grace"`
	Overlap      OverlapPolicy `json:"overlap"`
	// Condition, when set, must hold at a fire for it to insert a job.
	Condition string `json:"condition,omitempty"`
	// NextFire is the next fire time; zero when the schedule never fires again.
	NextFire time.Time `json:"next_fire,omitzero"`
	// LastFire is the latest fire time handled and LastOutcome what came of it.
	LastFire    time.Time `json:"last_fire,omitzero"`
	LastOutcome string    `json:"last_outcome,omitempty"`
	// LastJobID is the job of the latest fire that inserted one.
	LastJobID int64 `json:"last_job_id,omitempty"`
	// PendingJobID is the held job of an OverlapQueueOne fire that waits
	// for LastJobID to finish.
	PendingJobID int64     `json:"pending_job_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// UpdatedAt is when the schedule was last created, updated, enabled or
	// disabled (fires do not change it, except one that disables it).
	UpdatedAt time.Time `json:"updated_at"`
}

// FireJobKey is the job key of the fire of schedule key at fire time t.
func FireJobKey(key string, t time.Time) string {
	return fireKeyPrefix(key) + t.UTC().Format(time.RFC3339)
}

// fireKeyPrefix is what the fire job keys of schedule key start with.
func fireKeyPrefix(key string) string { return "sched:" + key + ":" }

// Check reports the first invalid field of s, for drivers (the rota
// package validates with field names first).
func (s *Schedule) Check() error {
	switch {
	case s.Key == "":
		return errors.New("empty schedule key")
	case s.Kind == "":
		return errors.New("empty kind")
	case s.Queue == "":
		return errors.New("empty queue")
	case s.Spec == "":
		return errors.New("empty spec")
	case !s.Misfire.Valid():
		return fmt.Errorf("unknown misfire policy %q", s.Misfire)
	case !s.Overlap.Valid():
		return fmt.Errorf("unknown overlap policy %q", s.Overlap)
	case len(s.Args) > 0 && !json.Valid(s.Args):
		return errors.New("args are not valid JSON")
	}
	return nil
}

// ScheduleListParams filters and pages ListSchedules. Zero fields do not filter.
type ScheduleListParams struct {
	Kind    string
	Enabled *bool
	// Pending: only schedules with a PendingJobID.
	Pending bool
	// AfterKey is the keyset cursor: schedules whose key sorts after it.
	AfterKey string
	Limit    int // 0: DefaultListLimit; capped at MaxListLimit
}

// SchedulePage is one page of ListSchedules; NextAfterKey is "" on the last.
type SchedulePage struct {
	Schedules    []*Schedule `json:"schedules"`
	NextAfterKey string      `json:"next_after_key,omitempty"`
}

// FireParams records one fire of a schedule, in one transaction: if the
// schedule's next fire is still Expected and it is unchanged since
// Updated (compare-and-set), Job (if any) is inserted and the schedule
// moves to Next.
type FireParams struct {
	Key      string
	Expected time.Time // the NextFire the caller read
	// Updated is the UpdatedAt the caller read: the fire applies only if
	// the schedule was not changed since (an update, enable or disable);
	// zero does not check it. Fires themselves leave UpdatedAt as it is,
	// except one that disables the schedule.
	Updated time.Time
	Next    time.Time // the new NextFire (zero: never again)
	// FireTime is recorded as LastFire, Outcome as LastOutcome.
	FireTime time.Time
	Outcome  string
	// Job is the fire's job, or nil for a fire that inserts none (skipped,
	// misfired). Its Key should be FireJobKey. A held job (Job.Hold) becomes
	// the schedule's PendingJobID, any other its LastJobID.
	Job *InsertParams
	// Disable, when set, disables the schedule with this reason.
	Disable string
	Now     time.Time
}

// FireResult is the answer to each fire of FireSchedules.
type FireResult struct {
	// Applied is false when the schedule's next fire was not Expected
	// (another fire won, or the schedule changed or is gone), or when Err
	// is set: nothing was done for this fire.
	Applied bool
	// Job is the fire's job: the one inserted, or the active job that
	// already held its key (Duplicate).
	Job *Job
	// Duplicate: an active job of the fire's kind already held the key of
	// its job (the fire time was handled before, and the schedule was then
	// set back to it). Nothing was inserted; the schedule moved on
	// (Applied) with Job, that job, as its last or pending job.
	Duplicate bool
	// Err is why this fire of FireSchedules did nothing while the others
	// of the call went on: ErrQueueFull, or invalid parameters. Applied
	// is false.
	Err error
}

// Scheduler is the part of the driver contract for stored schedules and
// the signals of their conditions. Every driver implements it.
//
// A fire's job may be written before its fire time (the leader's
// lookahead), scheduled to run at it. Such a job has not fired yet in the
// user's eyes, so a change of its schedule takes it back: UpsertSchedule
// (replacing a schedule), DeleteSchedule and SetScheduleEnabled (disabling)
// delete, in the same transaction, the schedule's fire jobs (of its kind,
// keyed FireJobKey) that are still scheduled and whose fire time is after
// the second of now (see TakenBack); when its LastJobID is one of them, it
// becomes 0 and LastOutcome FireOutcomeTakenBack.
type Scheduler interface {
	// UpsertSchedule inserts s or replaces the schedule of s.Key, setting
	// CreatedAt (on insert) and UpdatedAt to now. On replace, NextFire,
	// LastFire, LastOutcome, LastJobID and PendingJobID are kept when Spec
	// and Zone are unchanged and the stored schedule is enabled and s is
	// too (re-declaring a schedule at every start does not move it);
	// otherwise s.NextFire is taken. A replace takes back the fire jobs
	// written ahead (see Scheduler); a kept NextFire moves back to the
	// earliest fire time taken back, so that the fire is written again
	// from the new schedule. DisabledReason is kept when the stored
	// schedule is disabled and s is too and gives none (a change to a
	// disabled schedule does not forget why it was disabled); otherwise
	// s.DisabledReason is taken. It returns the stored schedule.
	UpsertSchedule(ctx context.Context, s Schedule, now time.Time) (*Schedule, error)
	// CreateSchedule inserts s, setting CreatedAt and UpdatedAt to now;
	// ErrDuplicate (and nothing changed) if a schedule of s.Key exists, even
	// when another caller creates it at the same instant.
	CreateSchedule(ctx context.Context, s Schedule, now time.Time) (*Schedule, error)
	// GetSchedule returns one schedule; ErrNotFound if none.
	GetSchedule(ctx context.Context, key string) (*Schedule, error)
	// ListSchedules returns a page of schedules, by key.
	ListSchedules(ctx context.Context, p ScheduleListParams) (SchedulePage, error)
	// DeleteSchedule deletes a schedule and takes back its fire jobs
	// written ahead of now (see Scheduler); its other jobs stay.
	// ErrNotFound if none.
	DeleteSchedule(ctx context.Context, key string, now time.Time) error
	// SetScheduleEnabled enables (with NextFire next) or disables (with
	// reason) a schedule and returns it; ErrNotFound if none. Disabling
	// takes back the fire jobs written ahead of now (see Scheduler).
	SetScheduleEnabled(ctx context.Context, key string, enabled bool, reason string, next, now time.Time) (*Schedule, error)
	// DueSchedules returns up to limit enabled schedules whose NextFire <=
	// now, by NextFire then key, and the earliest NextFire of the enabled
	// schedules not returned (zero if none).
	DueSchedules(ctx context.Context, now time.Time, limit int) (due []*Schedule, next time.Time, err error)
	// FireSchedules records many fires in one transaction and returns
	// their results in input order. Each fire is all or nothing, and
	// independent of the others: its compare-and-set, its job and the move
	// of its schedule apply together or not at all, and its result says
	// which (Applied; Duplicate; or Err, a per-fire failure such as
	// ErrQueueFull). Fire jobs are not subject to their conflict policy:
	// an active job holding a fire job's key makes that fire Duplicate. A
	// schedule key may appear once per call (ErrInvalidFires otherwise).
	// An error of the call itself means that nothing was applied.
	FireSchedules(ctx context.Context, fires []FireParams) ([]FireResult, error)
	// SettlePending makes the pending job of a queue_one schedule its last
	// job, if PendingJobID is still pendingID.
	SettlePending(ctx context.Context, key string, pendingID int64, now time.Time) error

	// Signal adds n to the count of the named event in the bucket of now
	// (SignalBucket wide).
	Signal(ctx context.Context, name string, n int64, now time.Time) error
	// SignalCount sums the counts of name in the buckets that start in
	// [from, to).
	SignalCount(ctx context.Context, name string, from, to time.Time) (int64, error)
}

// TakenBack returns the bounds of the keys of the fire jobs of schedule
// key whose fire time is after the second of now: such a job key k has
// lo < k < hi and chars runes. The rune count tells the fire jobs of key
// from those of a schedule whose key starts with key + ":".
func TakenBack(key string, now time.Time) (lo, hi string, chars int) {
	prefix := fireKeyPrefix(key)
	lo = prefix + now.UTC().Format(time.RFC3339)
	return lo, prefix + "~", utf8.RuneCountInString(lo)
}

// PickTakenBack returns which of the jobs found in the TakenBack range of
// schedule key (keyOf gives a job's key) are fire jobs (their key ends in a
// fire time: a job of the user's may have a key of the same length), and
// the earliest of their fire times (zero if none).
func PickTakenBack[J any](key string, found []J, keyOf func(J) string) (picked []J, earliest time.Time) {
	for _, j := range found {
		ft, err := FireTimeOfKey(key, keyOf(j))
		if err != nil {
			continue
		}
		picked = append(picked, j)
		if earliest.IsZero() || ft.Before(earliest) {
			earliest = ft
		}
	}
	return picked, earliest
}

// FireTimeOfKey returns the fire time in a fire job key of schedule key.
func FireTimeOfKey(key, jobKey string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimPrefix(jobKey, fireKeyPrefix(key)))
	if err != nil {
		return time.Time{}, fmt.Errorf("fire job key %q of schedule %q: %w", jobKey, key, err)
	}
	return t.UTC(), nil
}

// ErrInvalidFires: a FireSchedules call names a schedule twice.
var ErrInvalidFires = errors.New("invalid fires: a schedule appears twice")

// CheckFires reports the first schedule key that appears twice in fires
// (ErrInvalidFires), for drivers.
func CheckFires(fires []FireParams) error {
	seen := make(map[string]bool, len(fires))
	for i := range fires {
		k := fires[i].Key
		if seen[k] {
			return fmt.Errorf("fire %d, schedule %q: %w", i, k, ErrInvalidFires)
		}
		seen[k] = true
	}
	return nil
}

// SignalBucket is the width of the buckets signals are counted in.
const SignalBucket = time.Minute
