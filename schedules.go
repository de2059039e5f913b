package rota

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rotahq/rota/schedule"
	"github.com/rotahq/rota/store"
)

// Schedule is a stored schedule (see the store package for its fields).
type Schedule = store.Schedule

// ScheduleListParams filters and pages ListSchedules.
type ScheduleListParams = store.ScheduleListParams

// SchedulePage is one page of ListSchedules.
type SchedulePage = store.SchedulePage

// MisfirePolicy and OverlapPolicy are a schedule's policies; see the store package.
type (
	MisfirePolicy = store.MisfirePolicy
	OverlapPolicy = store.OverlapPolicy
)

// Misfire and overlap policies.
const (
	MisfireSkip     = store.MisfireSkip
	MisfireOnce     = store.MisfireOnce
	MisfireAll      = store.MisfireAll
	OverlapAllow    = store.OverlapAllow
	OverlapSkip     = store.OverlapSkip
	OverlapQueueOne = store.OverlapQueueOne
)

// Schedule defaults.
const (
	// DefaultMisfire is the misfire policy of a schedule that names none.
	DefaultMisfire = MisfireOnce
	// DefaultMisfireGrace: a fire less late than this fires as usual.
	DefaultMisfireGrace = time.Minute
	// DefaultMisfireCap bounds the fires of one MisfireAll catch-up.
	DefaultMisfireCap = 100
	// DefaultOverlap is the overlap policy of a schedule that names none.
	DefaultOverlap = OverlapAllow
	// MaxScheduleJitter bounds a schedule's jitter.
	MaxScheduleJitter = 24 * time.Hour
	// DefaultScheduleLookahead is how long before its fire time the leader
	// writes the job of a fire that does not depend on the moment (see
	// Options.ScheduleLookahead), and MaxScheduleLookahead its bound. Half
	// a second off the whole seconds that most fire times fall on, so that
	// writing the next fires ahead does not compete for the store with the
	// promotion of the fires now due.
	DefaultScheduleLookahead = 1500 * time.Millisecond
	MaxScheduleLookahead     = time.Minute
)

// ScheduleParams is a schedule to create, update or declare in Options.
type ScheduleParams struct {
	// Key names the schedule uniquely (letters, digits and . _ - : /).
	Key string
	// Kind of the jobs the schedule makes; Args, Queue, Priority and
	// Metadata are theirs, as in EnqueueParams; Queue defaults to the
	// default queue and Priority to DefaultPriority. The jobs' MaxAttempts
	// come from the kind's options on the leader.
	Kind     string
	Args     any
	Queue    string
	Priority *int
	Metadata map[string]string
	// Spec is the schedule spec (see package schedule); a relative one-off
	// ("in 12h") is stored as the absolute "once at ...". Zone is the IANA
	// zone of its wall-clock times ("" is UTC).
	Spec string
	Zone string
	// Jitter delays each fire's job by a pseudo-random part of Jitter,
	// the same on every node for a given schedule and fire time.
	Jitter time.Duration
	// Disabled creates the schedule disabled.
	Disabled bool
	// Misfire, MisfireGrace and MisfireCap: see store.Schedule. Zero values
	// take DefaultMisfire, DefaultMisfireGrace and DefaultMisfireCap.
	Misfire      MisfirePolicy
	MisfireGrace time.Duration
	MisfireCap   int
	// Overlap: see store.OverlapPolicy; "" is DefaultOverlap.
	Overlap OverlapPolicy
	// Condition, when set, must hold at a fire for it to make a job:
	// "signal 'NAME' >= N within DURATION" (also >, <=, <, ==) or
	// "func NAME" (a ConditionFunc registered with RegisterCondition on the
	// leader).
	Condition string
}

// ConditionFunc decides whether a fire of a schedule makes a job.
type ConditionFunc func(ctx context.Context, s *Schedule, fireTime time.Time) (bool, error)

