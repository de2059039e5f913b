package rota_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// t0 is the fake clock's start in the schedule tests: a whole minute.
var t0 = time.Date(2030, time.January, 7, 10, 0, 0, 0, time.UTC)

// schedEnv is a started client on a fake clock with a worker for "tick"
// that records the fire times it ran and may be made to block.
type schedEnv struct {
	c     *rota.Client
	clock *fakeClock
	block chan struct{} // closed: workers return; nil channel never blocks
	mu    sync.Mutex
	ran   []string
}

func newSchedEnv(t *testing.T, blocking bool, opts rota.Options) *schedEnv {
	t.Helper()
	e := &schedEnv{clock: &fakeClock{now: t0}}
	if blocking {
		e.block = make(chan struct{})
	}
	opts.Clock = e.clock
	e.c = newClient(t, openStore(t), opts)
	must(t, e.c.Register("tick", rota.WorkFunc(func(ctx context.Context, j *rota.Job) error {
		e.mu.Lock()
		e.ran = append(e.ran, j.Metadata[rota.MetaFireTime])
		e.mu.Unlock()
		if e.block != nil {
			select {
			case <-e.block:
			case <-ctx.Done():
			}
		}
		return nil
	})))
	start(t, e.c)
	waitFor(t, "leadership", e.c.IsLeader)
	return e
}

// advance moves the clock to t and waits until the schedule key has
// handled every fire time up to t (its next fire is after t, or never).
func (e *schedEnv) advance(t *testing.T, key string, to time.Time) *rota.Schedule {
	t.Helper()
	e.clock.set(to)
	var s *rota.Schedule
	waitFor(t, "schedule "+key+" to catch up with "+to.String(), func() bool {
		e.c.KickSchedules()
		var err error
		s, err = e.c.GetSchedule(context.Background(), key)
		must(t, err)
		return s.NextFire.IsZero() || s.NextFire.After(to) || !s.Enabled
	})
	return s
}

// fireTimes returns the fire times of the jobs of schedule key, sorted.
func (e *schedEnv) fireTimes(t *testing.T, key string) []string {
	t.Helper()
	var out []string
	for _, j := range e.jobsOf(t, key) {
		out = append(out, j.Metadata[rota.MetaFireTime])
	}
	slices.Sort(out)
	return out
}

func minutes(ms ...int) []string {
	var out []string
	for _, m := range ms {
		out = append(out, t0.Add(time.Duration(m)*time.Minute).Format(time.RFC3339))
	}
	return out
}

func create(t *testing.T, c *rota.Client, p rota.ScheduleParams) *rota.Schedule {
	t.Helper()
	s, err := c.CreateSchedule(context.Background(), p)
	if err != nil {
		t.Fatalf("CreateSchedule(%s): %v", p.Key, err)
	}
	return s
}

func TestScheduleFiresOnTime(t *testing.T) {
	t.Parallel()
	e := newSchedEnv(t, false, rota.Options{})
	s := create(t, e.c, rota.ScheduleParams{Key: "m", Kind: "tick", Spec: "every 1 minute"})
	if !s.NextFire.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next fire %v, want %v", s.NextFire, t0.Add(time.Minute))
	}
	for m := 1; m <= 3; m++ {
		s = e.advance(t, "m", t0.Add(time.Duration(m)*time.Minute))
	}
	if got, want := e.fireTimes(t, "m"), minutes(1, 2, 3); !slices.Equal(got, want) {
		t.Errorf("fire times %v, want %v", got, want)
	}
	if s.LastOutcome != store.FireOutcomeFired || !s.LastFire.Equal(t0.Add(3*time.Minute)) || s.LastJobID == 0 {
		t.Errorf("last fire %v outcome %q job %d", s.LastFire, s.LastOutcome, s.LastJobID)
	}
	j, err := e.c.Get(context.Background(), s.LastJobID)
	must(t, err)
	if j.Key != store.FireJobKey("m", t0.Add(3*time.Minute)) {
		t.Errorf("job key %q", j.Key)
	}
}

func TestScheduleMisfire(t *testing.T) {
	t.Parallel()
	// The clock jumps 10.5 minutes: fires 1..9 are more than the 1-minute
	// grace late (missed), fire 10 is within it (on time).
	for _, tc := range []struct {
		policy  rota.MisfirePolicy
		cap     int
		want    []string
		outcome string
	}{
		{rota.MisfireSkip, 0, minutes(10), "fired"},
		{rota.MisfireOnce, 0, minutes(1, 10), "fired"},
		{rota.MisfireAll, 0, minutes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), "fired"},
		{rota.MisfireAll, 3, minutes(1, 10, 2, 3), "fired"},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.policy, tc.cap), func(t *testing.T) {
			t.Parallel()
			e := newSchedEnv(t, false, rota.Options{})
			create(t, e.c, rota.ScheduleParams{Key: "m", Kind: "tick", Spec: "every 1 minute", Misfire: tc.policy, MisfireCap: tc.cap})
			s := e.advance(t, "m", t0.Add(10*time.Minute+30*time.Second))
			want := slices.Sorted(slices.Values(tc.want))
			if got := e.fireTimes(t, "m"); !slices.Equal(got, want) {
				t.Errorf("fire times %v, want %v", got, want)
			}
			if !s.NextFire.Equal(t0.Add(11 * time.Minute)) {
				t.Errorf("next fire %v", s.NextFire)
			}
		})
	}
}

