package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// State is a job's place in its life cycle. See the state diagram in docs/guide.md.
type State string

// Job states. ready, queued, running, done, error and aborted are OMA's statuses;
// scheduled and retrying are jobs that wait for their run_at.
const (
	StateReady     State = "ready"     // created with hold; waits for Release
	StateScheduled State = "scheduled" // waits for run_at (first attempt, or after retry-later/snooze)
	StateQueued    State = "queued"    // runnable now; claimed in priority order
	StateRunning   State = "running"   // claimed by a node under a lease
	StateRetrying  State = "retrying"  // waits for run_at after a failed attempt
	StateDone      State = "done"      // final: succeeded, result stored
	StateError     State = "error"     // final: last attempt failed, or failed permanently
	StateAborted   State = "aborted"   // final: cancelled by a person, an API call or the worker
)

// States returns every state in life-cycle order.
func States() []State {
	return []State{StateReady, StateScheduled, StateQueued, StateRunning, StateRetrying, StateDone, StateError, StateAborted}
}

// Final reports whether s is a final state (done, error, aborted).
func (s State) Final() bool { return s == StateDone || s == StateError || s == StateAborted }

// Valid reports whether s is one of the eight known states.
func (s State) Valid() bool {
	for _, v := range States() {
		if v == s {
			return true
		}
	}
	return false
}

// Priority bounds and the default. Lower runs first.
const (
	MinPriority     = 0
	MaxPriority     = 32767
	DefaultPriority = 100
)

// DefaultQueue is the queue a job goes to when none is named.
const DefaultQueue = "default"

// Errors every driver returns for the same conditions, checked with errors.Is.
var (
	// ErrNotFound: no job (or queue) with that id or key.
	ErrNotFound = errors.New("not found")
	// ErrQueueFull: the queue is at its maximum size and the job is not urgent.
	ErrQueueFull = errors.New("queue full")
	// ErrDuplicate: an active job with the same kind and key exists and the
	// conflict policy is OnConflictReject.
	ErrDuplicate = errors.New("duplicate key")
	// ErrConflict: the job's state does not allow the operation (release a job
	// that is not ready, retry a running job, ...).
	ErrConflict = errors.New("state conflict")
)

// Outcome names how an attempt ended, as recorded in the attempt history.
type Outcome string

// Attempt outcomes.
const (
	OutcomeDone        Outcome = "done"        // worker returned nil
	OutcomeRetryLater  Outcome = "retry_later" // worker returned RetryAfter: not counted as a failure
	OutcomeSnooze      Outcome = "snooze"      // worker returned Snooze: not counted
	OutcomeCancel      Outcome = "cancel"      // worker returned Cancel
	OutcomeFail        Outcome = "fail"        // worker returned Fail: permanent
	OutcomeError       Outcome = "error"       // worker returned an error
	OutcomePanic       Outcome = "panic"       // worker panicked
	OutcomeTimeout     Outcome = "timeout"     // the attempt ran past its timeout
	OutcomeAborted     Outcome = "aborted"     // aborted from outside while running
	OutcomeInterrupted Outcome = "interrupted" // node shut down; job put back, not counted
	OutcomeLost        Outcome = "lost"        // the node's lease expired (the node died)
)

