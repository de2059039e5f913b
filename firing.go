package rota

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rotahq/rota/schedule"
	"github.com/rotahq/rota/store"
)

// Firing loop tuning.
const (
	// fireBatch is how many due schedules one query returns. The query
	// reads only due schedules, and the next batch is read only after this
	// one's fires are written (it has no cursor), so a large batch costs
	// nothing when few are due and saves sequential reads when many are
	// (10,000 schedules due at once are one read).
	fireBatch = 10_000
	// fireChunk is how many fires one store transaction writes
	// (FireSchedules), and fireWrites how many such transactions run at
	// once: a batch's chunks are written together (on SQLite the writer
	// commits them together, or pipelines one commit's fsync with the next
	// transaction; on PostgreSQL they use several connections).
	fireChunk  = 250
	fireWrites = 4
	// fireReads is how many overlap and condition reads run at once.
	fireReads = 16
	// specCacheMax bounds the cache of parsed specs (by schedule key).
	specCacheMax = 100_000
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

	specs map[string]parsedSpec // parsed specs by schedule key; the loop's goroutine only
}

func newFiring(n *node) *firing {
	return &firing{n: n, kick: make(chan struct{}, 1), pendings: true, specs: make(map[string]parsedSpec)}
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
	// The node's first registration counts the remote kinds it served
	// before a restart (presence.register): no schedule is judged gone
	// before it.
	select {
	case <-ctx.Done():
		return
	case <-f.n.presence.first:
	}
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

// lookahead is how long before its fire time the job of a fire may be
// written (zero: off).
func (f *firing) lookahead() time.Duration {
	return max(f.n.c.opts.ScheduleLookahead, 0)
}

// ahead is how long before its fire time the job of s's next fire is
// written: the lookahead for a fire whose decision cannot depend on the
// moment (see readsNothing), else zero.
func (f *firing) ahead(s *store.Schedule) time.Duration {
	if !readsNothing(s) {
		return 0
	}
	return f.lookahead()
}

// readsNothing reports whether a fire of s is decided without reading
// anything (no condition to evaluate, no previous job to look at: overlap
// allow), so that the decision does not depend on the moment it is made.
func readsNothing(s *store.Schedule) bool {
	return s.Condition == "" && s.Overlap != store.OverlapSkip && s.Overlap != store.OverlapQueueOne
}

// runDue fires every due schedule, writing the fires within their
// lookahead ahead, and returns when to look again: the earliest time a
// schedule's next fire (less its lookahead) comes due.
func (f *firing) runDue(ctx context.Context) time.Time {
	f.settlePending(ctx)
	for {
		now := f.n.c.now()
		// Due here: a fire time within the lookahead; plan leaves the
		// schedules whose fires are not written ahead until their time.
		due, next, err := f.n.store.DueSchedules(ctx, now.Add(f.lookahead()), fireBatch)
		if err != nil {
			if ctx.Err() == nil {
				f.n.log.Error("rota: due schedules", "err", err)
			}
			return now.Add(pendingRecheck) // try again soon
		}
		applied := f.fireAll(ctx, due, now)
		switch {
		case next.IsZero():
		case len(due) == fireBatch && applied == 0 && !next.Add(-f.lookahead()).After(now):
			// A full batch of schedules not written ahead, all waiting for
			// their time: the ones after the batch wait behind them (their
			// wake is the batch's, below), else the loop would spin.
			next = time.Time{}
		default:
			next = next.Add(-f.lookahead()) // early for a schedule not written ahead: it is then read and left
		}
		// The fired schedules moved on: their new next fires count too. One
		// due that did not move (the store failed, or another fire won) is
		// looked at again after pendingRecheck.
		for _, s := range due {
			if !s.Enabled || s.NextFire.IsZero() {
				continue
			}
			t := s.NextFire.Add(-f.ahead(s))
			if !t.After(now) {
				t = now.Add(pendingRecheck)
			}
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
		// A full batch is followed by the next one, unless nothing of it
		// applied (its schedules wait for their time, or the store fails).
		if len(due) < fireBatch || applied == 0 || ctx.Err() != nil {
			return next
		}
	}
}

// dueFire is a due schedule during one pass of fireAll, and the fire
// being decided for it in the current round.
type dueFire struct {
	s      *store.Schedule // moved along as its fires apply
	sp     *schedule.Schedule
	log    *slog.Logger
	caught int // MisfireAll catch-up fires of this pass

	p      store.FireParams // the fire; an empty Key leaves the round
	ft     time.Time
	prefix string
	// decide: the fire still needs its overlap and condition decision and
	// its job; otherwise p is complete (a fire without a job).
	decide bool
	hold   bool
	failed bool   // a fire whose job failed, to record as an error
	after  func() // logs once p applied
}

// logger returns the schedule's logger.
func (d *dueFire) logger(f *firing) *slog.Logger {
	if d.log == nil {
		d.log = f.n.log.With("schedule", d.s.Key, "kind", d.s.Kind)
	}
	return d.log
}

// next returns the fire time after t, zero if none.
func (d *dueFire) next(t time.Time) time.Time {
	n, ok := d.sp.Next(t)
	if !ok {
		return time.Time{}
	}
	return n.UTC()
}

// fire makes d's fire the one of fire time ft, moving to next.
func (d *dueFire) fire(ft, next time.Time, prefix string) {
	d.p = store.FireParams{Key: d.s.Key, Expected: d.s.NextFire, Next: next, FireTime: ft}
	d.ft, d.prefix, d.decide = ft, prefix, true
}

// fireAll handles every fire time up to now of the due schedules, with
// their misfire, overlap and condition policies. It works in rounds: in
// each, every schedule with a due fire time gets the decision of its
// earliest one (the reads that needs, overlap and conditions, run
// concurrently), and the decided fires are written together, fireChunk
// fires per store transaction (FireSchedules), fireWrites transactions at
// once. A schedule whose fire did not apply (another fire won, or the
// store failed) leaves the pass.
func (f *firing) fireAll(ctx context.Context, due []*store.Schedule, now time.Time) (applied int) {
	active := make([]*dueFire, 0, len(due))
	for _, s := range due {
		active = append(active, &dueFire{s: s})
	}
	round := make([]*dueFire, 0, len(active))
	for len(active) > 0 && ctx.Err() == nil {
		round = round[:0]
		for _, d := range active {
			if f.safePlan(ctx, d, now) {
				round = append(round, d)
			}
		}
		f.decideAll(ctx, round, now)
		active = f.writeAll(ctx, round)
		applied += len(active)
	}
	return applied
}

// safePlan is plan that never crashes the loop: a panic leaves d out.
func (f *firing) safePlan(ctx context.Context, d *dueFire, now time.Time) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			d.logger(f).Error("rota: schedule fire panicked", "panic", fmt.Sprint(r))
			ok = false
		}
	}()
	return f.plan(ctx, d, now)
}