func TestScheduleOverlap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy rota.OverlapPolicy
		// outcomes of fires 2 and 3 while fire 1's job runs
		want2, want3 string
		jobs         int // jobs after fire 3
	}{
		{rota.OverlapAllow, store.FireOutcomeFired, store.FireOutcomeFired, 3},
		{rota.OverlapSkip, store.FireOutcomeSkipOverlap, store.FireOutcomeSkipOverlap, 1},
		{rota.OverlapQueueOne, store.FireOutcomeHeld, store.FireOutcomeSkipOverlap, 2},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			e := newSchedEnv(t, true, rota.Options{})
			create(t, e.c, rota.ScheduleParams{Key: "o", Kind: "tick", Spec: "every 1 minute", Overlap: tc.policy})
			s := e.advance(t, "o", t0.Add(time.Minute))
			waitState(t, e.c, s.LastJobID, rota.StateRunning)
			if s = e.advance(t, "o", t0.Add(2*time.Minute)); s.LastOutcome != tc.want2 {
				t.Errorf("fire 2: %q, want %q", s.LastOutcome, tc.want2)
			}
			if s = e.advance(t, "o", t0.Add(3*time.Minute)); s.LastOutcome != tc.want3 {
				t.Errorf("fire 3: %q, want %q", s.LastOutcome, tc.want3)
			}
			if got := e.fireTimes(t, "o"); len(got) != tc.jobs {
				t.Errorf("%d jobs (%v), want %d", len(got), got, tc.jobs)
			}
			if tc.policy == rota.OverlapQueueOne {
				held := s.PendingJobID
				if j, err := e.c.Get(context.Background(), held); err != nil || j.State != rota.StateReady {
					t.Fatalf("held job: %+v, %v", j, err)
				}
				close(e.block) // fire 1's job ends: the held one is released and runs
				waitState(t, e.c, held, rota.StateDone)
			} else {
				close(e.block)
			}
		})
	}
}

func TestScheduleDST(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	must(t, err)
	e := newSchedEnv(t, false, rota.Options{})
	// 2030-03-10: New York springs forward from 02:00 to 03:00.
	e.clock.set(time.Date(2030, 3, 9, 12, 0, 0, 0, ny))
	s := create(t, e.c, rota.ScheduleParams{Key: "d", Kind: "tick", Spec: "daily at 02:30", Zone: "America/New_York"})
	want := []time.Time{
		time.Date(2030, 3, 10, 3, 0, 0, 0, ny), // the gap: the first instant after it
		time.Date(2030, 3, 11, 2, 30, 0, 0, ny),
	}
	if !s.NextFire.Equal(want[0]) {
		t.Fatalf("next fire %v, want %v", s.NextFire, want[0])
	}
	for _, w := range want {
		s = e.advance(t, "d", w)
		if !s.LastFire.Equal(w) {
			t.Errorf("last fire %v, want %v", s.LastFire, w)
		}
	}
	if got := e.fireTimes(t, "d"); len(got) != 2 || got[0] != "2030-03-10T07:00:00Z" {
		t.Errorf("fire times %v", got)
	}
}

func TestScheduleGoneKindDisabled(t *testing.T) {
	t.Parallel()
	e := newSchedEnv(t, false, rota.Options{})
	create(t, e.c, rota.ScheduleParams{Key: "g", Kind: "nobody", Spec: "every 1 minute"})
	s := e.advance(t, "g", t0.Add(time.Minute))
	if s.Enabled || !strings.Contains(s.DisabledReason, `kind "nobody" is served by no live node`) {
		t.Errorf("schedule %+v, want disabled for its gone kind", s)
	}
	if got := e.fireTimes(t, "g"); len(got) != 0 {
		t.Errorf("fired %v", got)
	}
	// The loop goes on with the other schedules.
	create(t, e.c, rota.ScheduleParams{Key: "ok", Kind: "tick", Spec: "every 1 minute"})
	e.advance(t, "ok", t0.Add(2*time.Minute))
	if got := e.fireTimes(t, "ok"); !slices.Equal(got, minutes(2)) {
		t.Errorf("ok fired %v", got)
	}
}

