package rota

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rotahq/rota/schedule"
	"github.com/rotahq/rota/store"
)

// Firing loop tuning.
const (
	// fireBatch is how many due schedules one query returns.
	fireBatch = 500
	// fireParallel is how many schedules of a batch fire at once (their
	// transactions share commits on SQLite and connections on PostgreSQL).
	fireParallel = 128
	// fireRecheck bounds the loop's sleep: a safety net for changes whose
	// notice was lost. Notices and the earliest next fire wake it sooner.
	fireRecheck = time.Minute
	// pendingRecheck is how often held queue_one fires are checked while
	// some exist.
	pendingRecheck = time.Second
	// nodesTTL is how long the node registry read for gone kinds is reused.
	nodesTTL = 5 * time.Second
)

// Metadata keys set on the jobs of schedule fires.
const (
	MetaSchedule = "rota.schedule"
	MetaFireTime = "rota.fire_time"
)

// firing is the leader's schedule firing loop. It sleeps until the
// earliest next fire of the enabled schedules (one indexed query), or
// until a NoticeScheduleChanged (a schedule created, changed or deleted,
// by any node) or NoticeChanged wakes it; it then fires the due
// schedules in batches. It keeps no goroutine or timer per schedule.
type firing struct {
	n    *node
	kick chan struct{}

	mu       sync.Mutex
	nodes    []store.Node
	nodesAt  time.Time
	pendings bool // a queue_one fire may be held
	periodic bool // the worker configuration changed: sync periodic schedules
}

func newFiring(n *node) *firing {
	return &firing{n: n, kick: make(chan struct{}, 1), pendings: true}
}

// wake makes the loop look at the store now.
func (f *firing) wake() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// loop runs while this node leads.
func (f *firing) loop(ctx context.Context) {
	f.mu.Lock()
	f.pendings = true // a new term checks the held fires once
	f.periodic = true // and syncs the periodic workers' schedules
	f.mu.Unlock()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-f.kick:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		f.mu.Lock()
		sync := f.periodic
		f.periodic = false
		f.mu.Unlock()
		if sync {
			f.syncPeriodic(ctx)
		}
		next := f.runDue(ctx)
		if ctx.Err() != nil {
			return
		}
		d := fireRecheck
		if !next.IsZero() {
			d = min(d, max(next.Sub(f.n.c.now()), 0))
		}
		f.mu.Lock()
		if f.pendings {
			d = min(d, pendingRecheck)
		}
		f.mu.Unlock()
		timer.Reset(d)
	}
}

// runDue fires every due schedule and returns the earliest next fire.
func (f *firing) runDue(ctx context.Context) time.Time {
	f.settlePending(ctx)
	for {
		now := f.n.c.now()
		due, next, err := f.n.store.DueSchedules(ctx, now, fireBatch)
		if err != nil {
			if ctx.Err() == nil {
				f.n.log.Error("rota: due schedules", "err", err)
			}
			return now.Add(pendingRecheck) // try again soon
		}
		sem := make(chan struct{}, fireParallel)
		var wg sync.WaitGroup
		for _, s := range due {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				f.fireDue(ctx, s, now)
			})
		}
		wg.Wait()
		// The fired schedules moved on: their new next fires count too. One
		// that did not move (the store failed, or another fire won) is
		// looked at again after pendingRecheck.
		for _, s := range due {
			t := s.NextFire
			switch {
			case !s.Enabled || t.IsZero():
				continue
			case !t.After(now):
				t = now.Add(pendingRecheck)
			}
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
		if len(due) < fireBatch || ctx.Err() != nil {
			return next
		}
	}
}