// Attempt is one recorded run of a job.
type Attempt struct {
	Number     int       `json:"number"`
	Node       string    `json:"node"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Outcome    Outcome   `json:"outcome"`
	Error      string    `json:"error,omitempty"`
	// Location is the panic's file:line chain, innermost last, joined by " -> ".
	Location string `json:"location,omitempty"`
}

// Job is one unit of work as stored. Times are UTC with microsecond precision.
type Job struct {
	ID          int64             `json:"id"`
	Kind        string            `json:"kind"`
	Queue       string            `json:"queue"`
	Args        json.RawMessage   `json:"args"`
	Priority    int               `json:"priority"`
	RunAt       time.Time         `json:"run_at"`
	State       State             `json:"state"`
	Key         string            `json:"key,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Attempt     int               `json:"attempt"` // attempts counted so far (a retry-later is not counted)
	MaxAttempts int               `json:"max_attempts"`
	Timeout     time.Duration     `json:"timeout,omitempty"` // 0: the kind's timeout
	Result      json.RawMessage   `json:"result,omitempty"`
	LastError   string            `json:"last_error,omitempty"`
	Node        string            `json:"node,omitempty"`       // node holding (or last holding) the job
	LeaseUntil  time.Time         `json:"lease_until,omitzero"` // while running
	// CancelRequested is set when an abort was asked for a running job.
	CancelRequested bool      `json:"cancel_requested,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	StartedAt       time.Time `json:"started_at,omitzero"`  // start of the latest attempt
	FinishedAt      time.Time `json:"finished_at,omitzero"` // when it reached a final state
	// Attempts is the attempt history, oldest first. Filled by Get; List leaves it nil.
	Attempts []Attempt `json:"attempts,omitempty"`
}

// QueueFullError is the error of a job refused by a full queue: how full
// the queue is and which priorities it still takes (Urgent -1: none). It
// matches ErrQueueFull.
type QueueFullError struct {
	Queue                    string
	Waiting, MaxSize, Urgent int
}

// QueueFull returns the *QueueFullError of a job refused by queue.
func QueueFull(queue string, waiting, maxSize, urgent int) error {
	return &QueueFullError{Queue: queue, Waiting: waiting, MaxSize: maxSize, Urgent: urgent}
}

// Reason says how full the queue is and which priorities it still takes.
func (e *QueueFullError) Reason() string {
	still := ""
	if e.Urgent >= 0 {
		still = fmt.Sprintf("; it takes only jobs of priority %d or under", e.Urgent)
	}
	return fmt.Sprintf("queue %q is full (%d waiting jobs, max size %d%s)", e.Queue, e.Waiting, e.MaxSize, still)
}

// Error returns the Reason followed by ErrQueueFull's text.
func (e *QueueFullError) Error() string { return e.Reason() + ": " + ErrQueueFull.Error() }

// Unwrap returns ErrQueueFull.
func (e *QueueFullError) Unwrap() error { return ErrQueueFull }

// DuplicateKeyError is the error of a job refused by the reject conflict
// policy: the job at Index of the Insert call has the kind and key of the
// active job Existing.
type DuplicateKeyError struct {
	Index    int
	Kind     string
	Key      string
	Existing int64
}

// Reason names the active job that has the key.
func (e *DuplicateKeyError) Reason() string {
	return fmt.Sprintf("job %d, of kind %q, is active with the key %q", e.Existing, e.Kind, e.Key)
}

// Error returns the Reason followed by ErrDuplicate's text.
func (e *DuplicateKeyError) Error() string { return e.Reason() + ": " + ErrDuplicate.Error() }

// Unwrap returns ErrDuplicate.
func (e *DuplicateKeyError) Unwrap() error { return ErrDuplicate }

// ConflictPolicy says what Insert does when an active job (not final) with the
// same kind and key exists.
type ConflictPolicy string

// Conflict policies. The empty policy is OnConflictReturn.
const (
	// OnConflictReturn returns the existing job unchanged (OpenKAT's default).
	OnConflictReturn ConflictPolicy = "return"
	// OnConflictReplace replaces args, metadata, priority, run_at and limits of
	// the existing job if it has not started running; a running job is returned unchanged.
	OnConflictReplace ConflictPolicy = "replace"
	// OnConflictUpdatePriority changes only the priority of a waiting job.
	OnConflictUpdatePriority ConflictPolicy = "update_priority"
	// OnConflictReject fails the insert with a *DuplicateKeyError (which
	// matches ErrDuplicate).
	OnConflictReject ConflictPolicy = "reject"
)

// Valid reports whether p is a known policy (the empty policy is valid).
func (p ConflictPolicy) Valid() bool {
	switch p {
	case "", OnConflictReturn, OnConflictReplace, OnConflictUpdatePriority, OnConflictReject:
		return true
	}
	return false
}

// InsertParams is one job to insert. Values are already validated and defaulted
// by the caller (the rota package): Queue non-empty, Priority in range,
// MaxAttempts >= 1, Args valid JSON.
type InsertParams struct {
	Kind        string
	Queue       string
	Args        json.RawMessage
	Priority    int
	RunAt       time.Time // after Now: scheduled; else queued with run_at = Now
	Hold        bool      // start as ready
	Key         string
	OnConflict  ConflictPolicy
	Metadata    map[string]string
	MaxAttempts int
	Timeout     time.Duration
}

// InsertResult is the outcome of one InsertParams, in input order.
type InsertResult struct {
	Job *Job
	// Duplicate: an active job with the same kind and key existed; Job is that job.
	Duplicate bool
	// Updated: the duplicate was changed by the conflict policy.
	Updated bool
}

// KindLimit allows claiming up to Max jobs of Kind, within the kind's
// cluster-wide limits when it has any.
type KindLimit struct {
	Kind string
	Max  int
	// GlobalMax, when positive, caps the jobs of Kind running in the whole
	// store (every node, every queue) at once: the claim takes at most
	// GlobalMax minus the kind's jobs in state running, counted under a
	// lock that serializes the claims of the kind. 0: no such cap.
	GlobalMax int
	// Rate, when set, caps the starts of Kind in the whole store: at most
	// Rate.N claims of the kind in any interval of length Rate.Per.
	Rate RateLimit
}

// Limited reports whether k has a cluster-wide limit (GlobalMax or Rate).
func (k KindLimit) Limited() bool { return k.GlobalMax > 0 || k.Rate.N > 0 }

// RateLimit is at most N starts per Per. The zero value is no limit.
type RateLimit struct {
	N   int
	Per time.Duration
}

// ClaimParams asks for up to Limit runnable jobs of one queue.
type ClaimParams struct {
	Queue string
	Node  string
	Limit int
	// Kinds restricts the claim to these kinds, each with its own cap and
	// cluster-wide limits. Nil means any kind, without cluster-wide limits
	// (used by Pop). An empty non-nil slice claims nothing.
	Kinds []KindLimit
	// Metadata and Args filter on exact equality of metadata values and of
	// top-level args fields (compared as JSON values). Used by Pop.
	Metadata map[string]string
	Args     map[string]any
	Now      time.Time
	// LeaseUntil is the lease deadline given to every claimed job.
	LeaseUntil time.Time
	// LeaseToken, when set, makes the claimed attempts remote leases (the
	// lease protocol of `rota serve`): the store keeps the token with each
	// job, and only a Finish or a JobRef of ExtendLeases that presents it
	// ends or extends the attempt, from any node. Without it the attempts
	// are the node's own (no token stored), and a Finish or ExtendLeases
	// that presents a token does not touch them. Callers make a new random
	// token for every claim; the store never reads it back.
	LeaseToken string
}

// ClaimResult is the answer to Claim.
type ClaimResult struct {
	// Jobs are the claimed jobs, in claim order.
	Jobs []*Job
	// AtMax lists, sorted, the kinds of the claim whose GlobalMax has no
	// room left after it: claiming them again is useless until one of
	// their jobs stops running (NoticeFreed).
	AtMax []string
	// NextStart holds, for each kind that its rate limit held back (the
	// rate allowed fewer starts than the claim could take, and the claim
	// took them all), the earliest time the rate allows its next start.
	// Nil when no rate limit held the claim back.
	NextStart map[string]time.Time
}

// FinishParams ends the attempt Attempt of job ID. It applies only if the job
// is still running that attempt (the guard that keeps a stale node from
// overwriting a newer attempt).
type FinishParams struct {
	ID      int64
	Attempt int
	// State is the new state: done, error, aborted (final), retrying or
	// scheduled (with RunAt), or queued.
	State State
	RunAt time.Time // for retrying and scheduled
	// Uncount gives the attempt back: it does not count toward MaxAttempts
	// (retry-later, snooze, interrupted by shutdown).
	Uncount bool
	Result  json.RawMessage // for done
	Error   string          // becomes LastError when non-empty
	Record  Attempt         // appended to the attempt history
	Now     time.Time
	// Limited says that the job's kind has a cluster-wide maximum of
	// running jobs: when the finish applies, the store sends NoticeFreed
	// for the kind, so that the nodes whose claims the maximum held back
	// claim again.
	Limited bool
	// LeaseToken is the token of a remote lease (ClaimParams.LeaseToken):
	// the finish applies only if the attempt was claimed with this token.
	// Empty: only if it was claimed without one.
	LeaseToken string
}

// JobRef names one attempt of a job.
type JobRef struct {
	ID      int64
	Attempt int
	// LeaseToken, in a ref given to ExtendLeases, names a remote lease
	// (ClaimParams.LeaseToken): it is extended whichever node asks, only
	// while the attempt runs under that token. A ref without a token is
	// extended only while the asking node holds the attempt and it is not
	// a remote lease. Refs in a LeaseReport carry no token.
	LeaseToken string
}

// LeaseReport is the answer to ExtendLeases.
type LeaseReport struct {
	// Lost: the node no longer holds these attempts (rescued, aborted, deleted).
	Lost []JobRef
	// CancelRequested: an abort was requested for these running attempts.
	CancelRequested []JobRef
}

// Transition is one state change made by the store. Job holds the job after
// the change (Job.State is the new state); From is the state before.
type Transition struct {
	Job  *Job
	From State
}

// CancelParams names the job to abort: by ID, or by Kind and Key (the active job).
type CancelParams struct {
	ID     int64
	Kind   string
	Key    string
	Reason string
	Now    time.Time
}

// ListParams filters and pages List. Zero fields do not filter.
type ListParams struct {
	States   []State
	Kinds    []string
	Queues   []string
	Key      string
	Metadata map[string]string
	// CreatedFrom/CreatedTo and RunAtFrom/RunAtTo are half-open ranges [from, to).
	CreatedFrom, CreatedTo time.Time
	RunAtFrom, RunAtTo     time.Time
	// AfterID is the keyset cursor: with Desc false, jobs with id > AfterID;
	// with Desc true, jobs with id < AfterID (0: from the start).
	AfterID int64
	Desc    bool
	Limit   int // 0: DefaultListLimit; capped at MaxListLimit
}

// MaxGetMany bounds the ids of one GetMany call.
const MaxGetMany = 10000

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000
)

// ListPage is one page of List. NextAfterID is the cursor for the next page,
// 0 when this page is the last.
type ListPage struct {
	Jobs        []*Job `json:"jobs"`
	NextAfterID int64  `json:"next_after_id"`
}

// Count is the number of jobs in one (queue, kind, state) group.
type Count struct {
	Queue string
	Kind  string
	State State
	N     int64
}

// HourCount is the number of jobs that reached State in the hour starting at Hour (UTC).
type HourCount struct {
	Hour  time.Time
	State State
	N     int64
}

// PruneParams deletes final jobs whose FinishedAt is before a cutoff.
type PruneParams struct {
	Before       time.Time            // default cutoff
	BeforeByKind map[string]time.Time // per-kind cutoffs override Before
	Limit        int                  // at most this many rows per call (0: no limit)
}

// Queue is a queue's settings and its current counts.
type Queue struct {
	Name   string `json:"name"`
	Paused bool   `json:"paused"`
	// MaxSize caps the waiting jobs (ready, scheduled, queued, retrying); 0: no cap.
	MaxSize int `json:"max_size"`
	// UrgentPriority: a job with priority <= UrgentPriority is accepted even
	// when the queue is full. -1: none is.
	UrgentPriority int       `json:"urgent_priority"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
	// Counts by state (only non-zero states present).
	Counts map[State]int64 `json:"counts"`
	// OldestQueuedAt is the run_at of the oldest queued job (zero if none).
	OldestQueuedAt time.Time `json:"oldest_queued_at,omitzero"`
}