func TestScheduleConditions(t *testing.T) {
	t.Parallel()
	e := newSchedEnv(t, false, rota.Options{})
	var allow sync.Mutex
	open := false
	e.c.RegisterCondition("gate", func(ctx context.Context, s *rota.Schedule, ft time.Time) (bool, error) {
		allow.Lock()
		defer allow.Unlock()
		return open, nil
	})
	create(t, e.c, rota.ScheduleParams{Key: "sig", Kind: "tick", Spec: "every 1 minute",
		Condition: "signal 'nodes.elf' >= 3 within 1h"})
	create(t, e.c, rota.ScheduleParams{Key: "fn", Kind: "tick", Spec: "every 1 minute", Condition: "func gate"})
	s := e.advance(t, "sig", t0.Add(time.Minute))
	if !strings.HasPrefix(s.LastOutcome, store.FireOutcomeSkipCondition) || !strings.Contains(s.LastOutcome, "counted 0") {
		t.Errorf("sig fire 1: %q, want skipped: condition false", s.LastOutcome)
	}
	s = e.advance(t, "fn", t0.Add(time.Minute))
	if s.LastOutcome != store.FireOutcomeSkipCondition {
		t.Errorf("fn fire 1: %q", s.LastOutcome)
	}
	must(t, e.c.Signal(context.Background(), "nodes.elf", 2))
	must(t, e.c.Signal(context.Background(), "nodes.elf", 1))
	allow.Lock()
	open = true
	allow.Unlock()
	for _, key := range []string{"sig", "fn"} {
		s = e.advance(t, key, t0.Add(2*time.Minute))
		if s.LastOutcome != store.FireOutcomeFired {
			t.Errorf("%s fire 2: %q, want fired", key, s.LastOutcome)
		}
		if got := e.fireTimes(t, key); !slices.Equal(got, minutes(2)) {
			t.Errorf("%s fired %v", key, got)
		}
	}
	// Outside the window the signals no longer count.
	s = e.advance(t, "sig", t0.Add(time.Hour+10*time.Minute))
	if !strings.HasPrefix(s.LastOutcome, store.FireOutcomeSkipCondition) {
		t.Errorf("sig after the window: %q", s.LastOutcome)
	}
}

func TestScheduleJitterDeterministic(t *testing.T) {
	t.Parallel()
	e := newSchedEnv(t, false, rota.Options{})
	create(t, e.c, rota.ScheduleParams{Key: "j", Kind: "nobody-runs-it", Spec: "every 1 minute", Jitter: 30 * time.Second,
		Disabled: true})
	create(t, e.c, rota.ScheduleParams{Key: "jt", Kind: "tick", Spec: "every 1 minute", Jitter: 30 * time.Second})
	s := e.advance(t, "jt", t0.Add(time.Minute))
	j, err := e.c.Get(context.Background(), s.LastJobID)
	must(t, err)
	d := j.RunAt.Sub(t0.Add(time.Minute))
	if d < 0 || d >= 30*time.Second {
		t.Errorf("run_at %v is %v after the fire, want in [0, 30s)", j.RunAt, d)
	}
}

func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	good := rota.ScheduleParams{Key: "k", Kind: "tick", Spec: "every 1 minute"}
	for _, tc := range []struct {
		field, msg string
		change     func(p *rota.ScheduleParams)
	}{
		{"key", "required", func(p *rota.ScheduleParams) { p.Key = "" }},
		{"key", "letters", func(p *rota.ScheduleParams) { p.Key = "a b" }},
		{"kind", "required", func(p *rota.ScheduleParams) { p.Kind = "" }},
		{"spec", "required", func(p *rota.ScheduleParams) { p.Spec = " " }},
		{"spec", "at 7", func(p *rota.ScheduleParams) { p.Spec = "every banana" }},
		{"spec", "no fire time after now", func(p *rota.ScheduleParams) { p.Spec = "once at 2001-01-01T00:00:00Z" }},
		{"zone", "IANA", func(p *rota.ScheduleParams) { p.Zone = "Mars/Olympus" }},
		{"misfire", "skip, once, all", func(p *rota.ScheduleParams) { p.Misfire = "later" }},
		{"overlap", "allow, skip, queue_one", func(p *rota.ScheduleParams) { p.Overlap = "no" }},
		{"jitter", "not in", func(p *rota.ScheduleParams) { p.Jitter = -time.Second }},
		{"condition", "signal", func(p *rota.ScheduleParams) { p.Condition = "when it rains" }},
		{"condition", "positive duration", func(p *rota.ScheduleParams) { p.Condition = "signal 'x' >= 1 within soon" }},
		{"priority", "out of range", func(p *rota.ScheduleParams) { n := -1; p.Priority = &n }},
	} {
		p := good
		tc.change(&p)
		_, err := c.CreateSchedule(context.Background(), p)
		var fe *rota.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.msg) {
			t.Errorf("%s: %v, want a FieldError on %s mentioning %q", tc.field, err, tc.field, tc.msg)
		}
	}
	create(t, c, good)
	if _, err := c.CreateSchedule(context.Background(), good); !errors.Is(err, rota.ErrDuplicate) {
		t.Errorf("second create: %v, want ErrDuplicate", err)
	}
	p := good
	p.Key = "missing"
	if _, err := c.UpdateSchedule(context.Background(), p); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("update of a missing schedule: %v, want ErrNotFound", err)
	}
	rel := rota.ScheduleParams{Key: "rel", Kind: "tick", Spec: "in 12h"}
	s := create(t, c, rel)
	if !strings.HasPrefix(s.Spec, "once at ") {
		t.Errorf("relative spec stored as %q, want once at ...", s.Spec)
	}
}

