package rota

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotahq/rota/store"
)

// KindLister is implemented by a WorkerConfigSource that can list the kinds
// it configures. The client needs it to discover exec kinds (a KindConfig
// with Exec or Shell and no Go worker); config.Watcher implements it.
type KindLister interface {
	Kinds() []string
}

// ConfigErrorSource is implemented by a WorkerConfigSource that reports
// its current problems (rota serve's workers directory: one per file that
// does not parse, its last good version in force); ClientStats counts them.
type ConfigErrorSource interface {
	Errors() []error
}

// RetentionSource is implemented by a WorkerConfigSource that configures
// retention beyond the kinds this node runs. The leader prunes with it, so
// that a kind worked only by remote workers or on other nodes keeps the
// retention its configuration gives, and a default retention (the
// _defaults.json of `rota serve`) applies to every kind the source does not
// name. The kinds a KindLister lists are pruned by their configuration too.
type RetentionSource interface {
	// RetentionKinds lists the kinds whose configuration sets a retention.
	RetentionKinds() []string
	// DefaultRetention is the retention of the kinds the source does not
	// name; 0 leaves Options.Retention in force.
	DefaultRetention() time.Duration
}

// registration is one registered kind and who registered it.
type registration struct {
	Registration
	bundle *Bundle // nil: registered directly
}

// kindRT is a kind as the engine runs it: its worker and effective options.
// It is immutable; a change of registration or configuration builds a new one.
type kindRT struct {
	kind    string
	idx     int // position in regSnapshot.list
	worker  Worker
	opts    KindOptions // registered options overridden by the worker config
	custom  WorkerConfig
	handler slog.Handler // the client's handler, filtered at the kind's level
	slots   *kindSlots
	exec    bool // bound to a command by the worker config
}

// backoff returns the kind's backoff.
func (k *kindRT) backoff() Backoff {
	return backoffOr(k.opts.Backoff)
}

// backoffOr returns b, or the default exponential backoff when b is nil.
func backoffOr(b Backoff) Backoff {
	if b != nil {
		return b
	}
	return ExponentialBackoff(DefaultBackoffBase, DefaultBackoffMax, DefaultBackoffJitter)
}

// kindSlots counts a kind's running jobs on this node. It outlives
// registrations so that a kind unregistered and registered again while its
// jobs run still respects MaxWorkers.
type kindSlots struct {
	used atomic.Int64 // running jobs plus slots reserved by producers during a claim
	// waiters has the bit of every producer that the kind's cap held back:
	// a freed slot of the kind wakes them.
	waiters atomic.Uint64

	// Cluster-wide limits, as the store last reported them. freed counts
	// the announcements that a job of the kind stopped running somewhere
	// (NoticeFreed; also NoticeChanged and the poll); full is freed+1 as
	// it was before a claim that found the kind at its GlobalMaxWorkers:
	// while no announcement came since, producers leave the kind out.
	freed atomic.Uint64
	full  atomic.Uint64
	// rateUntil (Unix nanoseconds) is when the kind's rate limit allows
	// its next start, after a claim that it held back.
	rateUntil atomic.Int64
}

// reserve takes up to want free slots of a kind capped at limit.
func (s *kindSlots) reserve(limit, want int64) int64 {
	for {
		u := s.used.Load()
		free := min(limit-u, want)
		if free <= 0 {
			return 0
		}
		if s.used.CompareAndSwap(u, u+free) {
			return free
		}
	}
}

// regSnapshot is the set of runnable kinds at one moment.
type regSnapshot struct {
	byKind map[string]*kindRT
	list   []*kindRT // by kind name
}

// registry holds the registered workers and derives runnable kinds from them
// and the worker configuration.
type registry struct {
	log *slog.Logger
	src WorkerConfigSource

	mu    sync.Mutex
	regs  map[string]*registration
	slots map[string]*kindSlots

	snap     atomic.Pointer[regSnapshot]
	onChange atomic.Pointer[func()]

	// claims is held shared by each producer from taking a snapshot until
	// its claim returns; rebuild holds it exclusively (taken before mu)
	// while it puts a new snapshot in place, so when Unregister or Unload
	// returns no claim made with the old kinds is still in flight (it could
	// otherwise take a job of the removed kind enqueued after the call
	// returned).
	claims sync.RWMutex
}