var (
	keyRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)
	signalCond  = regexp.MustCompile(`^signal\s+'([^']+)'\s*(>=|<=|==|>|<|=)\s*(-?\d+)\s+within\s+(\S+)$`)
	funcCond    = regexp.MustCompile(`^func\s+([A-Za-z0-9][A-Za-z0-9._:/-]*)$`)
	errNeverRun = errors.New("has no fire time after now")
)

// condition is a parsed schedule condition.
type condition struct {
	signal string
	op     string
	n      int64
	within time.Duration
	fn     string
}

// parseCondition parses a condition ("" gives nil).
func parseCondition(s string) (*condition, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if m := funcCond.FindStringSubmatch(s); m != nil {
		return &condition{fn: m[1]}, nil
	}
	m := signalCond.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("%q is not \"signal 'NAME' >= N within DURATION\" or \"func NAME\"", s)
	}
	n, err := strconv.ParseInt(m[3], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("count %q: %w", m[3], err)
	}
	d, err := time.ParseDuration(m[4])
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("within %q is not a positive duration such as 1h or 30m", m[4])
	}
	return &condition{signal: m[1], op: m[2], n: n, within: d}, nil
}

// holds compares a signal count with the condition's threshold.
func (c *condition) holds(count int64) bool {
	switch c.op {
	case ">=":
		return count >= c.n
	case ">":
		return count > c.n
	case "<=":
		return count <= c.n
	case "<":
		return count < c.n
	default:
		return count == c.n
	}
}

// loadZone returns the location of zone ("" is UTC).
func loadZone(zone string) (*time.Location, error) {
	if zone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(zone)
}

// toStore validates p and returns the schedule to store, with its next
// fire after now. It reports the first bad field as a *FieldError; spec
// errors carry the parser's message.
func (p *ScheduleParams) toStore(now time.Time) (store.Schedule, error) {
	var s store.Schedule
	if p.Key == "" {
		return s, fieldErr("key", "required")
	}
	if len(p.Key) > MaxKeyLength || !keyRE.MatchString(p.Key) {
		return s, fieldErr("key", "%q must be 1-%d letters, digits or . _ - : /", p.Key, MaxKeyLength)
	}
	ep := EnqueueParams{Kind: p.Kind, Args: p.Args, Queue: p.Queue, Priority: p.Priority, Metadata: p.Metadata}
	ip, _, err := ep.validate(now, KindOptions{})
	if err != nil {
		return s, err
	}
	loc, err := loadZone(p.Zone)
	if err != nil {
		return s, fieldErr("zone", "%q is not an IANA time zone: %v", p.Zone, err)
	}
	if strings.TrimSpace(p.Spec) == "" {
		return s, fieldErr("spec", "required")
	}
	sp, err := schedule.Parse(p.Spec, now, loc)
	if err != nil {
		var se *schedule.SyntaxError
		if errors.As(err, &se) {
			return s, fieldErr("spec", "at %d: %s", se.Pos, se.Msg)
		}
		return s, fieldErr("spec", "%v", err)
	}
	spec := strings.TrimSpace(p.Spec)
	if strings.HasPrefix(strings.ToLower(spec), "in ") {
		spec = sp.String() // a relative one-off is fixed at creation
	}
	if p.Jitter < 0 || p.Jitter > MaxScheduleJitter {
		return s, fieldErr("jitter", "%s is not in 0..%s", p.Jitter, MaxScheduleJitter)
	}
	if !p.Misfire.Valid() {
		return s, fieldErr("misfire", "%q is not one of skip, once, all", p.Misfire)
	}
	if p.MisfireGrace < 0 {
		return s, fieldErr("misfire_grace", "%s is negative", p.MisfireGrace)
	}
	if p.MisfireCap < 0 {
		return s, fieldErr("misfire_cap", "%d is negative", p.MisfireCap)
	}
	if !p.Overlap.Valid() {
		return s, fieldErr("overlap", "%q is not one of allow, skip, queue_one", p.Overlap)
	}
	if _, err := parseCondition(p.Condition); err != nil {
		return s, fieldErr("condition", "%v", err)
	}
	s = store.Schedule{
		Key: p.Key, Kind: ip.Kind, Queue: ip.Queue, Args: ip.Args, Priority: ip.Priority, Metadata: ip.Metadata,
		Spec: spec, Zone: p.Zone, Jitter: p.Jitter, Enabled: !p.Disabled,
		Misfire: p.Misfire, MisfireGrace: p.MisfireGrace, MisfireCap: p.MisfireCap, Overlap: p.Overlap,
		Condition: strings.TrimSpace(p.Condition),
	}
	if s.Misfire == "" {
		s.Misfire = DefaultMisfire
	}
	if s.MisfireGrace == 0 {
		s.MisfireGrace = DefaultMisfireGrace
	}
	if s.MisfireCap == 0 {
		s.MisfireCap = DefaultMisfireCap
	}
	if s.Overlap == "" {
		s.Overlap = DefaultOverlap
	}
	if next, ok := sp.Next(now); ok {
		s.NextFire = next.UTC()
	}
	return s, nil
}