func TestScheduleAPI(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: t0}
	c := newClient(t, openStore(t), rota.Options{Clock: clock})
	ctx := context.Background()
	create(t, c, rota.ScheduleParams{Key: "a", Kind: "tick", Spec: "every 1 minute"})
	create(t, c, rota.ScheduleParams{Key: "b", Kind: "tick", Spec: "hourly"})
	s, err := c.DisableSchedule(ctx, "a", "maintenance window")
	must(t, err)
	if s.Enabled || s.DisabledReason != "maintenance window" {
		t.Errorf("disabled: %+v", s)
	}
	clock.set(t0.Add(90 * time.Minute))
	s, err = c.EnableSchedule(ctx, "a")
	must(t, err)
	if !s.Enabled || !s.NextFire.Equal(t0.Add(91*time.Minute)) {
		t.Errorf("enabled: next %v, want %v (missed fires while disabled are not made up)", s.NextFire, t0.Add(91*time.Minute))
	}
	p := rota.ScheduleParamsOf(s)
	p.Spec = "every 5 minutes"
	s, err = c.UpdateSchedule(ctx, p)
	must(t, err)
	if s.Spec != "every 5 minutes" || !s.NextFire.Equal(t0.Add(95*time.Minute)) {
		t.Errorf("updated: %q next %v", s.Spec, s.NextFire)
	}
	page, err := c.ListSchedules(ctx, rota.ScheduleListParams{Limit: 1})
	must(t, err)
	if len(page.Schedules) != 1 || page.Schedules[0].Key != "a" || page.NextAfterKey != "a" {
		t.Errorf("page 1: %+v", page)
	}
	must(t, c.DeleteSchedule(ctx, "a"))
	if _, err := c.GetSchedule(ctx, "a"); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
}

// TestScheduleUpdateOfDisabled: an update that leaves a disabled schedule
// disabled keeps its reason, and so does declaring it again at a start
// (which then leaves it as it is); an update that enables it clears the
// reason and moves its next fire to the first after now.
func TestScheduleUpdateOfDisabled(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	clock := &fakeClock{now: t0}
	c := newClient(t, st, rota.Options{Clock: clock})
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(p *rota.ScheduleParams)
		// enabled and reason: the schedule after the update.
		enabled bool
		reason  string
	}{
		{"new spec", func(p *rota.ScheduleParams) { p.Spec = "every 5 seconds" }, false, "maintenance"},
		{"new priority and args", func(p *rota.ScheduleParams) { p.Priority, p.Args = new(3), map[string]int{"n": 1} },
			false, "maintenance"},
		{"enabled", func(p *rota.ScheduleParams) { p.Disabled = false }, true, ""},
	} {
		key := strings.ReplaceAll(tc.name, " ", "-")
		clock.set(t0)
		create(t, c, rota.ScheduleParams{Key: key, Kind: "tick", Spec: "every 1 minute"})
		clock.set(t0.Add(time.Hour))
		s, err := c.DisableSchedule(ctx, key, "maintenance")
		must(t, err)
		clock.set(t0.Add(90*time.Minute + 30*time.Second))
		p := rota.ScheduleParamsOf(s)
		tc.change(&p)
		s, err = c.UpdateSchedule(ctx, p)
		must(t, err)
		got, err := c.GetSchedule(ctx, key)
		must(t, err)
		for _, g := range []*rota.Schedule{s, got} {
			if g.Enabled != tc.enabled || g.DisabledReason != tc.reason {
				t.Errorf("%s: enabled %v, reason %q; want %v, %q", tc.name, g.Enabled, g.DisabledReason, tc.enabled, tc.reason)
			}
			if tc.enabled && !g.NextFire.Equal(t0.Add(91*time.Minute)) {
				t.Errorf("%s: next fire %v, want %v (missed fires are not made up)", tc.name, g.NextFire, t0.Add(91*time.Minute))
			}
		}
	}

	// Declared disabled, disabled with a reason, declared again: kept as it is.
	decl := []rota.ScheduleParams{{Key: "decl", Kind: "tick", Spec: "every 1 minute", Disabled: true}}
	c1 := newClient(t, st, rota.Options{Clock: clock, Schedules: decl})
	must(t, c1.Start(ctx))
	must(t, c1.Stop(ctx))
	before, err := c.DisableSchedule(ctx, "decl", "kind retired")
	must(t, err)
	clock.set(t0.Add(2 * time.Hour))
	c2 := newClient(t, st, rota.Options{Clock: clock, Schedules: decl})
	must(t, c2.Start(ctx))
	must(t, c2.Stop(ctx))
	after, err := c.GetSchedule(ctx, "decl")
	must(t, err)
	if after.Enabled || after.DisabledReason != "kind retired" || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("declared again: enabled %v, reason %q, updated %v; want false, %q, %v (unchanged)",
			after.Enabled, after.DisabledReason, after.UpdatedAt, "kind retired", before.UpdatedAt)
	}
}

func TestScheduleDeclaredInOptions(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	clock := &fakeClock{now: t0}
	decl := []rota.ScheduleParams{{Key: "decl", Kind: "tick", Spec: "every 1 minute"}}
	for i := range 2 { // declaring again at the next start keeps the next fire
		clock.set(t0.Add(time.Duration(i) * 30 * time.Second))
		c := newClient(t, st, rota.Options{Clock: clock, Schedules: decl})
		must(t, c.Start(context.Background()))
		s, err := c.GetSchedule(context.Background(), "decl")
		must(t, err)
		if !s.NextFire.Equal(t0.Add(time.Minute)) {
			t.Errorf("start %d: next fire %v", i, s.NextFire)
		}
		must(t, c.Stop(context.Background()))
	}
	bad := newClient(t, st, rota.Options{Schedules: []rota.ScheduleParams{{Key: "x", Kind: "tick", Spec: "nope"}}})
	var fe *rota.FieldError
	if err := bad.Start(context.Background()); !errors.As(err, &fe) || fe.Field != "spec" {
		t.Errorf("start with a bad declared schedule: %v", err)
	}
}

