package rota_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

func TestPop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// An enqueue-only client acting as an external worker (OpenKAT's pop).
	c := newClient(t, openStore(t), rota.Options{NodeID: "external"})
	must(t, c.Register("scan.boefje", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
		rota.KindOptions{Backoff: rota.BackoffFunc(func(int) time.Duration { return time.Minute })}))
	mk := func(kind string, md map[string]string, args any) *rota.Job {
		return enqueue(t, c, kind, args, rota.Queue("ext"), rota.Metadata(md))
	}
	a := mk("scan.boefje", map[string]string{"org": "a"}, map[string]any{"host": "x.org", "port": 443})
	b := mk("scan.boefje", map[string]string{"org": "b"}, map[string]any{"host": "y.org", "port": 80})
	n := mk("scan.normalizer", map[string]string{"org": "a"}, map[string]any{"host": "x.org"})

	tests := []struct {
		name string
		f    rota.PopFilter
		want int64
	}{
		{"by kind", rota.PopFilter{Kinds: []string{"scan.normalizer"}}, n.ID},
		{"by metadata", rota.PopFilter{Metadata: map[string]string{"org": "b"}}, b.ID},
		{"by args", rota.PopFilter{Args: map[string]any{"port": 443}}, a.ID},
	}
	popped := map[int64]*rota.Job{}
	for _, tt := range tests {
		j, err := c.Pop(ctx, "ext", tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if j.ID != tt.want || j.State != rota.StateRunning || j.Node != "external" {
			t.Errorf("%s: popped job %d (%s on %s), want %d running on external", tt.name, j.ID, j.State, j.Node, tt.want)
		}
		popped[j.ID] = j
	}
	if _, err := c.Pop(ctx, "ext", rota.PopFilter{}); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("pop of an empty queue: err = %v, want ErrNotFound", err)
	}

	// Complete, retry later, and a plain error that is retried with the kind's backoff.
	must(t, c.Complete(ctx, popped[n.ID], map[string]int{"findings": 3}))
	must(t, c.FailJob(ctx, popped[b.ID], rota.RetryAfter(time.Hour)))
	must(t, c.FailJob(ctx, popped[a.ID], errors.New("connection refused")))

	j, _ := c.Get(ctx, n.ID)
	if j.State != rota.StateDone || string(j.Result) != `{"findings":3}` || lastAttempt(t, j).Node != "external" {
		t.Errorf("completed job: %s %s", j.State, j.Result)
	}
	j, _ = c.Get(ctx, b.ID)
	if j.State != rota.StateScheduled || j.Attempt != 0 || lastAttempt(t, j).Outcome != "retry_later" {
		t.Errorf("retry-later job: %s attempt %d %v", j.State, j.Attempt, outcomes(j))
	}
	j, _ = c.Get(ctx, a.ID)
	if j.State != rota.StateRetrying || j.Attempt != 1 || time.Until(j.RunAt) < 50*time.Second {
		t.Errorf("failed job: %s attempt %d run_at in %s, want retrying in about a minute", j.State, j.Attempt, time.Until(j.RunAt))
	}
	// A finished attempt cannot be finished again.
	if err := c.Complete(ctx, popped[n.ID], nil); !errors.Is(err, rota.ErrConflict) {
		t.Errorf("second Complete: err = %v, want ErrConflict", err)
	}
}

func TestRecencyRankerAtEnqueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := setup(t, rota.Options{}, func(c *rota.Client) {
		must(t, c.Register("scan.ranked", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
			rota.KindOptions{Ranker: rota.RecencyRanker{}}))
	})
	never := enqueue(t, c, "scan.ranked", nil, rota.Key("host-1", ""))
	if never.Priority != rota.RecencyNeverRan {
		t.Errorf("never-ran key: priority %d, want %d", never.Priority, rota.RecencyNeverRan)
	}
	waitState(t, c, never.ID, rota.StateDone)
	again := enqueue(t, c, "scan.ranked", nil, rota.Key("host-1", ""), rota.Hold())
	if again.Priority < rota.RecencyLeastUrgent-5 {
		t.Errorf("just-ran key: priority %d, want about %d", again.Priority, rota.RecencyLeastUrgent)
	}
	user := enqueue(t, c, "scan.ranked", nil, rota.Key("host-2", ""), rota.UserRequested(), rota.Hold())
	if user.Priority != rota.RecencyUserPriority {
		t.Errorf("user-requested: priority %d, want %d", user.Priority, rota.RecencyUserPriority)
	}
	explicit := enqueue(t, c, "scan.ranked", nil, rota.Key("host-3", ""), rota.Priority(77), rota.Hold())
	if explicit.Priority != 77 {
		t.Errorf("explicit priority: %d, want 77 (no ranking)", explicit.Priority)
	}
	// A ranker out of range is a field error naming the job.
	must(t, c.Register("scan.badrank", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
		rota.KindOptions{Ranker: rota.RankerFunc(func(context.Context, rota.RankInput) (int, error) { return -4, nil })}))
	_, err := c.EnqueueMany(ctx, []rota.EnqueueParams{{Kind: "scan.ranked", Hold: true}, {Kind: "scan.badrank"}})
	var fe *rota.FieldError
	if !errors.As(err, &fe) || fe.Field != "priority" || !strings.HasPrefix(err.Error(), "job 1:") {
		t.Errorf("bad ranker: err = %v, want a priority field error for job 1", err)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	t.Run("options", func(t *testing.T) {
		tests := []struct {
			opts  rota.Options
			field string
		}{
			{rota.Options{Queues: map[string]rota.QueueConfig{"bad queue": {}}}, "queues"},
			{rota.Options{Queues: map[string]rota.QueueConfig{"q": {MaxWorkers: -1}}}, "queues.q.max_workers"},
			{rota.Options{LeaseDuration: -time.Second}, "lease_duration"},
			{rota.Options{LeaseDuration: time.Millisecond}, "lease_duration"},
			{rota.Options{LeaderLease: -time.Second}, "leader_lease"},
			{rota.Options{LeaderLease: time.Millisecond}, "leader_lease"},
			{rota.Options{AbortGrace: -1}, "abort_grace"},
			{rota.Options{Retention: -1}, "retention"},
			{rota.Options{PollInterval: -1}, "poll_interval"},
			{rota.Options{PollInterval: time.Microsecond}, "poll_interval"},
			{rota.Options{NodeID: strings.Repeat("n", 200)}, "node_id"},
		}
		for _, tt := range tests {
			_, err := rota.New(st, tt.opts)
			var fe *rota.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("New(%+v): err = %v, want a field error on %s", tt.opts, err, tt.field)
			}
		}
		if _, err := rota.New(nil, rota.Options{}); err == nil {
			t.Error("New(nil store) succeeded")
		}
	})
	c := newClient(t, st, rota.Options{})
	t.Run("register", func(t *testing.T) {
		noop := rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })
		tests := []struct {
			kind  string
			w     rota.Worker
			opts  rota.KindOptions
			field string
		}{
			{"", noop, rota.KindOptions{}, "kind"},
			{"bad kind!", noop, rota.KindOptions{}, "kind"},
			{"ok", nil, rota.KindOptions{}, "worker"},
			{"ok", noop, rota.KindOptions{MaxWorkers: -1}, "max_workers"},
			{"ok", noop, rota.KindOptions{Timeout: -1}, "timeout"},
			{"ok", noop, rota.KindOptions{MaxAttempts: -1}, "max_attempts"},
			{"ok", noop, rota.KindOptions{Queue: "no spaces"}, "queue"},
			{"ok", noop, rota.KindOptions{Priority: ptr(40000)}, "priority"},
			{"ok", noop, rota.KindOptions{Retention: -1}, "retention"},
		}
		for _, tt := range tests {
			err := c.Register(tt.kind, tt.w, tt.opts)
			var fe *rota.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("Register(%q, %+v): err = %v, want a field error on %s", tt.kind, tt.opts, err, tt.field)
			}
		}
	})
	t.Run("enqueue", func(t *testing.T) {
		tests := []struct {
			p     rota.EnqueueParams
			field string
		}{
			{rota.EnqueueParams{}, "kind"},
			{rota.EnqueueParams{Kind: "k", Queue: "a b"}, "queue"},
			{rota.EnqueueParams{Kind: "k", Priority: ptr(-1)}, "priority"},
			{rota.EnqueueParams{Kind: "k", Delay: -time.Second}, "delay"},
			{rota.EnqueueParams{Kind: "k", Delay: time.Second, RunAt: time.Now()}, "run_at"},
			{rota.EnqueueParams{Kind: "k", RunAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "run_at"},
			{rota.EnqueueParams{Kind: "k", RunAt: time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("west", -5*3600))}, "run_at"},
			{rota.EnqueueParams{Kind: "k", Key: strings.Repeat("k", 600)}, "key"},
			{rota.EnqueueParams{Kind: "k", OnConflict: "merge", Key: "x"}, "on_conflict"},
			{rota.EnqueueParams{Kind: "k", OnConflict: rota.OnConflictReplace}, "on_conflict"},
			{rota.EnqueueParams{Kind: "k", MaxAttempts: -2}, "max_attempts"},
			{rota.EnqueueParams{Kind: "k", Timeout: -1}, "timeout"},
			{rota.EnqueueParams{Kind: "k", Args: []byte("{not json")}, "args"},
			{rota.EnqueueParams{Kind: "k", Args: func() {}}, "args"},
			{rota.EnqueueParams{Kind: "k", Metadata: map[string]string{"": "v"}}, "metadata"},
		}
		for _, tt := range tests {
			_, err := c.EnqueueParams(context.Background(), tt.p)
			var fe *rota.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("EnqueueParams(%+v): err = %v, want a field error on %s", tt.p, err, tt.field)
			}
		}
		// The MaxAttempts option refuses 0 (in EnqueueParams 0 means the
		// default), alone and in a batch.
		for _, n := range []int{0, -1} {
			_, err := c.Enqueue(context.Background(), "k", nil, rota.MaxAttempts(n))
			var fe *rota.FieldError
			if !errors.As(err, &fe) || fe.Field != "max_attempts" {
				t.Errorf("Enqueue with MaxAttempts(%d): err = %v, want a field error on max_attempts", n, err)
			}
			_, err = c.Batch(context.Background(), func(b *rota.Batch) error {
				b.Enqueue("k", nil)
				b.Enqueue("k", nil, rota.MaxAttempts(n))
				return nil
			})
			if !errors.As(err, &fe) || fe.Field != "max_attempts" || !strings.HasPrefix(err.Error(), "job 1:") {
				t.Errorf("Batch with MaxAttempts(%d): err = %v, want a field error on max_attempts of job 1", n, err)
			}
		}
		if j, err := c.Enqueue(context.Background(), "k", nil, rota.MaxAttempts(1), rota.Hold()); err != nil || j.MaxAttempts != 1 {
			t.Errorf("Enqueue with MaxAttempts(1): %v, %v", j, err)
		}
	})
}