// ScheduleParamsOf returns the parameters that recreate s (for a
// read-modify-write update).
func ScheduleParamsOf(s *Schedule) ScheduleParams {
	prio := s.Priority
	return ScheduleParams{
		Key: s.Key, Kind: s.Kind, Args: s.Args, Queue: s.Queue, Priority: &prio, Metadata: s.Metadata,
		Spec: s.Spec, Zone: s.Zone, Jitter: s.Jitter, Disabled: !s.Enabled, Misfire: s.Misfire,
		MisfireGrace: s.MisfireGrace, MisfireCap: s.MisfireCap, Overlap: s.Overlap, Condition: s.Condition,
	}
}

// CreateSchedule stores a new schedule; ErrDuplicate if its key exists.
// A spec with no fire time after now is a *FieldError.
func (c *Client) CreateSchedule(ctx context.Context, p ScheduleParams) (*Schedule, error) {
	s, err := p.toStore(c.now())
	if err != nil {
		return nil, err
	}
	if s.NextFire.IsZero() && s.Enabled {
		return nil, fieldErr("spec", "%q %v", p.Spec, errNeverRun)
	}
	out, err := c.store.CreateSchedule(ctx, s, c.now())
	if err != nil {
		return nil, fmt.Errorf("rota: create schedule %q: %w", p.Key, err)
	}
	return out, nil
}

// UpdateSchedule replaces the schedule p.Key (ErrNotFound if none). Its
// next fire is kept when the spec and zone are unchanged, else computed
// from now. The jobs of fires written ahead of their fire time are
// deleted, and written again from the new schedule. A disabled schedule
// that stays disabled keeps its DisabledReason; one that p enables loses
// it, and its next fire is the first after now, as with EnableSchedule.
// One that p disables gets no reason (DisableSchedule records one).
func (c *Client) UpdateSchedule(ctx context.Context, p ScheduleParams) (*Schedule, error) {
	s, err := p.toStore(c.now())
	if err != nil {
		return nil, err
	}
	cur, err := c.store.GetSchedule(ctx, p.Key)
	if err != nil {
		return nil, fmt.Errorf("rota: update schedule %q: %w", p.Key, err)
	}
	return c.upsertSchedule(ctx, cur, s)
}

// upsertSchedule stores s (see store.Scheduler.UpsertSchedule) over cur,
// the schedule of its key as the caller read it (nil: none). One stored
// with the same definition is left as it is, so that re-declaring it (at
// every Start) does not take back and rewrite the fires written ahead.
func (c *Client) upsertSchedule(ctx context.Context, cur *store.Schedule, s store.Schedule) (*Schedule, error) {
	if cur != nil && sameDefinition(cur, &s) {
		return cur, nil
	}
	out, err := c.store.UpsertSchedule(ctx, s, c.now())
	if err != nil {
		return nil, fmt.Errorf("rota: store schedule %q: %w", s.Key, err)
	}
	return out, nil
}

