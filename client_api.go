package rota

// This file is the Client's public surface: its options and methods. The
// engine behind it lives in this package too (client.go, node.go,
// producer.go, executor.go, completer.go, lease.go, maintenance.go, ...);
// see docs/decisions/0002-engine-in-root-package.md.

import (
	"context"
	"log/slog"
	"time"

	"github.com/rotahq/rota/store"
)

// Client defaults.
const (
	DefaultQueueWorkers    = 100
	DefaultLeaseDuration   = 30 * time.Second
	DefaultAbortGrace      = 10 * time.Second
	DefaultRetention       = 7 * 24 * time.Hour
	DefaultShutdownTimeout = 30 * time.Second
	DefaultPollInterval    = time.Second
)

// QueueConfig is how a node serves one queue.
type QueueConfig struct {
	// MaxWorkers caps this queue's running jobs on this node; 0 means DefaultQueueWorkers.
	MaxWorkers int
}

// Clock tells the time; tests pass a fake one.
type Clock interface {
	Now() time.Time
}

// Options configures a Client. Zero fields take the defaults above.
type Options struct {
	// NodeID names this node in leases and attempt history; default: hostname.
	NodeID string
	// Queues this node works, with their limits; default {"default": {}}.
	// A client that only enqueues and queries never starts and needs none.
	Queues map[string]QueueConfig
	// Logger for the client; default slog.Default().
	Logger *slog.Logger
	// LeaseDuration is how long a running job's lease lasts without renewal;
	// a job whose node dies is retried after it expires. The node also
	// heartbeats into the node registry every LeaseDuration/3.
	LeaseDuration time.Duration
	// LeaderLease is how long the leader lease lasts without renewal
	// (DefaultLeaderLease when zero): of the nodes on one store, the one that
	// holds it runs the rescuer and the pruner; nodes campaign for it every
	// LeaderLease/3, and a leader that dies is replaced within it.
	LeaderLease time.Duration
	// AbortGrace is how long an aborted job's worker has to return after its
	// context is cancelled before the job is marked aborted anyway. An exec
	// worker's process group gets SIGTERM at once and SIGKILL after half of it.
	AbortGrace time.Duration
	// Retention keeps final jobs this long before pruning (per kind: KindOptions.Retention).
	Retention time.Duration
	// PollInterval is the fallback check for work when no notice arrives.
	PollInterval time.Duration
	// WorkerConfig supplies per-kind configuration (the per-worker JSON
	// directory) that overrides KindOptions while the client runs; nil: none.
	WorkerConfig WorkerConfigSource
	// Clock for job semantics; default the wall clock.
	Clock Clock
	// Schedules are declared in code: Start upserts them (a re-declared
	// schedule whose spec and zone are unchanged keeps its next fire).
	Schedules []ScheduleParams
	// ScheduleLookahead is how long before its fire time the leader writes
	// the job of a schedule's fire, scheduled to run at the fire time, so
	// that the job is there when the time comes however many fires fall on
	// the same instant (DefaultScheduleLookahead when zero; negative: off,
	// every fire is written at its time; at most MaxScheduleLookahead).
	// Only fires that cannot depend on the moment are written ahead: those
	// of enabled schedules with no condition and overlap allow. Updating,
	// disabling or deleting a schedule deletes the jobs of its fires that
	// were written ahead and whose time has not come.
	ScheduleLookahead time.Duration
	// LeaderTasks run on the node that leads, beside the rescuer and the
	// pruner: each is started when the node becomes the leader, under a
	// context that ends when it stops leading (or the node stops), and is
	// started again at its next term. A task must return when its context
	// ends. Two nodes may both lead for a moment around a change of
	// leader, so a task must tolerate a twin briefly (the event relays of
	// package events save positions that never move back).
	LeaderTasks []func(ctx context.Context)
}

// WorkerConfigSource supplies live per-kind configuration, such as
// config.Watcher over a directory of per-worker JSON files.
type WorkerConfigSource interface {
	// Kind returns the current configuration of a kind (ok false if none).
	Kind(kind string) (KindConfig, bool)
	// Changes signals (coalesced) that the configuration changed.
	Changes() <-chan struct{}
}

// KindConfig is a kind's configuration from a WorkerConfigSource. Nil fields
// are not set and leave the registered KindOptions in force.
type KindConfig struct {
	LogLevel    *slog.Level
	MaxWorkers  *int
	Timeout     *time.Duration
	MaxAttempts *int
	Queue       *string
	Priority    *int
	Retention   *time.Duration
	// GlobalMaxWorkers and RateLimit are KindOptions' cluster-wide limits.
	GlobalMaxWorkers *int
	RateLimit        *RateLimit
	// Ranker, when set, replaces KindOptions.Ranker.
	Ranker Ranker
	// Backoff, when not nil, replaces the kind's backoff after a failed
	// attempt.
	Backoff Backoff
	// Exec, when set, binds the kind to an external command (argv, or
	// Shell run with /bin/sh -c) if no Go worker is registered for it.
	Exec  []string
	Shell string
	// Custom is what the worker reads through ConfigFrom.
	Custom WorkerConfig
	// Interval, when set, makes the kind periodic: the leader keeps a
	// schedule "periodic:<kind>" with this spec (see PeriodicKey).
	Interval *string
}