// fireDue handles every fire time of s up to now, with its misfire policy.
func (f *firing) fireDue(ctx context.Context, s *store.Schedule, now time.Time) {
	log := f.n.log.With("schedule", s.Key, "kind", s.Kind)
	defer func() {
		if r := recover(); r != nil { // never crash the loop
			log.Error("rota: schedule fire panicked", "panic", fmt.Sprint(r))
		}
	}()
	sp, err := parseStored(s)
	if err != nil {
		f.record(ctx, s, store.FireParams{Expected: s.NextFire, Next: s.NextFire, FireTime: s.LastFire,
			Outcome: s.LastOutcome, Disable: "bad spec: " + err.Error()}, log)
		return
	}
	if !f.kindServed(ctx, s.Kind) {
		reason := fmt.Sprintf("kind %q is served by no live node", s.Kind)
		log.Warn("rota: schedule disabled", "reason", reason)
		f.record(ctx, s, store.FireParams{Expected: s.NextFire, Next: s.NextFire, FireTime: s.LastFire,
			Outcome: s.LastOutcome, Disable: reason}, log)
		return
	}
	next := func(t time.Time) time.Time {
		n, ok := sp.Next(t)
		if !ok {
			return time.Time{}
		}
		return n.UTC()
	}
	grace := s.MisfireGrace
	if grace <= 0 {
		grace = DefaultMisfireGrace
	}
	cur := s.NextFire
	if missedEnd := now.Add(-grace); cur.Before(missedEnd) {
		// Fire times before missedEnd were missed.
		resume := next(missedEnd.Add(-time.Second)) // the first fire time >= missedEnd
		switch s.Misfire {
		case store.MisfireSkip:
			if !f.record(ctx, s, store.FireParams{Expected: cur, Next: resume, FireTime: cur,
				Outcome: store.FireOutcomeMisfired + ": skipped"}, log) {
				return
			}
			log.Warn("rota: schedule misfired: missed fires skipped", "from", cur, "resume", resume)
		case store.MisfireAll:
			cap := max(s.MisfireCap, 1)
			for i := 0; !cur.IsZero() && cur.Before(missedEnd); i++ {
				if i == cap {
					if !f.record(ctx, s, store.FireParams{Expected: cur, Next: resume, FireTime: cur,
						Outcome: store.FireOutcomeMisfired + ": cap reached, rest skipped"}, log) {
						return
					}
					log.Warn("rota: schedule misfired: catch-up cap reached", "cap", cap, "resume", resume)
					break
				}
				if !f.fireOne(ctx, s, cur, next(cur), "", log) {
					return
				}
				cur = s.NextFire
			}
		default: // once
			if !f.fireOne(ctx, s, cur, resume, store.FireOutcomeMisfired+": fired once; ", log) {
				return
			}
		}
		cur = s.NextFire
	}
	for !cur.IsZero() && !cur.After(now) && ctx.Err() == nil {
		if !f.fireOne(ctx, s, cur, next(cur), "", log) {
			return
		}
		cur = s.NextFire
	}
}

// parseStored parses a stored schedule's spec.
func parseStored(s *store.Schedule) (*schedule.Schedule, error) {
	loc, err := loadZone(s.Zone)
	if err != nil {
		return nil, err
	}
	return schedule.Parse(s.Spec, s.CreatedAt, loc)
}

// record applies a fire without a job; it reports whether it applied,
// and moves s along when it did.
func (f *firing) record(ctx context.Context, s *store.Schedule, p store.FireParams, log interface {
	Error(string, ...any)
}) bool {
	p.Key, p.Now = s.Key, f.n.c.now()
	res, err := f.n.store.FireSchedule(ctx, p)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("rota: record schedule fire", "err", err)
		}
		return false
	}
	if res.Applied {
		s.NextFire, s.LastFire, s.LastOutcome = p.Next, p.FireTime, p.Outcome
		if p.Disable != "" {
			s.Enabled, s.DisabledReason = false, p.Disable
		}
	}
	return res.Applied
}