func TestEnqueueFamily(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, openStore(t), rota.Options{})

	// Batch is all or nothing and names the failing job.
	_, err := c.Batch(ctx, func(b *rota.Batch) error {
		b.Enqueue("report.build", map[string]int{"n": 1})
		b.Enqueue("report.build", nil, rota.Priority(99999))
		return nil
	})
	var fe *rota.FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "job 1:") {
		t.Errorf("bad batch: err = %v, want a field error for job 1", err)
	}
	page, err := c.List(ctx, rota.ListParams{})
	must(t, err)
	if len(page.Jobs) != 0 {
		t.Errorf("a failed batch inserted %d jobs", len(page.Jobs))
	}
	// A store error (the queue is full) rejects the whole batch too.
	_, err = c.UpdateQueue(ctx, "small", rota.QueueUpdate{MaxSize: ptr(2)})
	must(t, err)
	_, err = c.Batch(ctx, func(b *rota.Batch) error {
		for range 3 {
			b.Enqueue("report.build", nil, rota.Queue("small"))
		}
		return nil
	})
	if !errors.Is(err, rota.ErrQueueFull) {
		t.Errorf("overfull batch: err = %v, want ErrQueueFull", err)
	}
	jobs, err := c.Batch(ctx, func(b *rota.Batch) error {
		for i := range 3 {
			b.Enqueue("report.build", map[string]int{"n": i}, rota.Delay(time.Hour))
		}
		return nil
	})
	must(t, err)
	if len(jobs) != 3 || jobs[2].State != rota.StateScheduled {
		t.Errorf("batch: %d jobs, last %v", len(jobs), jobs)
	}
	// fn's error cancels the batch.
	boom := errors.New("changed my mind")
	if _, err := c.Batch(ctx, func(b *rota.Batch) error { b.Enqueue("report.build", nil); return boom }); !errors.Is(err, boom) {
		t.Errorf("batch fn error: %v", err)
	}

	// Keys: return the existing job, update its priority, or reject.
	first := enqueue(t, c, "doc.analyse", nil, rota.Key("doc-1", ""), rota.Hold())
	same := enqueue(t, c, "doc.analyse", nil, rota.Key("doc-1", ""))
	if same.ID != first.ID {
		t.Errorf("duplicate key made job %d, want the existing %d", same.ID, first.ID)
	}
	upd := enqueue(t, c, "doc.analyse", nil, rota.Key("doc-1", rota.OnConflictUpdatePriority), rota.Priority(3))
	if upd.ID != first.ID || upd.Priority != 3 {
		t.Errorf("update priority: job %d priority %d", upd.ID, upd.Priority)
	}
	if _, err := c.Enqueue(ctx, "doc.analyse", nil, rota.Key("doc-1", rota.OnConflictReject)); !errors.Is(err, rota.ErrDuplicate) {
		t.Errorf("reject: err = %v, want ErrDuplicate", err)
	}
	got, err := c.GetByKey(ctx, "doc.analyse", "doc-1")
	must(t, err)
	if got.ID != first.ID {
		t.Errorf("GetByKey = %d, want %d", got.ID, first.ID)
	}

	// Queries and queue management.
	s, err := c.Stats(ctx)
	must(t, err)
	if s.ByState[rota.StateScheduled] != 3 || s.ByKind["doc.analyse"][rota.StateReady] != 1 {
		t.Errorf("stats = %+v", s)
	}
	hours, err := c.CountsByHour(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	must(t, err)
	if len(hours) == 0 {
		t.Error("CountsByHour returned nothing")
	}
	must(t, c.PauseQueue(ctx, "default"))
	qs, err := c.Queues(ctx)
	must(t, err)
	i := slices.IndexFunc(qs, func(q rota.QueueInfo) bool { return q.Name == "default" })
	if i < 0 || !qs[i].Paused {
		t.Errorf("queues = %+v, want default paused", qs)
	}
	must(t, c.ResumeQueue(ctx, "default"))
	if _, err := c.UpdateQueue(ctx, "q", rota.QueueUpdate{MaxSize: ptr(-1)}); !errors.As(err, &fe) || fe.Field != "max_size" {
		t.Errorf("bad max size: %v", err)
	}
	if _, err := c.Delete(ctx, first.ID); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := c.Get(ctx, first.ID); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
	if c.Store() == nil {
		t.Error("Store() is nil")
	}
	_ = fmt.Sprint()
}