// QueueUpdate changes a queue's settings; nil fields are left alone. The queue
// is created if it does not exist.
type QueueUpdate struct {
	Name           string
	Paused         *bool
	MaxSize        *int
	UrgentPriority *int
	Now            time.Time
}

// NoticeType tells what a Notice is about.
type NoticeType int

// Notice types.
const (
	// NoticeQueued: jobs became queued in Queue.
	NoticeQueued NoticeType = iota + 1
	// NoticeScheduled: a job was scheduled (or set retrying) to run at RunAt.
	NoticeScheduled
	// NoticeCancel: an abort was requested for running jobs JobIDs.
	NoticeCancel
	// NoticeChanged: something changed that this process did not see (another
	// process wrote to the store): re-check queues, schedules and cancels.
	NoticeChanged
	// NoticeQueueChanged: a queue was paused, resumed or re-capped.
	NoticeQueueChanged
	// NoticeLeaderFreed: the leader of the lease Name resigned; candidates
	// may take it now instead of at their next campaign.
	NoticeLeaderFreed
	// NoticeFreed: a job of Kind, a kind with a cluster-wide maximum of
	// running jobs, stopped running (a finish with Limited): a claim of
	// the kind that the maximum held back may take more now.
	NoticeFreed
	// NoticeScheduleChanged: a stored schedule was created, changed,
	// enabled or deleted: the leader's firing loop looks again.
	NoticeScheduleChanged
)