// sameDefinition reports whether a and b make the same fires: every field
// a user sets is equal (not the record of fires, nor the times). The
// reason a schedule was disabled is not among them: ScheduleParams do not
// set it, and an upsert that leaves a schedule disabled keeps it.
func sameDefinition(a, b *store.Schedule) bool {
	return a.Kind == b.Kind && a.Queue == b.Queue && bytes.Equal(a.Args, b.Args) && a.Priority == b.Priority &&
		maps.Equal(a.Metadata, b.Metadata) && a.Spec == b.Spec && a.Zone == b.Zone && a.Jitter == b.Jitter &&
		a.Enabled == b.Enabled && a.Misfire == b.Misfire &&
		a.MisfireCap == b.MisfireCap && a.MisfireGrace == b.MisfireGrace && a.Overlap == b.Overlap &&
		a.Condition == b.Condition
}

// GetSchedule returns the schedule key; ErrNotFound if none.
func (c *Client) GetSchedule(ctx context.Context, key string) (*Schedule, error) {
	s, err := c.store.GetSchedule(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("rota: get schedule: %w", err)
	}
	return s, nil
}

// ListSchedules returns a page of schedules, by key.
func (c *Client) ListSchedules(ctx context.Context, p ScheduleListParams) (SchedulePage, error) {
	page, err := c.store.ListSchedules(ctx, p)
	if err != nil {
		return SchedulePage{}, fmt.Errorf("rota: list schedules: %w", err)
	}
	return page, nil
}

// EnableSchedule enables the schedule key; its next fire is the first
// after now (fires missed while it was disabled are not made up).
func (c *Client) EnableSchedule(ctx context.Context, key string) (*Schedule, error) {
	s, err := c.store.GetSchedule(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("rota: enable schedule: %w", err)
	}
	now := c.now()
	loc, err := loadZone(s.Zone)
	if err != nil {
		return nil, fieldErr("zone", "%q: %v", s.Zone, err)
	}
	sp, err := schedule.Parse(s.Spec, s.CreatedAt, loc)
	if err != nil {
		return nil, fieldErr("spec", "%v", err)
	}
	next, _ := sp.Next(now)
	out, err := c.store.SetScheduleEnabled(ctx, key, true, "", next, now)
	if err != nil {
		return nil, fmt.Errorf("rota: enable schedule: %w", err)
	}
	return out, nil
}

// DisableSchedule disables the schedule key, recording reason. The jobs
// of fires written ahead of their fire time are deleted.
func (c *Client) DisableSchedule(ctx context.Context, key, reason string) (*Schedule, error) {
	if reason == "" {
		reason = "disabled by request"
	}
	out, err := c.store.SetScheduleEnabled(ctx, key, false, reason, time.Time{}, c.now())
	if err != nil {
		return nil, fmt.Errorf("rota: disable schedule: %w", err)
	}
	return out, nil
}

// DeleteSchedule deletes the schedule key; ErrNotFound if none. The jobs
// of its past fires stay; the jobs of fires written ahead of their fire
// time (see Options.ScheduleLookahead) are deleted with it.
func (c *Client) DeleteSchedule(ctx context.Context, key string) error {
	if err := c.store.DeleteSchedule(ctx, key, c.now()); err != nil {
		return fmt.Errorf("rota: delete schedule: %w", err)
	}
	return nil
}

// Signal counts n occurrences of the named event now, for schedule
// conditions ("signal 'NAME' >= N within D").
func (c *Client) Signal(ctx context.Context, name string, n int64) error {
	if name == "" {
		return fieldErr("name", "required")
	}
	if err := c.store.Signal(ctx, name, n, c.now()); err != nil {
		return fmt.Errorf("rota: signal: %w", err)
	}
	return nil
}

// RegisterCondition registers a condition function that schedules name
// with "func NAME". Register it on every node that may lead: the leader
// evaluates conditions, and an unknown one skips the fire.
func (c *Client) RegisterCondition(name string, f ConditionFunc) {
	c.condMu.Lock()
	defer c.condMu.Unlock()
	if c.conds == nil {
		c.conds = make(map[string]ConditionFunc)
	}
	c.conds[name] = f
}

func (c *Client) conditionFunc(name string) ConditionFunc {
	c.condMu.Lock()
	defer c.condMu.Unlock()
	return c.conds[name]
}