func newRegistry(log *slog.Logger, src WorkerConfigSource) *registry {
	r := &registry{
		log:   log,
		src:   src,
		regs:  make(map[string]*registration),
		slots: make(map[string]*kindSlots),
	}
	r.snap.Store(&regSnapshot{byKind: map[string]*kindRT{}})
	return r
}

// snapshot returns the current runnable kinds.
func (r *registry) snapshot() *regSnapshot { return r.snap.Load() }

// config returns a kind's worker configuration, if any.
func (r *registry) config(kind string) (KindConfig, bool) {
	if r.src == nil {
		return KindConfig{}, false
	}
	return r.src.Kind(kind)
}

// options returns a kind's effective options, read fresh (used at enqueue).
func (r *registry) options(kind string) KindOptions {
	var o KindOptions
	r.mu.Lock()
	if reg := r.regs[kind]; reg != nil {
		o = reg.Options
	}
	r.mu.Unlock()
	if kc, ok := r.config(kind); ok {
		o = mergeConfig(o, kc)
	}
	return o
}

// mergeConfig overrides o field by field with what kc sets. Values the
// configuration cannot mean (negative counts) are ignored.
func mergeConfig(o KindOptions, kc KindConfig) KindOptions {
	if kc.MaxWorkers != nil && *kc.MaxWorkers >= 0 {
		o.MaxWorkers = *kc.MaxWorkers
	}
	if kc.Timeout != nil && *kc.Timeout >= 0 {
		o.Timeout = *kc.Timeout
	}
	if kc.MaxAttempts != nil && *kc.MaxAttempts >= 0 {
		o.MaxAttempts = *kc.MaxAttempts
	}
	if kc.Queue != nil {
		o.Queue = *kc.Queue
	}
	if kc.Priority != nil && *kc.Priority >= store.MinPriority && *kc.Priority <= store.MaxPriority {
		p := *kc.Priority
		o.Priority = &p
	}
	if kc.Retention != nil && *kc.Retention >= 0 {
		o.Retention = *kc.Retention
	}
	if kc.LogLevel != nil {
		l := *kc.LogLevel
		o.LogLevel = &l
	}
	if kc.GlobalMaxWorkers != nil && *kc.GlobalMaxWorkers >= 0 {
		o.GlobalMaxWorkers = *kc.GlobalMaxWorkers
	}
	if kc.RateLimit != nil && checkRateLimit(*kc.RateLimit) == nil {
		o.RateLimit = *kc.RateLimit
	}
	if kc.Ranker != nil {
		o.Ranker = kc.Ranker
	}
	if kc.Backoff != nil {
		o.Backoff = kc.Backoff
	}
	return o
}

// checkRateLimit checks a kind's rate limit: both N and Per, or neither.
func checkRateLimit(r RateLimit) error {
	switch {
	case r.N < 0:
		return fieldErr("rate_limit.n", "%d is negative", r.N)
	case r.Per < 0:
		return fieldErr("rate_limit.per", "%s is negative", r.Per)
	case r.N > 0 && r.Per == 0:
		return fieldErr("rate_limit.per", "required with rate_limit.n (%d starts per what?)", r.N)
	case r.N == 0 && r.Per > 0:
		return fieldErr("rate_limit.n", "required with rate_limit.per (how many starts per %s?)", r.Per)
	}
	return nil
}

// validateRegistration checks a kind, its worker and options.
func validateRegistration(kind string, w Worker, o KindOptions) error {
	if kind == "" {
		return fieldErr("kind", "required")
	}
	if len(kind) > MaxNameLength || !nameRE.MatchString(kind) {
		return fieldErr("kind", "%q must be 1-%d letters, digits or . _ - : /", kind, MaxNameLength)
	}
	if w == nil {
		return fieldErr("worker", "nil worker for kind %q", kind)
	}
	switch {
	case o.MaxWorkers < 0:
		return fieldErr("max_workers", "%d is negative", o.MaxWorkers)
	case o.Timeout < 0:
		return fieldErr("timeout", "%s is negative", o.Timeout)
	case o.MaxAttempts < 0:
		return fieldErr("max_attempts", "%d is negative", o.MaxAttempts)
	case o.Retention < 0:
		return fieldErr("retention", "%s is negative", o.Retention)
	case o.Queue != "" && (len(o.Queue) > MaxNameLength || !nameRE.MatchString(o.Queue)):
		return fieldErr("queue", "%q must be 1-%d letters, digits or . _ - : /", o.Queue, MaxNameLength)
	case o.Priority != nil && (*o.Priority < store.MinPriority || *o.Priority > store.MaxPriority):
		return fieldErr("priority", "%d is out of range %d..%d", *o.Priority, store.MinPriority, store.MaxPriority)
	case o.GlobalMaxWorkers < 0:
		return fieldErr("global_max_workers", "%d is negative", o.GlobalMaxWorkers)
	}
	return checkRateLimit(o.RateLimit)
}

