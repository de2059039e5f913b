package rota

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rotahq/rota/store"
)

// Worker runs jobs of one kind. What Work returns decides the outcome (see
// the package documentation). Work must return when ctx is done: ctx is
// cancelled when the job is aborted, times out or the node shuts down.
type Worker interface {
	Work(ctx context.Context, job *Job) error
}

// WorkFunc adapts a function to Worker.
type WorkFunc func(ctx context.Context, job *Job) error

// Work calls f.
func (f WorkFunc) Work(ctx context.Context, job *Job) error { return f(ctx, job) }

// Typed returns a Worker that decodes each job's args into a T before calling
// f. Args that do not decode fail the job permanently (Fail).
func Typed[T any](f func(ctx context.Context, job *Job, args T) error) Worker {
	return WorkFunc(func(ctx context.Context, job *Job) error {
		var args T
		if len(job.Args) > 0 {
			if err := json.Unmarshal(job.Args, &args); err != nil {
				return Fail(fmt.Errorf("decode args: %w", err))
			}
		}
		return f(ctx, job, args)
	})
}

// CleanUper is implemented by workers that need a hook after every run,
// whatever its outcome (4CAT's clean_up). ctx is not the job's context: it is
// valid even when the job was aborted.
type CleanUper interface {
	CleanUp(ctx context.Context, job *Job, outcome Outcome)
}

// Aborter is implemented by workers that want to know when the node shuts
// down while their job runs (4CAT's abort): Abort is called before the job's
// context is cancelled, so a looping worker can stop cleanly.
type Aborter interface {
	Abort(job *Job)
}

// Backoff computes the delay before the next attempt after attempt (1-based)
// failed.
type Backoff interface {
	Delay(attempt int) time.Duration
}

// BackoffFunc adapts a function to Backoff.
type BackoffFunc func(attempt int) time.Duration

// Delay calls f.
func (f BackoffFunc) Delay(attempt int) time.Duration { return f(attempt) }

// Default backoff: exponential from DefaultBackoffBase, capped at
// DefaultBackoffMax, with ±DefaultBackoffJitter relative jitter.
const (
	DefaultBackoffBase   = time.Second
	DefaultBackoffMax    = time.Hour
	DefaultBackoffJitter = 0.25
)

// ExponentialBackoff doubles the delay from base at each attempt up to max,
// then spreads it by ±jitter (0.25 is ±25%) so retries of many jobs that
// failed together do not arrive together.
func ExponentialBackoff(base, maxDelay time.Duration, jitter float64) Backoff {
	return BackoffFunc(func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < maxDelay; i++ {
			d *= 2
		}
		d = min(d, maxDelay)
		if jitter > 0 {
			f := 1 + jitter*(2*rand.Float64()-1)
			d = time.Duration(float64(d) * f)
		}
		return d
	})
}

// KindOptions configures a kind on this client. Zero fields take the
// client's defaults; the per-worker JSON config (Options.WorkerConfig)
// overrides them field by field while the client runs.
type KindOptions struct {
	// MaxWorkers caps this kind's running jobs on this node (4CAT
	// max_workers); 0 means no cap beyond the queue's.
	MaxWorkers int
	// Timeout bounds one attempt; 0 means DefaultTimeout. A job's own
	// Timeout overrides it.
	Timeout time.Duration
	// MaxAttempts for jobs enqueued without one; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Queue for jobs enqueued without one; "" means the default queue.
	Queue string
	// Priority for jobs enqueued without one and without a ranker; nil means DefaultPriority.
	Priority *int
	// Backoff after a failed attempt; nil means the default exponential backoff.
	Backoff Backoff
	// Ranker computes the priority at enqueue when none is given.
	Ranker Ranker
	// Retention keeps final jobs of this kind this long before pruning; 0
	// means the client's Retention.
	Retention time.Duration
	// LogLevel of the logger in the job's context; nil means the client's.
	LogLevel *slog.Level
	// GlobalMaxWorkers caps this kind's running jobs across every node
	// that shares the store (4CAT max_workers, cluster-wide): the store
	// counts the kind's running jobs inside the claim, so the cap holds
	// at every moment. 0 means no such cap. Give every node that runs the
	// kind the same value.
	GlobalMaxWorkers int
	// RateLimit caps how often jobs of this kind start, across every node
	// that shares the store: at most N starts in any interval of length
	// Per. The zero value means no limit. Give every node the same value.
	RateLimit RateLimit
}

// RateLimit is at most N starts per Per (see KindOptions.RateLimit).
type RateLimit = store.RateLimit

// Defaults for jobs and kinds.
const (
	DefaultMaxAttempts = 25
	DefaultTimeout     = time.Hour
)

// Registration is one kind's worker and options.
type Registration struct {
	Kind    string
	Worker  Worker
	Options KindOptions
}

// Bundle is a set of registrations loaded and unloaded together, like an
// InsightCloudSec plugin's load() and unload().
type Bundle struct {
	mu   sync.Mutex
	regs []Registration
}

// NewBundle returns an empty bundle.
func NewBundle() *Bundle { return &Bundle{} }

// Register adds a kind to the bundle; it takes effect when the bundle is loaded.
func (b *Bundle) Register(kind string, w Worker, opts ...KindOptions) {
	r := Registration{Kind: kind, Worker: w}
	if len(opts) > 0 {
		r.Options = opts[0]
	}
	b.mu.Lock()
	b.regs = append(b.regs, r)
	b.mu.Unlock()
}

// Registrations returns a copy of the bundle's registrations.
func (b *Bundle) Registrations() []Registration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Registration(nil), b.regs...)
}

type ctxKey int

// ctxKeyJob finds the running attempt (an *execution) in a worker's context.
const ctxKeyJob ctxKey = 0

// Logger returns the job's logger from a worker's context: the client's
// logger with job_id, kind, attempt and node attributes, at the kind's log
// level. Outside a job it returns slog.Default(); it never returns nil.
func Logger(ctx context.Context) *slog.Logger {
	if ex, ok := ctx.Value(ctxKeyJob).(*execution); ok {
		return ex.logger()
	}
	return slog.Default()
}

// WorkerConfig is a kind's configuration as a worker reads it from its
// context: the custom keys of its per-worker JSON file merged over the
// defaults file.
type WorkerConfig interface {
	// Get decodes the value of key into dst; ok is false if the key is absent.
	Get(key string, dst any) (ok bool, err error)
	// Raw returns the merged configuration as JSON.
	Raw() json.RawMessage
}

// ConfigFrom returns the worker's configuration from its context, or nil
// when the client has no worker configuration directory or the kind no file.
func ConfigFrom(ctx context.Context) WorkerConfig {
	if ex, ok := ctx.Value(ctxKeyJob).(*execution); ok && ex.kind.custom != nil {
		return ex.kind.custom
	}
	return nil
}

// AttemptFrom returns the attempt number (1-based) from a worker's context.
// Outside a job it returns 0.
func AttemptFrom(ctx context.Context) int {
	if ex, ok := ctx.Value(ctxKeyJob).(*execution); ok {
		return ex.job.Attempt
	}
	return 0
}