// plan sets d's next fire (d.p, or a fire to decide) if d has one due at
// now, or within its lookahead (see ahead), and reports whether it has.
func (f *firing) plan(ctx context.Context, d *dueFire, now time.Time) bool {
	s := d.s
	d.p, d.decide, d.hold, d.failed, d.after, d.prefix = store.FireParams{}, false, false, false, nil, ""
	if !s.Enabled {
		return false
	}
	if d.sp == nil {
		sp, err := f.parsed(s)
		if err != nil {
			d.p = store.FireParams{Key: s.Key, Expected: s.NextFire, Next: s.NextFire, FireTime: s.LastFire,
				Outcome: s.LastOutcome, Disable: "bad spec: " + err.Error()}
			return true
		}
		if !f.kindServed(ctx, s.Kind) {
			reason := fmt.Sprintf("kind %q is served by no live node", s.Kind)
			d.logger(f).Warn("rota: schedule disabled", "reason", reason)
			d.p = store.FireParams{Key: s.Key, Expected: s.NextFire, Next: s.NextFire, FireTime: s.LastFire,
				Outcome: s.LastOutcome, Disable: reason}
			return true
		}
		d.sp = sp
	}
	cur := s.NextFire
	if cur.IsZero() || cur.After(now.Add(f.ahead(s))) {
		return false
	}
	grace := s.MisfireGrace
	if grace <= 0 {
		grace = DefaultMisfireGrace
	}
	missedEnd := now.Add(-grace)
	if !cur.Before(missedEnd) {
		d.fire(cur, d.next(cur), "")
		return true
	}
	// Fire times before missedEnd were missed.
	resume := d.next(missedEnd.Add(-time.Second)) // the first fire time >= missedEnd
	switch s.Misfire {
	case store.MisfireSkip:
		d.p = store.FireParams{Key: s.Key, Expected: cur, Next: resume, FireTime: cur,
			Outcome: store.FireOutcomeMisfired + ": skipped"}
		d.after = func() {
			d.logger(f).Warn("rota: schedule misfired: missed fires skipped", "from", cur, "resume", resume)
		}
	case store.MisfireAll:
		if limit := max(s.MisfireCap, 1); d.caught == limit {
			d.p = store.FireParams{Key: s.Key, Expected: cur, Next: resume, FireTime: cur,
				Outcome: store.FireOutcomeMisfired + ": cap reached, rest skipped"}
			d.after = func() {
				d.logger(f).Warn("rota: schedule misfired: catch-up cap reached", "cap", limit, "resume", resume)
			}
			break
		}
		d.caught++
		d.fire(cur, d.next(cur), "")
	default: // once
		d.fire(cur, resume, store.FireOutcomeMisfired+": fired once; ")
	}
	return true
}