func TestPausedQueueIsNotClaimed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ran := make(chan int64, 1)
	c := setup(t, rota.Options{}, func(c *rota.Client) {
		must(t, c.Register("test.p", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
			ran <- job.ID
			return nil
		})))
	})
	must(t, c.PauseQueue(ctx, "default"))
	j := enqueue(t, c, "test.p", nil)
	if got, _ := c.Get(ctx, j.ID); got.State != rota.StateQueued {
		t.Fatalf("state = %s", got.State)
	}
	select {
	case id := <-ran:
		t.Fatalf("job %d ran in a paused queue", id)
	default:
	}
	must(t, c.ResumeQueue(ctx, "default"))
	waitState(t, c, j.ID, rota.StateDone)
}

func TestRegistryWhileRunning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := setup(t, rota.Options{}, nil)
	noop := rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })

	// A job of a kind nobody runs waits; registering the kind runs it.
	j := enqueue(t, c, "plugin.a", nil)
	must(t, c.Register("plugin.a", noop))
	waitState(t, c, j.ID, rota.StateDone)

	// Unregister lets the running job finish and claims no new ones.
	w := newBlocker(false)
	must(t, c.Register("plugin.a", w))
	running := enqueue(t, c, "plugin.a", nil)
	w.waitStarted(t, running.ID)
	must(t, c.Unregister("plugin.a"))
	waiting := enqueue(t, c, "plugin.a", nil)
	close(w.release)
	waitState(t, c, running.ID, rota.StateDone)
	// Prove the producer claimed since: another kind's job runs, this one waits.
	must(t, c.Register("plugin.b", noop))
	waitState(t, c, enqueue(t, c, "plugin.b", nil).ID, rota.StateDone)
	if got, _ := c.Get(ctx, waiting.ID); got.State != rota.StateQueued {
		t.Errorf("unregistered kind's job is %s, want queued", got.State)
	}
	if err := c.Unregister("plugin.a"); !errors.Is(err, rota.ErrUnknownKind) {
		t.Errorf("second Unregister: %v, want ErrUnknownKind", err)
	}

	// Bundles load and unload together.
	bundle := rota.NewBundle()
	bundle.Register("plugin.a", noop)
	bundle.Register("plugin.c", noop)
	must(t, c.Load(bundle))
	if got := c.Kinds(); !slices.Equal(got, []string{"plugin.a", "plugin.b", "plugin.c"}) {
		t.Errorf("Kinds() = %v", got)
	}
	waitState(t, c, waiting.ID, rota.StateDone)
	other := rota.NewBundle()
	other.Register("plugin.c", noop)
	if err := c.Load(other); !errors.Is(err, rota.ErrConflict) {
		t.Errorf("loading a bundle over another's kind: %v, want ErrConflict", err)
	}
	must(t, c.Unload(bundle))
	if got := c.Kinds(); !slices.Equal(got, []string{"plugin.b"}) {
		t.Errorf("Kinds() after Unload = %v", got)
	}
	if err := c.Unload(bundle); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("second Unload: %v, want ErrNotFound", err)
	}
	late := enqueue(t, c, "plugin.c", nil)
	waitState(t, c, enqueue(t, c, "plugin.b", nil).ID, rota.StateDone)
	if got, _ := c.Get(ctx, late.ID); got.State != rota.StateQueued {
		t.Errorf("unloaded kind's job is %s, want queued", got.State)
	}
}