// Notice is a wake-up sent by the store after a commit.
type Notice struct {
	Type   NoticeType
	Queue  string
	Kind   string // NoticeFreed
	RunAt  time.Time
	JobIDs []int64
	// Name is the leader lease of a NoticeLeaderFreed.
	Name string
}

// Leader is a named leader lease as stored (see Store.Lead). The lease is
// held while now < Until by the node (and process instance) it names.
type Leader struct {
	Name string `json:"name"`
	// Node and Instance name the holder; Node is "" when the lease was never
	// taken or its holder resigned.
	Node     string `json:"node,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Term counts the holders: it grows by one each time the lease passes to
	// another holder (or is taken again after a resignation) and stays the
	// same while one holder renews it. 0: never taken.
	Term  int64     `json:"term"`
	Until time.Time `json:"until"`
}

// HeldAt reports whether someone holds the lease at now.
func (l Leader) HeldAt(now time.Time) bool { return l.Node != "" && now.Before(l.Until) }

// HeldBy reports whether node's process instance holds the lease at now.
func (l Leader) HeldBy(node, instance string, now time.Time) bool {
	return l.HeldAt(now) && l.Node == node && l.Instance == instance
}

// LeadParams asks for the leader lease Name for one candidate.
type LeadParams struct {
	Name string
	Node string
	// Instance tells apart processes that use the same Node id (a
	// misconfiguration, or a restart): the lease is the candidate's own
	// only when both Node and Instance match.
	Instance string
	Now      time.Time
	// Until is the lease deadline to set; it must be after Now.
	Until time.Time
}

// Node is one registered rota process (see Store.RegisterNode). Version is
// its rota version, as `rota version` prints it ("v1.2.0", a Go
// pseudo-version, "devel+1f34f8f9771e", "devel").
type Node struct {
	ID string `json:"id"`
	// Instance is unique per process start: it tells apart two processes
	// that use the same ID.
	Instance string   `json:"instance"`
	Host     string   `json:"host,omitempty"`
	PID      int      `json:"pid,omitempty"`
	Version  string   `json:"version,omitempty"`
	Queues   []string `json:"queues"`
	Kinds    []string `json:"kinds"`
	// HeartbeatInterval is how often the node heartbeats, so that a reader
	// can tell a silent node from a live one.
	HeartbeatInterval time.Duration `json:"heartbeat_interval"`
	StartedAt         time.Time     `json:"started_at"`
	HeartbeatAt       time.Time     `json:"heartbeat_at"`
	// StoppedAt is when the node stopped gracefully; zero while it runs (or
	// if it died).
	StoppedAt time.Time `json:"stopped_at,omitzero"`
}

// NodeHeartbeat tells the store that a registered node is alive.
type NodeHeartbeat struct {
	ID       string
	Instance string
	// Kinds are the kinds the node serves now (registrations change while
	// it runs).
	Kinds []string
	Now   time.Time
}

// TxInserter is implemented by drivers that can insert jobs inside a
// transaction of the caller's own, on the store's database (store/postgres
// takes a pgx.Tx): the jobs exist if and only if that transaction commits.
type TxInserter interface {
	// InsertTx is Insert inside tx, with Insert's rules (all or none, key
	// conflicts, queue caps). The jobs' notices go out in tx, so they are
	// delivered when it commits. On error nothing of the call remains in
	// tx; the driver documents whether tx is still usable. A tx of the
	// wrong type is an error.
	InsertTx(ctx context.Context, tx any, now time.Time, jobs []InsertParams) ([]InsertResult, error)
}

// CommitHookInserter is implemented by drivers whose commits become
// visible (to readers, claimers and notices) before they are durable, such
// as store/sqlite with Synchronous FULL, which syncs the WAL after the
// commit, outside its write lock.
type CommitHookInserter interface {
	// InsertHooked is Insert that also calls committed with the results
	// once the insert has committed, before it is durable and before the
	// call returns: a caller that must act before anyone can claim the
	// jobs (publish their events) need not wait for the disk. committed
	// runs on the driver's writer: it must be quick, must not block and
	// must not call the store. It is called at most once, and not when the
	// insert fails before its commit; the call may still fail after it (a
	// failed sync: the jobs exist, but may not survive a power loss).
	InsertHooked(ctx context.Context, now time.Time, jobs []InsertParams, committed func([]InsertResult)) ([]InsertResult, error)
}

// Store is the driver contract. Every method is safe for concurrent use.
// Methods that take a Now use it as the current time so tests can move the
// clock; drivers must not read the wall clock for job semantics.
type Store interface {
	Scheduler
	// EventLog is the durable log of job events (store/events.go).
	EventLog

	// Driver is the driver's name ("sqlite", "postgres").
	Driver() string
	// Migrate brings the schema to the newest version. Idempotent; safe to call
	// from several processes at once.
	Migrate(ctx context.Context) error
	// SchemaVersion returns the applied and the newest known schema versions.
	SchemaVersion(ctx context.Context) (applied, latest int, err error)
	// Close releases the store's resources.
	Close() error

	// Insert inserts jobs, all or none: if any fails (ErrQueueFull,
	// ErrDuplicate), nothing is inserted and the error names the index.
	Insert(ctx context.Context, now time.Time, jobs []InsertParams) ([]InsertResult, error)
	// Claim moves up to p.Limit queued jobs of p.Queue to running for p.Node,
	// in priority order (priority, run_at, id), honouring a paused queue,
	// the per-kind caps and the kinds' cluster-wide limits (GlobalMax,
	// Rate), incrementing each job's Attempt. A claim whose kinds have no
	// cluster-wide limit costs what it did before they existed. The result
	// also tells which kinds the cluster-wide limits held back.
	Claim(ctx context.Context, p ClaimParams) (ClaimResult, error)
	// Finish ends attempts. states[i] is the job's state after finishes[i]
	// ("" when it did not apply: the job no longer ran that attempt); it
	// differs from finishes[i].State when an abort won (below).
	// A finish to a state that would run the job again (retrying,
	// scheduled, queued) ends it aborted instead when an abort was requested
	// while it ran (CancelRequested), keeping the abort's reason as
	// LastError: an abort is never lost to a concurrent retry.
	Finish(ctx context.Context, finishes []FinishParams) (states []State, err error)
	// ExtendLeases moves the lease deadline of the node's running attempts
	// to until; refs with a LeaseToken are remote leases, extended by token
	// whatever node holds them (see JobRef).
	ExtendLeases(ctx context.Context, node string, refs []JobRef, until time.Time) (LeaseReport, error)
	// Promote moves up to limit scheduled and retrying jobs whose run_at <= now
	// to queued. next is the earliest run_at still waiting (zero if none).
	Promote(ctx context.Context, now time.Time, limit int) (promoted []Transition, next time.Time, err error)
	// Rescue takes back up to limit running jobs whose lease expired before
	// now: to queued if attempts remain, else to error; the attempt is recorded
	// with OutcomeLost and the node's id.
	Rescue(ctx context.Context, now time.Time, limit int) ([]Transition, error)
	// Cancel aborts a job: a waiting one (ready, scheduled, queued, retrying)
	// becomes aborted at once; a running one gets CancelRequested (its node
	// finishes it). Final jobs give ErrConflict; unknown ones ErrNotFound.
	Cancel(ctx context.Context, p CancelParams) (Transition, error)
	// Retry puts a final, scheduled or retrying job back to queued now. If its
	// attempts are used up, MaxAttempts is raised by one. Running or ready
	// jobs give ErrConflict.
	Retry(ctx context.Context, id int64, now time.Time) (Transition, error)
	// Release moves a ready job to queued (or scheduled if run_at is in the
	// future). Other states give ErrConflict.
	Release(ctx context.Context, id int64, now time.Time) (Transition, error)
	// Delete removes a job that is not running. Running gives ErrConflict.
	Delete(ctx context.Context, id int64) (*Job, error)

	// Get returns one job with its attempt history.
	Get(ctx context.Context, id int64) (*Job, error)

	// GetMany returns the jobs of ids that exist, without attempt history,
	// in no particular order (ids not found are left out; at most
	// MaxGetMany ids). One statement: ending many remote leases at once
	// reads their jobs with it (decision 0015).
	GetMany(ctx context.Context, ids []int64) ([]*Job, error)
	// GetByKey returns the active job of (kind, key), or else the newest one.
	GetByKey(ctx context.Context, kind, key string) (*Job, error)
	// List returns a page of jobs (without attempt history).
	List(ctx context.Context, p ListParams) (ListPage, error)
	// Counts returns job counts grouped by queue, kind and state.
	Counts(ctx context.Context) ([]Count, error)
	// CountsByHour returns, per hour of UpdatedAt in [from, to), the number of
	// jobs now in each state.
	CountsByHour(ctx context.Context, from, to time.Time) ([]HourCount, error)
	// LastFinished returns when the newest final job of (kind, key) finished.
	LastFinished(ctx context.Context, kind, key string) (t time.Time, ok bool, err error)
	// Prune deletes final jobs finished before the cutoffs; returns how many.
	Prune(ctx context.Context, p PruneParams) (int64, error)

	// Queues lists every queue that has settings or jobs, by name.
	Queues(ctx context.Context) ([]Queue, error)
	// UpdateQueue creates or changes a queue's settings.
	UpdateQueue(ctx context.Context, u QueueUpdate) (Queue, error)

	// Lead takes or renews the leader lease p.Name for the candidate
	// (p.Node, p.Instance) until p.Until, in one atomic step, when the lease
	// is free (never taken, or resigned), expired (Until <= p.Now) or
	// already the candidate's; otherwise it changes nothing. It returns the
	// lease as it is after the call: the candidate leads when the returned
	// Node and Instance are its own. Of candidates racing for a free lease,
	// exactly one wins.
	Lead(ctx context.Context, p LeadParams) (Leader, error)
	// Resign frees the lease name if (node, instance) holds it (expired or
	// not) and reports whether it did; a freed lease is announced with a
	// NoticeLeaderFreed.
	Resign(ctx context.Context, name, node, instance string) (bool, error)
	// GetLeader returns the lease name as stored; Node is "" when nobody
	// holds it and Term 0 when it was never taken. Whether it has expired
	// is for the caller's clock to judge (Leader.HeldAt).
	GetLeader(ctx context.Context, name string) (Leader, error)

	// RegisterNode records a starting node process: it inserts n, or
	// replaces the row of n.ID, with HeartbeatAt = n.StartedAt and no
	// StoppedAt. It returns the row it replaced (nil if none), so that the
	// caller can tell whether another live process uses the same ID.
	RegisterNode(ctx context.Context, n Node) (prev *Node, err error)
	// HeartbeatNode records that the node is alive at h.Now and serves
	// h.Kinds. It applies only to the row of h.ID registered by h.Instance:
	// ErrNotFound when there is no row (it was pruned), ErrConflict when
	// another instance registered the ID since.
	HeartbeatNode(ctx context.Context, h NodeHeartbeat) error
	// StopNode marks the node stopped at now (StoppedAt and HeartbeatAt),
	// with the guard and the errors of HeartbeatNode.
	StopNode(ctx context.Context, id, instance string, now time.Time) error
	// Nodes lists the registered nodes by ID.
	Nodes(ctx context.Context) ([]Node, error)
	// PruneNodes deletes the nodes whose HeartbeatAt is before before and
	// returns how many.
	PruneNodes(ctx context.Context, before time.Time) (int64, error)

	// Subscribe returns a channel of notices until ctx is done. The channel is
	// buffered; when it is full, notices are merged or dropped, never blocking
	// the store (a NoticeChanged is sent in place of dropped ones).
	Subscribe(ctx context.Context) <-chan Notice
}