// parsedSpec is a cached parse of a schedule's spec.
type parsedSpec struct {
	spec, zone string
	created    time.Time
	sp         *schedule.Schedule
}

// parsed returns s's parsed spec, from the cache when its spec, zone and
// creation time are the ones parsed before.
func (f *firing) parsed(s *store.Schedule) (*schedule.Schedule, error) {
	if c, ok := f.specs[s.Key]; ok && c.spec == s.Spec && c.zone == s.Zone && c.created.Equal(s.CreatedAt) {
		return c.sp, nil
	}
	sp, err := parseStored(s)
	if err != nil {
		return nil, err
	}
	if len(f.specs) >= specCacheMax {
		clear(f.specs) // deleted schedules' entries go too
	}
	f.specs[s.Key] = parsedSpec{spec: s.Spec, zone: s.Zone, created: s.CreatedAt, sp: sp}
	return sp, nil
}

// decideAll decides the fires of round that need it: overlap and
// condition first (their reads run concurrently, up to fireReads at once),
// then the job.
func (f *firing) decideAll(ctx context.Context, round []*dueFire, now time.Time) {
	sem := make(chan struct{}, fireReads)
	var wg sync.WaitGroup
	for _, d := range round {
		if !d.decide {
			continue
		}
		if readsNothing(d.s) {
			f.decide(ctx, d, now)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer func() {
				if r := recover(); r != nil { // a condition function: never crash the loop
					d.logger(f).Error("rota: schedule fire panicked", "panic", fmt.Sprint(r))
					d.p.Key = ""
				}
			}()
			f.decide(ctx, d, now)
		})
	}
	wg.Wait()
}

// decide makes d's fire a skip (overlap, condition) or a job. A failed
// overlap read takes d out of the round. A fire written ahead of its time
// (after now) has its job scheduled for it.
func (f *firing) decide(ctx context.Context, d *dueFire, now time.Time) {
	s, ft, prefix := d.s, d.ft, d.prefix
	d.decide = false
	if s.Overlap == store.OverlapSkip || s.Overlap == store.OverlapQueueOne {
		busy, err := f.unfinished(ctx, s.LastJobID)
		if err != nil {
			d.logger(f).Error("rota: schedule overlap check", "err", err)
			d.p.Key = ""
			return
		}
		switch {
		case s.Overlap == store.OverlapQueueOne && s.PendingJobID != 0:
			d.p.Outcome = prefix + store.FireOutcomeSkipOverlap
		case busy && s.Overlap == store.OverlapSkip:
			d.p.Outcome = prefix + store.FireOutcomeSkipOverlap
		case busy:
			d.hold = true
		}
		if d.p.Outcome != "" {
			d.logger(f).Info("rota: schedule fire skipped: the previous fire's job is unfinished", "fire_time", ft,
				"job", s.LastJobID)
			return
		}
	}
	if ok, why := f.conditionHolds(ctx, s, ft); !ok {
		d.p.Outcome = prefix + store.FireOutcomeSkipCondition + why
		d.logger(f).Info("rota: schedule fire skipped: condition false", "fire_time", ft, "condition", s.Condition,
			"why", why)
		return
	}
	ko := f.n.c.reg.options(s.Kind)
	job := store.InsertParams{
		Kind: s.Kind, Queue: s.Queue, Args: s.Args, Priority: s.Priority, Hold: d.hold,
		Key: store.FireJobKey(s.Key, ft), OnConflict: store.OnConflictReturn,
		Metadata:    fireMetadata(s, ft),
		MaxAttempts: orDefault(ko.MaxAttempts, DefaultMaxAttempts),
	}
	switch {
	case s.Jitter > 0:
		job.RunAt = ft.Add(jitterOf(s.Key, ft, s.Jitter)).Truncate(time.Microsecond)
	case ft.After(now):
		job.RunAt = ft
	}
	if len(job.Args) == 0 {
		job.Args = []byte(`{}`)
	}
	d.p.Job = &job
	d.p.Outcome = prefix + store.FireOutcomeFired
	if d.hold {
		d.p.Outcome = prefix + store.FireOutcomeHeld
	}
}