// liveConfig is a WorkerConfigSource whose interval for "tick" tests change.
type liveConfig struct {
	mu       sync.Mutex
	interval *string
	ch       chan struct{}
}

func (l *liveConfig) Kind(kind string) (rota.KindConfig, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if kind != "tick" {
		return rota.KindConfig{}, false
	}
	return rota.KindConfig{Interval: l.interval}, true
}

func (l *liveConfig) Changes() <-chan struct{} { return l.ch }

func (l *liveConfig) set(interval *string) {
	l.mu.Lock()
	l.interval = interval
	l.mu.Unlock()
	l.ch <- struct{}{}
}

func TestPeriodicWorkerFollowsConfig(t *testing.T) {
	t.Parallel()
	every := "every 1 minute"
	cfg := &liveConfig{interval: &every, ch: make(chan struct{}, 1)}
	e := newSchedEnv(t, false, rota.Options{WorkerConfig: cfg})
	key := rota.PeriodicKey("tick")
	spec := func() string {
		s, err := e.c.GetSchedule(context.Background(), key)
		if errors.Is(err, rota.ErrNotFound) {
			return ""
		}
		must(t, err)
		return s.Spec
	}
	waitFor(t, "the periodic schedule", func() bool { return spec() == every })
	e.advance(t, key, t0.Add(time.Minute))
	if got := e.fireTimes(t, key); !slices.Equal(got, minutes(1)) {
		t.Errorf("periodic fires %v", got)
	}
	hourly := "hourly"
	cfg.set(&hourly)
	waitFor(t, "the edited interval", func() bool { return spec() == hourly })
	cfg.set(nil)
	waitFor(t, "the schedule to go with the interval", func() bool { return spec() == "" })
}

// TestScheduleRealClockWakesOnNotice: on the wall clock, without kicks, a
// schedule created after the loop went to sleep fires (the store's notice
// wakes the loop, and its timer does the rest).
func TestScheduleRealClockWakesOnNotice(t *testing.T) {
	t.Parallel()
	c := setup(t, rota.Options{}, func(c *rota.Client) {
		must(t, c.Register("tick", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })))
	})
	waitFor(t, "leadership", c.IsLeader)
	create(t, c, rota.ScheduleParams{Key: "rt", Kind: "tick", Spec: "every 1 second"})
	waitFor(t, "two fires", func() bool {
		page, err := c.List(context.Background(), rota.ListParams{Metadata: map[string]string{rota.MetaSchedule: "rt"}})
		must(t, err)
		return len(page.Jobs) >= 2
	})
}

// TestScheduleManyFireTogether fires more due schedules than one store
// transaction writes, with per-schedule policies among them: each gets
// its own outcome, and one whose job cannot be inserted (a full queue) is
// recorded as an error without holding back the others.
func TestScheduleManyFireTogether(t *testing.T) {
	t.Parallel()
	e := newSchedEnv(t, true, rota.Options{})
	defer close(e.block)
	ctx := context.Background()
	const plain = 300 // more than one transaction's fires
	for i := range plain {
		create(t, e.c, rota.ScheduleParams{Key: fmt.Sprintf("p%03d", i), Kind: "tick", Spec: "every 1 minute"})
	}
	create(t, e.c, rota.ScheduleParams{Key: "skip", Kind: "tick", Spec: "every 1 minute", Overlap: rota.OverlapSkip})
	create(t, e.c, rota.ScheduleParams{Key: "cond", Kind: "tick", Spec: "every 1 minute",
		Condition: "signal 'never' >= 1 within 1h"})
	_, err := e.c.UpdateQueue(ctx, "small", rota.QueueUpdate{MaxSize: ptr(1)})
	must(t, err)
	_, err = e.c.Enqueue(ctx, "tick", nil, rota.Queue("small"))
	must(t, err)
	create(t, e.c, rota.ScheduleParams{Key: "full", Kind: "tick", Spec: "every 1 minute", Queue: "small"})

	keys := []string{"skip", "cond", "full"}
	for i := range plain {
		keys = append(keys, fmt.Sprintf("p%03d", i))
	}
	for m := 1; m <= 2; m++ {
		to := t0.Add(time.Duration(m) * time.Minute)
		e.clock.set(to)
		waitFor(t, fmt.Sprintf("every schedule handled minute %d", m), func() bool {
			e.c.KickSchedules()
			page, err := e.c.ListSchedules(ctx, rota.ScheduleListParams{Limit: 1000})
			must(t, err)
			for _, s := range page.Schedules {
				if !s.NextFire.After(to) {
					return false
				}
			}
			return len(page.Schedules) == len(keys)
		})
	}
	for _, key := range keys {
		s, err := e.c.GetSchedule(ctx, key)
		must(t, err)
		want, jobs := store.FireOutcomeFired, 2
		switch key {
		case "skip":
			want, jobs = store.FireOutcomeSkipOverlap, 1
		case "cond":
			want, jobs = store.FireOutcomeSkipCondition, 0
		case "full":
			want, jobs = store.FireOutcomeError, 0
		}
		if !strings.HasPrefix(s.LastOutcome, want) || !s.LastFire.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("%s: last fire %v, outcome %q; want %v, %q", key, s.LastFire, s.LastOutcome, t0.Add(2*time.Minute), want)
		}
		if got := e.fireTimes(t, key); len(got) != jobs || (jobs == 2 && !slices.Equal(got, minutes(1, 2))) {
			t.Errorf("%s: fire times %v, want %d", key, got, jobs)
		}
	}
}