// add registers regs (already validated) for bundle b (nil: directly). A
// bundle may not take a kind another owner holds.
func (r *registry) add(regs []Registration, b *Bundle) error {
	r.mu.Lock()
	if b != nil {
		for _, reg := range regs {
			if cur := r.regs[reg.Kind]; cur != nil && cur.bundle != b {
				r.mu.Unlock()
				return fmt.Errorf("rota: kind %q is already registered: %w", reg.Kind, ErrConflict)
			}
		}
	}
	for _, reg := range regs {
		r.regs[reg.Kind] = &registration{Registration: reg, bundle: b}
	}
	r.mu.Unlock()
	r.rebuild()
	return nil
}

// remove unregisters kind.
func (r *registry) remove(kind string) error {
	r.mu.Lock()
	if _, ok := r.regs[kind]; !ok {
		r.mu.Unlock()
		return fmt.Errorf("rota: unregister %q: %w", kind, ErrUnknownKind)
	}
	delete(r.regs, kind)
	r.mu.Unlock()
	r.rebuild()
	return nil
}

// removeBundle unregisters the kinds that bundle b still owns.
func (r *registry) removeBundle(b *Bundle) error {
	r.mu.Lock()
	n := 0
	for kind, reg := range r.regs {
		if reg.bundle == b {
			delete(r.regs, kind)
			n++
		}
	}
	r.mu.Unlock()
	if n == 0 {
		return fmt.Errorf("rota: unload: bundle not loaded: %w", ErrNotFound)
	}
	r.rebuild()
	return nil
}

// kinds lists registered and exec kinds.
func (r *registry) kinds() []string {
	r.mu.Lock()
	ks := make([]string, 0, len(r.regs))
	for k := range r.regs {
		ks = append(ks, k)
	}
	r.mu.Unlock()
	for _, k := range r.execKinds() {
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// execKinds lists the kinds the worker config binds to a command.
func (r *registry) execKinds() []string {
	kl, ok := r.src.(KindLister)
	if !ok {
		return nil
	}
	var out []string
	for _, k := range kl.Kinds() {
		if kc, ok := r.src.Kind(k); ok && (len(kc.Exec) > 0 || kc.Shell != "") {
			out = append(out, k)
		}
	}
	return out
}

// rebuild derives a new snapshot of runnable kinds and tells the engine.
func (r *registry) rebuild() {
	r.claims.Lock() // waits out the claims made with the old snapshot
	r.mu.Lock()
	snap := &regSnapshot{byKind: make(map[string]*kindRT, len(r.regs))}
	for kind, reg := range r.regs {
		snap.byKind[kind] = r.runtimeKind(kind, reg.Worker, reg.Options, false)
	}
	for _, kind := range r.execKinds() {
		if _, ok := snap.byKind[kind]; ok {
			continue // a Go worker wins over a command
		}
		kc, _ := r.src.Kind(kind)
		var w Worker
		if len(kc.Exec) > 0 {
			w = Command(kc.Exec...)
		} else {
			w = ShellCommand(kc.Shell)
		}
		if err := validateRegistration(kind, w, KindOptions{}); err != nil {
			r.log.Error("rota: ignoring exec kind", "kind", kind, "err", err)
			continue
		}
		snap.byKind[kind] = r.runtimeKind(kind, w, KindOptions{}, true)
	}
	for _, k := range snap.byKind {
		snap.list = append(snap.list, k)
	}
	slices.SortFunc(snap.list, func(a, b *kindRT) int {
		switch {
		case a.kind < b.kind:
			return -1
		case a.kind > b.kind:
			return 1
		}
		return 0
	})
	for i, k := range snap.list {
		k.idx = i
	}
	r.snap.Store(snap)
	r.mu.Unlock()
	r.claims.Unlock()
	if f := r.onChange.Load(); f != nil {
		(*f)()
	}
}

// runtimeKind builds a kind's runtime form. r.mu is held.
func (r *registry) runtimeKind(kind string, w Worker, o KindOptions, exec bool) *kindRT {
	k := &kindRT{kind: kind, worker: w, exec: exec}
	if kc, ok := r.config(kind); ok {
		o = mergeConfig(o, kc)
		k.custom = kc.Custom
	}
	k.opts = o
	k.handler = r.log.Handler()
	if o.LogLevel != nil {
		k.handler = &levelHandler{level: *o.LogLevel, h: k.handler}
	}
	k.slots = r.slots[kind]
	if k.slots == nil {
		k.slots = new(kindSlots)
		r.slots[kind] = k.slots
	}
	return k
}

// watch rebuilds the snapshot whenever the worker configuration changes.
func (r *registry) watch(ctx context.Context) {
	if r.src == nil {
		return
	}
	ch := r.src.Changes()
	if ch == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			r.rebuild()
		}
	}
}