// fireOne handles fire time ft of s: overlap, condition, then the job and
// the move to next, in one store transaction. It reports whether the
// schedule moved on (false: another fire won, or the store failed).
func (f *firing) fireOne(ctx context.Context, s *store.Schedule, ft, next time.Time,
	prefix string, log interface {
		Error(string, ...any)
		Info(string, ...any)
	}) bool {
	p := store.FireParams{Key: s.Key, Expected: s.NextFire, Next: next, FireTime: ft}
	hold := false
	if s.Overlap == store.OverlapSkip || s.Overlap == store.OverlapQueueOne {
		busy, err := f.unfinished(ctx, s.LastJobID)
		if err != nil {
			log.Error("rota: schedule overlap check", "err", err)
			return false
		}
		switch {
		case s.Overlap == store.OverlapQueueOne && s.PendingJobID != 0:
			p.Outcome = prefix + store.FireOutcomeSkipOverlap
		case busy && s.Overlap == store.OverlapSkip:
			p.Outcome = prefix + store.FireOutcomeSkipOverlap
		case busy:
			hold = true
		}
		if p.Outcome != "" {
			log.Info("rota: schedule fire skipped: the previous fire's job is unfinished", "fire_time", ft,
				"job", s.LastJobID)
			return f.record(ctx, s, p, log)
		}
	}
	if ok, why := f.conditionHolds(ctx, s, ft); !ok {
		p.Outcome = prefix + store.FireOutcomeSkipCondition + why
		log.Info("rota: schedule fire skipped: condition false", "fire_time", ft, "condition", s.Condition, "why", why)
		return f.record(ctx, s, p, log)
	}
	ko := f.n.c.reg.options(s.Kind)
	job := store.InsertParams{
		Kind: s.Kind, Queue: s.Queue, Args: s.Args, Priority: s.Priority, Hold: hold,
		Key: store.FireJobKey(s.Key, ft), OnConflict: store.OnConflictReturn,
		Metadata:    fireMetadata(s, ft),
		MaxAttempts: orDefault(ko.MaxAttempts, DefaultMaxAttempts),
	}
	if s.Jitter > 0 {
		job.RunAt = ft.Add(jitterOf(s.Key, ft, s.Jitter)).Truncate(time.Microsecond)
	}
	if len(job.Args) == 0 {
		job.Args = []byte(`{}`)
	}
	p.Job = &job
	p.Outcome = prefix + store.FireOutcomeFired
	if hold {
		p.Outcome = prefix + store.FireOutcomeHeld
	}
	p.Now = f.n.c.now()
	f.n.c.events.gate.RLock()
	res, err := f.n.store.FireSchedule(ctx, p)
	if err == nil && res.Applied && res.Job != nil {
		f.n.c.events.transitions([]store.Transition{{Job: res.Job}}, p.Now)
	}
	f.n.c.events.gate.RUnlock()
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		// The job could not be inserted (a full queue...): the fire is
		// recorded as an error and the schedule moves on.
		log.Error("rota: schedule fire failed", "fire_time", ft, "err", err)
		p.Job = nil
		p.Outcome = prefix + store.FireOutcomeError + ": " + err.Error()
		return f.record(ctx, s, p, log)
	}
	if !res.Applied {
		return false
	}
	s.NextFire, s.LastFire, s.LastOutcome = next, ft, p.Outcome
	if hold {
		s.PendingJobID = res.Job.ID
		f.mu.Lock()
		f.pendings = true
		f.mu.Unlock()
	} else if res.Job != nil {
		s.LastJobID = res.Job.ID
	}
	return true
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// fireMetadata is the schedule's metadata plus the fire's.
func fireMetadata(s *store.Schedule, ft time.Time) map[string]string {
	md := make(map[string]string, len(s.Metadata)+2)
	for k, v := range s.Metadata {
		md[k] = v
	}
	md[MetaSchedule] = s.Key
	md[MetaFireTime] = ft.UTC().Format(time.RFC3339)
	return md
}

// jitterOf is the delay of the fire of key at ft: a hash of both modulo
// max, so that every node computes the same one.
func jitterOf(key string, ft time.Time, maxJitter time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte(strconv.FormatInt(ft.Unix(), 10)))
	return time.Duration(h.Sum64() % uint64(maxJitter))
}

// unfinished reports whether job id exists and is not final.
func (f *firing) unfinished(ctx context.Context, id int64) (bool, error) {
	if id == 0 {
		return false, nil
	}
	j, err := f.n.store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !j.State.Final(), nil
}

// conditionHolds evaluates s's condition at ft; why explains a false one.
func (f *firing) conditionHolds(ctx context.Context, s *store.Schedule, ft time.Time) (ok bool, why string) {
	c, err := parseCondition(s.Condition)
	if err != nil {
		return false, ": " + err.Error()
	}
	if c == nil {
		return true, ""
	}
	if c.fn != "" {
		fn := f.n.c.conditionFunc(c.fn)
		if fn == nil {
			return false, fmt.Sprintf(": condition func %q is not registered on the leader", c.fn)
		}
		ok, err := fn(ctx, s, ft)
		if err != nil {
			return false, ": " + err.Error()
		}
		return ok, ""
	}
	now := f.n.c.now()
	// Buckets that start within the window (a bucket's start is its
	// events' time, rounded down).
	n, err := f.n.store.SignalCount(ctx, c.signal, now.Add(-c.within), now.Add(store.SignalBucket))
	if err != nil {
		return false, ": " + err.Error()
	}
	if !c.holds(n) {
		return false, fmt.Sprintf(" (signal %q counted %d)", c.signal, n)
	}
	return true, ""
}