// retentionConfig is a WorkerConfigSource and RetentionSource over a
// memConfig, and not a KindLister: only RetentionKinds tells the pruner of
// the kinds it configures.
type retentionConfig struct {
	m   *memConfig
	def time.Duration
}

func (r retentionConfig) Kind(kind string) (rota.KindConfig, bool) { return r.m.Kind(kind) }
func (r retentionConfig) Changes() <-chan struct{}                 { return r.m.Changes() }

func (r retentionConfig) RetentionKinds() []string {
	var kinds []string
	for _, k := range r.m.Kinds() {
		if kc, _ := r.m.Kind(k); kc.Retention != nil {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func (r retentionConfig) DefaultRetention() time.Duration { return r.def }

// TestPruneByConfiguration: the pruner uses the retention the worker
// configuration gives kinds this node does not run, and the configuration's
// default retention for every kind it does not name.
func TestPruneByConfiguration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	clock := &fakeClock{now: now}
	minute, day := time.Minute, 24*time.Hour
	tests := []struct {
		name string
		def  time.Duration // the configuration's default retention
		// pruned after 10 minutes and after 2 hours, of:
		// remote.kind (its file: a minute; no worker here), kept.kind (its
		// file: a day) and other.kind (no file, no worker)
		after10m, after2h []string
	}{
		{"no default: Options.Retention (an hour)", 0, []string{"remote.kind"}, []string{"other.kind"}},
		{"default of 5 minutes", 5 * time.Minute, []string{"remote.kind", "other.kind"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := retentionConfig{newMemConfig(), tc.def}
			cfg.m.set("remote.kind", rota.KindConfig{Retention: &minute})
			cfg.m.set("kept.kind", rota.KindConfig{Retention: &day})
			clock := &fakeClock{now: clock.now}
			c := newClient(t, openStore(t), rota.Options{Clock: clock, Retention: time.Hour, WorkerConfig: cfg})
			byID := map[int64]string{}
			for _, kind := range []string{"remote.kind", "kept.kind", "other.kind"} {
				j := enqueue(t, c, kind, nil)
				_, err := c.Abort(ctx, j.ID, "")
				must(t, err)
				byID[j.ID] = kind
			}
			prunedAt := func(d time.Duration) []string {
				t.Helper()
				clock.set(now.Add(d))
				_, err := c.Prune(ctx)
				must(t, err)
				var gone []string
				for id, kind := range byID {
					if _, err := c.Get(ctx, id); errors.Is(err, rota.ErrNotFound) {
						gone = append(gone, kind)
						delete(byID, id)
					}
				}
				slices.Sort(gone)
				return gone
			}
			slices.Sort(tc.after10m)
			if got := prunedAt(10 * time.Minute); !slices.Equal(got, tc.after10m) {
				t.Errorf("pruned after 10 minutes: %v, want %v", got, tc.after10m)
			}
			if got := prunedAt(2 * time.Hour); !slices.Equal(got, tc.after2h) {
				t.Errorf("pruned after 2 hours: %v, want %v", got, tc.after2h)
			}
			if left := slices.Collect(maps.Values(byID)); len(left) != 1 || left[0] != "kept.kind" {
				t.Errorf("left: %v, want kept.kind only", byID)
			}
		})
	}
}

// errorsConfig is a WorkerConfigSource that reports problems.
type errorsConfig struct {
	*memConfig
	errs []error
}

func (e errorsConfig) Errors() []error { return e.errs }

// TestClientStatsConfigErrors: ClientStats counts what a ConfigErrorSource
// reports, and 0 without one.
func TestClientStatsConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  rota.WorkerConfigSource
		want int
	}{
		{nil, 0},
		{newMemConfig(), 0},
		{errorsConfig{newMemConfig(), []error{errors.New("a.json: bad"), errors.New("b.json: bad")}}, 2},
	} {
		c := newClient(t, openStore(t), rota.Options{WorkerConfig: tc.src})
		if got := c.ClientStats().WorkerConfigErrors; got != tc.want {
			t.Errorf("%T: WorkerConfigErrors = %d, want %d", tc.src, got, tc.want)
		}
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	clock := &fakeClock{now: now}
	c := newClient(t, openStore(t), rota.Options{Clock: clock, Retention: time.Hour})
	must(t, c.Register("short.lived", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
		rota.KindOptions{Retention: time.Minute}))
	a := enqueue(t, c, "short.lived", nil)
	b := enqueue(t, c, "long.lived", nil)
	for _, id := range []int64{a.ID, b.ID} {
		_, err := c.Abort(ctx, id, "")
		must(t, err)
	}
	clock.set(now.Add(10 * time.Minute))
	n, err := c.Prune(ctx)
	must(t, err)
	if n != 1 {
		t.Errorf("pruned %d, want 1 (the kind with a minute's retention)", n)
	}
	if _, err := c.Get(ctx, a.ID); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("short-lived job: %v, want pruned", err)
	}
	clock.set(now.Add(2 * time.Hour))
	if n, err = c.Prune(ctx); err != nil || n != 1 {
		t.Errorf("second prune: %d %v, want 1", n, err)
	}
}