// levelHandler filters records below a kind's level. The kind's level is
// authoritative: a kind set to debug logs debug records even when the
// client's handler would drop them.
type levelHandler struct {
	level slog.Level
	h     slog.Handler
}

func (l *levelHandler) Enabled(_ context.Context, lv slog.Level) bool { return lv >= l.level }

func (l *levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }

func (l *levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &levelHandler{level: l.level, h: l.h.WithAttrs(as)}
}

func (l *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{level: l.level, h: l.h.WithGroup(name)}
}

// Register binds kind to worker w on this client, replacing an earlier
// registration of the kind. It may be called at any time, also while the
// client runs; the producers start claiming the kind at once.
func (c *Client) Register(kind string, w Worker, opts ...KindOptions) error {
	var o KindOptions
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		return fieldErr("options", "at most one KindOptions, got %d", len(opts))
	}
	if err := validateRegistration(kind, w, o); err != nil {
		return err
	}
	return c.reg.add([]Registration{{Kind: kind, Worker: w, Options: o}}, nil)
}

// Unregister removes kind: this node claims no new jobs of it; jobs of the
// kind that run now finish normally. When it returns, no claim made before
// it is still in flight, so no job of the kind enqueued after it returns
// starts here. It returns ErrUnknownKind if the kind is not registered.
func (c *Client) Unregister(kind string) error { return c.reg.remove(kind) }

// Load registers every kind of bundle b, all or none. A kind registered by
// another bundle or directly makes it fail with ErrConflict. Loading the same
// bundle again refreshes its registrations.
func (c *Client) Load(b *Bundle) error {
	if b == nil {
		return fieldErr("bundle", "nil")
	}
	regs := b.Registrations()
	seen := make(map[string]bool, len(regs))
	for _, reg := range regs {
		if err := validateRegistration(reg.Kind, reg.Worker, reg.Options); err != nil {
			return err
		}
		if seen[reg.Kind] {
			return fieldErr("kind", "%q is twice in the bundle", reg.Kind)
		}
		seen[reg.Kind] = true
	}
	return c.reg.add(regs, b)
}

// Unload unregisters the kinds bundle b registered (running jobs finish).
// It returns ErrNotFound if the bundle is not loaded.
func (c *Client) Unload(b *Bundle) error {
	if b == nil {
		return fieldErr("bundle", "nil")
	}
	return c.reg.removeBundle(b)
}

// Kinds lists the kinds this client can run: registered ones and those the
// worker configuration binds to a command.
func (c *Client) Kinds() []string { return c.reg.kinds() }

// KindOptionsOf returns kind's effective options: its registered
// KindOptions (the zero value for a kind registered nowhere, such as an
// exec kind) overridden by the worker configuration, as enqueue and the
// engine apply them now.
func (c *Client) KindOptionsOf(kind string) KindOptions { return c.reg.options(kind) }