// ListParams filters and pages Client.List.
type ListParams = store.ListParams

// ListPage is one page of Client.List.
type ListPage struct {
	Jobs        []*Job
	NextAfterID int64
}

// Stats are job counts.
type Stats struct {
	ByState map[State]int64
	ByQueue map[string]map[State]int64
	ByKind  map[string]map[State]int64
}

// HourCount is the number of jobs in a state per hour.
type HourCount = store.HourCount

// QueueInfo is a queue's settings and counts.
type QueueInfo = store.Queue

// QueueUpdate changes a queue's settings; nil fields are left alone.
type QueueUpdate struct {
	Paused         *bool
	MaxSize        *int
	UrgentPriority *int
}

// PopFilter selects the job Pop takes.
type PopFilter struct {
	Kinds    []string
	Metadata map[string]string
	Args     map[string]any
}

// EventFilter selects the events a subscription receives; empty fields match all.
type EventFilter struct {
	Kinds    []string
	Queues   []string
	Key      string
	Metadata map[string]string
}

// ClientStats are the client's own counters.
type ClientStats struct {
	// EventsDropped counts events lost to full subscription buffers.
	EventsDropped uint64
	// Running is the number of jobs this node runs now.
	Running int
	// Leader: this node leads (see Client.IsLeader).
	Leader bool
	// Started: the node runs (Start was called and Stop has not begun).
	Started bool
	// LeasesLost counts the attempts this node gave up because it lost
	// their lease (its heartbeats did not reach the store in time, and the
	// job was taken back or aborted meanwhile).
	LeasesLost uint64
	// WorkerConfigErrors is the number of problems the worker
	// configuration reports now (ConfigErrorSource: one per bad file of
	// rota serve's workers directory); 0 for a source that reports none.
	WorkerConfigErrors int
}

// Compile-time check of the Client's surface (implemented in client.go).
var _ interface {
	Register(kind string, w Worker, opts ...KindOptions) error
	Unregister(kind string) error
	Load(b *Bundle) error
	Unload(b *Bundle) error
	Kinds() []string
	KindOptionsOf(kind string) KindOptions
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Enqueue(ctx context.Context, kind string, args any, opts ...EnqueueOption) (*Job, error)
	EnqueueParams(ctx context.Context, p EnqueueParams) (*Job, error)
	EnqueueMany(ctx context.Context, ps []EnqueueParams) ([]*Job, error)
	Batch(ctx context.Context, fn func(b *Batch) error) ([]*Job, error)
	EnqueueTx(ctx context.Context, tx any, kind string, args any, opts ...EnqueueOption) (*Job, error)
	EnqueueManyTx(ctx context.Context, tx any, ps []EnqueueParams) ([]*Job, error)
	BatchTx(ctx context.Context, tx any, fn func(b *Batch) error) ([]*Job, error)
	Get(ctx context.Context, id int64) (*Job, error)
	GetByKey(ctx context.Context, kind, key string) (*Job, error)
	List(ctx context.Context, p ListParams) (ListPage, error)
	Stats(ctx context.Context) (Stats, error)
	CountsByHour(ctx context.Context, from, to time.Time) ([]HourCount, error)
	Abort(ctx context.Context, id int64, reason string) (*Job, error)
	AbortKey(ctx context.Context, kind, key, reason string) (*Job, error)
	Retry(ctx context.Context, id int64) (*Job, error)
	Release(ctx context.Context, id int64) (*Job, error)
	Delete(ctx context.Context, id int64) (*Job, error)
	Queues(ctx context.Context) ([]QueueInfo, error)
	UpdateQueue(ctx context.Context, name string, u QueueUpdate) (QueueInfo, error)
	PauseQueue(ctx context.Context, name string) error
	ResumeQueue(ctx context.Context, name string) error
	Pop(ctx context.Context, queue string, f PopFilter) (*Job, error)
	Complete(ctx context.Context, job *Job, result any) error
	FailJob(ctx context.Context, job *Job, err error) error
	Lease(ctx context.Context, p LeaseParams) ([]Lease, error)
	ExtendLease(ctx context.Context, token string, d time.Duration) (LeaseStatus, error)
	CompleteLease(ctx context.Context, token string, result any) (*Job, error)
	FailLease(ctx context.Context, token string, f LeaseFailure) (*Job, error)
	SnoozeLease(ctx context.Context, token string, delay time.Duration) (*Job, error)
	Subscribe(buffer int, f EventFilter) *Subscription
	ClientStats() ClientStats
	Nodes(ctx context.Context) ([]NodeInfo, error)
	IsLeader() bool
	Prune(ctx context.Context) (int64, error)
	Store() store.Store
} = (*Client)(nil)