// TestEnqueueDuplicate: an enqueue that gives back the active job of its
// key instead of a new one marks it Duplicate, whatever the policy that
// gave it back; the mark is in its JSON and read back, and a new job has
// none.
func TestEnqueueDuplicate(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	ctx := context.Background()
	first, err := c.Enqueue(ctx, "t.dup", nil, rota.Queue("idle"), rota.Key("k", rota.OnConflictReturn))
	must(t, err)
	if b, _ := json.Marshal(first); first.Duplicate || strings.Contains(string(b), "duplicate") {
		t.Fatalf("new job marked duplicate: %s", b)
	}
	for _, policy := range []rota.ConflictPolicy{rota.OnConflictReturn, rota.OnConflictReplace, rota.OnConflictUpdatePriority} {
		again, err := c.Enqueue(ctx, "t.dup", nil, rota.Queue("idle"), rota.Key("k", policy), rota.Priority(5))
		must(t, err)
		b, err := json.Marshal(again)
		must(t, err)
		var back rota.Job
		must(t, json.Unmarshal(b, &back))
		if again.ID != first.ID || !again.Duplicate || !strings.Contains(string(b), `"duplicate":true`) || !back.Duplicate || back.ID != first.ID {
			t.Errorf("%s: job %d duplicate %v, JSON %s, read back duplicate %v; want job %d marked duplicate", policy, again.ID, again.Duplicate, b, back.Duplicate, first.ID)
		}
	}
	got, err := c.Get(ctx, first.ID)
	must(t, err)
	if got.Duplicate {
		t.Error("Get marks the job duplicate: only an enqueue's answer does")
	}
}