// writeAll writes the decided fires of round, fireChunk per store
// transaction and fireWrites transactions at once, then records as errors
// the fires whose job could not be inserted (a full queue...), so that
// their schedules move on. It returns the schedules whose fire applied:
// they may have more fire times due.
func (f *firing) writeAll(ctx context.Context, round []*dueFire) []*dueFire {
	ready := slices.DeleteFunc(round, func(d *dueFire) bool { return d.p.Key == "" })
	applied := make([]bool, len(ready))
	sem := make(chan struct{}, fireWrites)
	var wg sync.WaitGroup
	for lo := 0; lo < len(ready); lo += fireChunk {
		hi := min(lo+fireChunk, len(ready))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f.write(ctx, ready[lo:hi], applied[lo:hi])
		})
	}
	wg.Wait()
	var failed []*dueFire
	var at []int
	for i, d := range ready {
		if d.failed {
			failed, at = append(failed, d), append(at, i)
		}
	}
	if len(failed) > 0 && ctx.Err() == nil {
		ok := make([]bool, len(failed))
		f.write(ctx, failed, ok)
		for k, i := range at {
			applied[i] = ok[k]
		}
	}
	next := make([]*dueFire, 0, len(ready))
	for i, d := range ready {
		if applied[i] {
			next = append(next, d)
		}
	}
	return next
}

// write writes the fires ds in one store transaction and applies their
// results to their schedules, setting applied. When the transaction
// fails, each fire is written alone, so that one bad fire does not hold
// back the others.
func (f *firing) write(ctx context.Context, ds []*dueFire, applied []bool) {
	ps := make([]store.FireParams, len(ds))
	now := f.n.c.now()
	for i, d := range ds {
		d.p.Now = now
		d.p.Updated = d.s.UpdatedAt // a fire decided before a change of its schedule does not apply
		ps[i] = d.p
	}
	f.n.c.events.gate.RLock()
	res, err := f.n.store.FireSchedules(ctx, ps)
	if err == nil {
		var ts []store.Transition
		for _, r := range res {
			if r.Applied && r.Job != nil && !r.Duplicate {
				ts = append(ts, store.Transition{Job: r.Job})
			}
		}
		if len(ts) > 0 {
			f.n.c.events.transitions(ts, now)
		}
	}
	f.n.c.events.gate.RUnlock()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if len(ds) > 1 {
			f.n.log.Warn("rota: schedule fires failed together: writing them one by one", "fires", len(ds), "err", err)
			for i := range ds {
				f.write(ctx, ds[i:i+1], applied[i:i+1])
			}
			return
		}
		res = []store.FireResult{{Err: err}}
	}
	for i, d := range ds {
		applied[i] = f.apply(d, res[i])
	}
}

// apply moves d's schedule along with the result of its fire and reports
// whether the fire applied. A fire whose job failed is marked failed,
// with the error as its outcome and no job.
func (f *firing) apply(d *dueFire, res store.FireResult) bool {
	p, s := &d.p, d.s
	if res.Err != nil {
		if p.Job == nil {
			d.logger(f).Error("rota: record schedule fire", "err", res.Err)
			d.failed = false
			return false
		}
		d.logger(f).Error("rota: schedule fire failed", "fire_time", d.ft, "err", res.Err)
		p.Job = nil
		p.Outcome = d.prefix + store.FireOutcomeError + ": " + res.Err.Error()
		d.failed = true
		return false
	}
	d.failed = false
	if !res.Applied {
		return false
	}
	s.NextFire, s.LastFire, s.LastOutcome = p.Next, p.FireTime, p.Outcome
	if p.Disable != "" {
		s.Enabled, s.DisabledReason, s.UpdatedAt = false, p.Disable, p.Now
	}
	if p.Job != nil && res.Job != nil {
		if p.Job.Hold {
			s.PendingJobID = res.Job.ID
			f.mu.Lock()
			f.pendings = true
			f.mu.Unlock()
		} else {
			s.LastJobID = res.Job.ID
		}
	}
	if d.after != nil {
		d.after()
	}
	return true
}

// parseStored parses a stored schedule's spec.
func parseStored(s *store.Schedule) (*schedule.Schedule, error) {
	loc, err := loadZone(s.Zone)
	if err != nil {
		return nil, err
	}
	return schedule.Parse(s.Spec, s.CreatedAt, loc)
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
	if slices.Contains(f.n.c.servedKinds(), kind) {
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
				if err := f.n.store.DeleteSchedule(ctx, key, c.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
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
		if _, err := c.upsertSchedule(ctx, cur, s); err != nil {
			log.Error("rota: periodic worker schedule", "err", err)
			continue
		}
		log.Info("rota: periodic worker scheduled", "interval", s.Spec, "next_fire", s.NextFire)
	}
}