// jobsOf returns the jobs of schedule key, by id.
func (e *schedEnv) jobsOf(t *testing.T, key string) []*rota.Job {
	t.Helper()
	page, err := e.c.List(context.Background(), rota.ListParams{Metadata: map[string]string{rota.MetaSchedule: key}, Limit: 1000})
	must(t, err)
	return page.Jobs
}

// waitAhead kicks the firing loop until schedule key has one job, written
// ahead for fire time ft: scheduled to run at ft, with args.
func (e *schedEnv) waitAhead(t *testing.T, key string, ft time.Time, args string) *rota.Job {
	t.Helper()
	var j *rota.Job
	waitFor(t, "the fire of "+key+" at "+ft.String()+" written ahead with args "+args, func() bool {
		e.c.KickSchedules()
		js := e.jobsOf(t, key)
		if len(js) != 1 || string(js[0].Args) != args {
			return false
		}
		j = js[0]
		return true
	})
	if j.State != rota.StateScheduled || !j.RunAt.Equal(ft) || j.Key != store.FireJobKey(key, ft) {
		t.Errorf("job written ahead: state %s run_at %v key %q; want scheduled at %v", j.State, j.RunAt, j.Key, ft)
	}
	return j
}

func TestScheduleLookahead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ft := t0.Add(time.Minute)
	early := ft.Add(-500 * time.Millisecond)

	t.Run("written ahead, taken back by update, disable and delete", func(t *testing.T) {
		t.Parallel()
		e := newSchedEnv(t, false, rota.Options{}) // the default lookahead, 1.5s
		p := rota.ScheduleParams{Key: "a", Kind: "tick", Spec: "every 1 minute", Args: []byte(`{"v":1}`)}
		create(t, e.c, p)
		create(t, e.c, rota.ScheduleParams{Key: "del", Kind: "tick", Spec: "every 1 minute"})
		// Fires that depend on the moment are not written ahead.
		create(t, e.c, rota.ScheduleParams{Key: "skip", Kind: "tick", Spec: "every 1 minute", Overlap: rota.OverlapSkip})
		create(t, e.c, rota.ScheduleParams{Key: "cond", Kind: "tick", Spec: "every 1 minute", Condition: "signal 'x' >= 1 within 1h"})
		e.clock.set(early)
		first := e.waitAhead(t, "a", ft, `{"v":1}`)
		e.waitAhead(t, "del", ft, `{}`)
		s, err := e.c.GetSchedule(ctx, "a")
		must(t, err)
		if !s.NextFire.Equal(ft.Add(time.Minute)) || !s.LastFire.Equal(ft) || s.LastJobID != first.ID {
			t.Errorf("schedule after its fire was written ahead: next %v last %v job %d", s.NextFire, s.LastFire, s.LastJobID)
		}
		for _, key := range []string{"skip", "cond"} {
			s, err := e.c.GetSchedule(ctx, key)
			must(t, err)
			if js := e.jobsOf(t, key); len(js) != 0 || !s.NextFire.Equal(ft) {
				t.Errorf("%s (not written ahead): %d jobs, next fire %v; want none and %v", key, len(js), s.NextFire, ft)
			}
		}

		// Re-declaring it unchanged keeps the job written ahead.
		if _, err := e.c.UpdateSchedule(ctx, p); err != nil {
			t.Fatal(err)
		}
		if js := e.jobsOf(t, "a"); len(js) != 1 || js[0].ID != first.ID {
			t.Errorf("after an update that changed nothing: jobs %v, want job %d kept", js, first.ID)
		}

		// An update before the fire time takes the job back; the fire is
		// written again from the new schedule.
		p.Args = []byte(`{"v":2}`)
		if _, err := e.c.UpdateSchedule(ctx, p); err != nil {
			t.Fatal(err)
		}
		second := e.waitAhead(t, "a", ft, `{"v":2}`)
		if _, err := e.c.Get(ctx, first.ID); !errors.Is(err, rota.ErrNotFound) {
			t.Errorf("the job written ahead before the update: %v, want ErrNotFound", err)
		}

		// A disable or a delete before the fire time takes it back for good.
		if _, err := e.c.DisableSchedule(ctx, "a", ""); err != nil {
			t.Fatal(err)
		}
		must(t, e.c.DeleteSchedule(ctx, "del"))
		for _, key := range []string{"a", "del"} {
			if js := e.jobsOf(t, key); len(js) != 0 {
				t.Errorf("%s: %d jobs after it was disabled or deleted before its fire time, want none", key, len(js))
			}
		}
		if _, err := e.c.Get(ctx, second.ID); !errors.Is(err, rota.ErrNotFound) {
			t.Errorf("the job written ahead before the disable: %v, want ErrNotFound", err)
		}
		if s, err := e.c.GetSchedule(ctx, "a"); err != nil || s.LastOutcome != store.FireOutcomeTakenBack || s.LastJobID != 0 {
			t.Errorf("disabled before its fire time: %+v, %v; want outcome %q and no last job", s, err, store.FireOutcomeTakenBack)
		}
		// The fires of the others come at their time, once.
		for _, key := range []string{"skip", "cond"} {
			s := e.advance(t, key, ft)
			if !s.LastFire.Equal(ft) {
				t.Errorf("%s: last fire %v, want %v", key, s.LastFire, ft)
			}
		}
		if got := e.fireTimes(t, "skip"); !slices.Equal(got, minutes(1)) {
			t.Errorf("skip fired %v, want %v", got, minutes(1))
		}
		if js := e.jobsOf(t, "a"); len(js) != 0 {
			t.Errorf("disabled schedule a has %d jobs after its fire time, want none", len(js))
		}
	})

	t.Run("off", func(t *testing.T) {
		t.Parallel()
		e := newSchedEnv(t, false, rota.Options{ScheduleLookahead: -1})
		create(t, e.c, rota.ScheduleParams{Key: "a", Kind: "tick", Spec: "every 1 minute"})
		// A schedule due now is the barrier: once its fire is written, the
		// loop has looked at a in the same pass.
		create(t, e.c, rota.ScheduleParams{Key: "now", Kind: "tick", Spec: "once at " + ft.Add(-time.Second).Format(time.RFC3339)})
		e.clock.set(early)
		waitFor(t, "the fire due now", func() bool {
			e.c.KickSchedules()
			return len(e.jobsOf(t, "now")) == 1
		})
		if js := e.jobsOf(t, "a"); len(js) != 0 {
			t.Errorf("with the lookahead off, %d jobs before the fire time, want none", len(js))
		}
		e.advance(t, "a", ft)
		if got := e.fireTimes(t, "a"); !slices.Equal(got, minutes(1)) {
			t.Errorf("fired %v, want %v", got, minutes(1))
		}
	})
}