// kindServed reports whether a worker for kind is registered here or on
// a live node of the node registry.
func (f *firing) kindServed(ctx context.Context, kind string) bool {
	if slices.Contains(f.n.c.reg.kinds(), kind) {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.n.c.now()
	if f.nodes == nil || now.Sub(f.nodesAt) > nodesTTL || now.Before(f.nodesAt) {
		ns, err := f.n.store.Nodes(ctx)
		if err != nil {
			return true // cannot tell: fire, and let the job wait for a worker
		}
		f.nodes, f.nodesAt = ns, now
	}
	for _, n := range f.nodes {
		if NodeStateAt(n, now) == NodeAlive && slices.Contains(n.Kinds, kind) {
			return true
		}
	}
	return false
}

// settlePending releases the held queue_one jobs whose previous job is final.
func (f *firing) settlePending(ctx context.Context) {
	f.mu.Lock()
	check := f.pendings
	f.mu.Unlock()
	if !check {
		return
	}
	found := false
	after := ""
	for {
		page, err := f.n.store.ListSchedules(ctx, store.ScheduleListParams{Pending: true, AfterKey: after, Limit: store.MaxListLimit})
		if err != nil {
			if ctx.Err() == nil {
				f.n.log.Error("rota: held schedule fires", "err", err)
			}
			return
		}
		for _, s := range page.Schedules {
			found = true
			busy, err := f.unfinished(ctx, s.LastJobID)
			if err != nil || busy {
				continue
			}
			now := f.n.c.now()
			if _, err := f.n.store.Release(ctx, s.PendingJobID, now); err != nil &&
				!errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
				f.n.log.Error("rota: release held schedule fire", "schedule", s.Key, "err", err)
				continue
			}
			if err := f.n.store.SettlePending(ctx, s.Key, s.PendingJobID, now); err != nil {
				f.n.log.Error("rota: settle held schedule fire", "schedule", s.Key, "err", err)
			}
		}
		if page.NextAfterKey == "" {
			break
		}
		after = page.NextAfterKey
	}
	f.mu.Lock()
	f.pendings = found
	f.mu.Unlock()
}

// PeriodicKey is the key of the schedule of a periodic worker's kind.
func PeriodicKey(kind string) string { return "periodic:" + kind }

// periodicChanged tells the loop that the worker configuration changed.
func (f *firing) periodicChanged() {
	f.mu.Lock()
	f.periodic = true
	f.mu.Unlock()
	f.wake()
}

// syncPeriodic makes the stored schedules of periodic workers follow the
// leader's worker configuration: a kind whose configuration has an
// interval gets (or keeps) the schedule PeriodicKey(kind) with that spec
// (overlap skip, misfire once, UTC); a kind without one loses it. The
// leader's configuration is the authority, so that nodes with different
// files do not undo each other's changes.
func (f *firing) syncPeriodic(ctx context.Context) {
	c := f.n.c
	for _, kind := range c.reg.kinds() {
		key := PeriodicKey(kind)
		log := f.n.log.With("schedule", key, "kind", kind)
		cur, err := f.n.store.GetSchedule(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Error("rota: periodic worker schedule", "err", err)
			continue
		}
		kc, ok := c.reg.config(kind)
		if !ok || kc.Interval == nil {
			if cur != nil {
				if err := f.n.store.DeleteSchedule(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
					log.Error("rota: delete periodic worker schedule", "err", err)
				} else {
					log.Info("rota: kind is no longer periodic: its schedule is deleted")
				}
			}
			continue
		}
		p := ScheduleParams{Key: key, Kind: kind, Spec: *kc.Interval, Overlap: OverlapSkip, Misfire: MisfireOnce}
		if kc.Queue != nil {
			p.Queue = *kc.Queue
		}
		if kc.Priority != nil {
			p.Priority = kc.Priority
		}
		s, err := p.toStore(c.now())
		if err != nil {
			log.Error("rota: periodic worker interval rejected", "interval", *kc.Interval, "err", err)
			continue
		}
		if cur != nil && cur.Enabled && cur.Spec == s.Spec && cur.Queue == s.Queue && cur.Priority == s.Priority {
			continue
		}
		if _, err := c.upsertSchedule(ctx, s); err != nil {
			log.Error("rota: periodic worker schedule", "err", err)
			continue
		}
		log.Info("rota: periodic worker scheduled", "interval", s.Spec, "next_fire", s.NextFire)
	}
}