// TestScheduleLookaheadRealClock: on the wall clock, with no kick, the
// loop wakes a lookahead before a fire time and writes the fire's job
// then, before its time; the job runs at its time, once.
func TestScheduleLookaheadRealClock(t *testing.T) {
	t.Parallel()
	const lookahead = 5 * time.Second // a wide margin: the write is checked to come before the fire time
	ran := make(chan time.Time, 10)
	c := setup(t, rota.Options{ScheduleLookahead: lookahead}, func(c *rota.Client) {
		must(t, c.Register("tick", rota.WorkFunc(func(context.Context, *rota.Job) error {
			ran <- time.Now()
			return nil
		})))
	})
	waitFor(t, "leadership", c.IsLeader)
	ft := time.Now().Add(lookahead + 2*time.Second).Truncate(time.Second)
	create(t, c, rota.ScheduleParams{Key: "rt", Kind: "tick", Spec: "once at " + ft.Format(time.RFC3339)})
	var j *rota.Job
	waitFor(t, "the fire written ahead", func() bool {
		page, err := c.List(context.Background(), rota.ListParams{Metadata: map[string]string{rota.MetaSchedule: "rt"}})
		must(t, err)
		if len(page.Jobs) == 0 {
			return false
		}
		j = page.Jobs[0]
		return true
	})
	if !j.CreatedAt.Before(ft) || !j.RunAt.Equal(ft) {
		t.Errorf("job created %v, run_at %v; want created before the fire time %v and run_at it", j.CreatedAt, j.RunAt, ft)
	}
	select {
	case at := <-ran:
		if at.Before(ft) {
			t.Errorf("the job ran at %v, before its fire time %v", at, ft)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the fire's job did not run")
	}
}

// TestScheduleLookaheadOnceAndJitter: a one-off's fire written ahead is
// taken back by an update (its next fire comes back from never) and
// written again; a jittered fire written ahead runs at its jittered time.
func TestScheduleLookaheadOnceAndJitter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSchedEnv(t, false, rota.Options{})
	ft := t0.Add(time.Minute)
	p := rota.ScheduleParams{Key: "once", Kind: "tick", Spec: "once at " + ft.Format(time.RFC3339), Args: []byte(`{"v":1}`)}
	create(t, e.c, p)
	create(t, e.c, rota.ScheduleParams{Key: "jit", Kind: "tick", Spec: "every 1 minute", Jitter: 30 * time.Second})
	e.clock.set(ft.Add(-time.Second))
	first := e.waitAhead(t, "once", ft, `{"v":1}`)
	s, err := e.c.GetSchedule(ctx, "once")
	must(t, err)
	if !s.NextFire.IsZero() {
		t.Errorf("one-off written ahead: next fire %v, want never", s.NextFire)
	}
	p.Args = []byte(`{"v":2}`)
	if _, err := e.c.UpdateSchedule(ctx, p); err != nil {
		t.Fatal(err)
	}
	second := e.waitAhead(t, "once", ft, `{"v":2}`)
	if second.ID == first.ID {
		t.Errorf("the one-off's fire was not written again after the update")
	}
	var jit *rota.Job
	waitFor(t, "the jittered fire written ahead", func() bool {
		e.c.KickSchedules()
		js := e.jobsOf(t, "jit")
		if len(js) != 1 {
			return false
		}
		jit = js[0]
		return true
	})
	if d := jit.RunAt.Sub(ft); jit.State != rota.StateScheduled || d < 0 || d >= 30*time.Second {
		t.Errorf("jittered fire: state %s run_at %v (%v after the fire time), want scheduled within [0, 30s)", jit.State,
			jit.RunAt, d)
	}
}

// TestScheduleRemoteKindServed: a kind that only remote workers run (they
// take it with Lease, through this node) is served: the node registry
// shows it, and its schedule fires rather than being disabled as gone.
// Once no worker has asked for it for RemoteKindTTL, it is gone again.
func TestScheduleRemoteKindServed(t *testing.T) {
	t.Parallel()
	e := newSchedEnv(t, false, rota.Options{})
	ctx := context.Background()
	lease := func() []rota.Lease {
		t.Helper()
		ls, err := e.c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.only"}, Max: 10})
		must(t, err)
		return ls
	}
	if ls := lease(); len(ls) != 0 {
		t.Fatalf("leased %d jobs of an empty queue", len(ls))
	}
	// A popper that finds nothing serves its kinds as well.
	if _, err := e.c.Pop(ctx, "", rota.PopFilter{Kinds: []string{"pop.only"}}); !errors.Is(err, rota.ErrNotFound) {
		t.Fatalf("pop of an empty queue: %v", err)
	}
	waitFor(t, "the node registry showing remote.only", func() bool {
		ns, err := e.c.Nodes(ctx)
		must(t, err)
		return len(ns) == 1 && slices.Contains(ns[0].Kinds, "remote.only") && slices.Contains(ns[0].Kinds, "pop.only") &&
			slices.Contains(ns[0].Kinds, "tick")
	})
	create(t, e.c, rota.ScheduleParams{Key: "r", Kind: "remote.only", Spec: "every 1 minute"})
	s := e.advance(t, "r", t0.Add(time.Minute))
	if !s.Enabled || s.LastOutcome != store.FireOutcomeFired {
		t.Fatalf("schedule %+v, want enabled and fired", s)
	}
	ls := lease()
	if len(ls) != 1 || ls[0].Job.Metadata[rota.MetaFireTime] != "2030-01-07T10:01:00Z" {
		t.Fatalf("leased %+v, want the fire's job", ls)
	}
	if _, err := e.c.CompleteLease(ctx, ls[0].Token, nil); err != nil {
		t.Fatal(err)
	}

	// No worker asks for it for longer than RemoteKindTTL: a schedule of
	// it created then is disabled at its first fire.
	e.clock.set(t0.Add(time.Minute + rota.RemoteKindTTL + time.Second))
	if _, err := e.c.DisableSchedule(ctx, "r", "done with it"); err != nil {
		t.Fatal(err)
	}
	late := e.clock.Now()
	create(t, e.c, rota.ScheduleParams{Key: "r2", Kind: "remote.only", Spec: "every 1 minute"})
	s = e.advance(t, "r2", late.Add(time.Minute))
	if s.Enabled || !strings.Contains(s.DisabledReason, `kind "remote.only" is served by no live node`) {
		t.Errorf("schedule %+v, want disabled: no worker asked for its kind for %s", s, rota.RemoteKindTTL)
	}
}

// TestScheduleRemoteKindAfterRestart: a node that restarts still serves
// the kinds remote workers took through it before, for the rest of their
// RemoteKindTTL: a schedule of such a kind due at the restart fires rather
// than being disabled as gone before a worker asks again.
func TestScheduleRemoteKindAfterRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{now: t0}
	path := filepath.Join(t.TempDir(), "rota.db")
	first := newClient(t, openStoreAt(t, path), rota.Options{Clock: clock, NodeID: "n1"})
	must(t, first.Start(ctx))
	waitFor(t, "leadership", first.IsLeader)
	if _, err := first.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.only"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the registry showing remote.only", func() bool {
		ns, err := first.Nodes(ctx)
		must(t, err)
		return len(ns) == 1 && slices.Contains(ns[0].Kinds, "remote.only")
	})
	create(t, first, rota.ScheduleParams{Key: "r", Kind: "remote.only", Spec: "every 1 minute"})
	must(t, first.Stop(ctx))

	clock.set(t0.Add(time.Minute + 10*time.Second)) // the fire at t0+1m is due at the restart
	second := newClient(t, openStoreAt(t, path), rota.Options{Clock: clock, NodeID: "n1"})
	start(t, second)
	waitFor(t, "the restarted node to lead", second.IsLeader)
	var s *rota.Schedule
	waitFor(t, "the due fire", func() bool {
		second.KickSchedules()
		var err error
		s, err = second.GetSchedule(ctx, "r")
		must(t, err)
		return !s.LastFire.IsZero() || !s.Enabled
	})
	if !s.Enabled || s.LastOutcome != store.FireOutcomeFired {
		t.Errorf("schedule after the restart: %+v, want enabled and fired", s)
	}
}
