package rota

import (
	"encoding/json"
	"regexp"
	"time"

	"github.com/rotahq/rota/store"
)

// ConflictPolicy says what Enqueue does when an active job with the same
// kind and key exists.
type ConflictPolicy = store.ConflictPolicy

// Conflict policies; see the store package.
const (
	OnConflictReturn         = store.OnConflictReturn
	OnConflictReplace        = store.OnConflictReplace
	OnConflictUpdatePriority = store.OnConflictUpdatePriority
	OnConflictReject         = store.OnConflictReject
)

// DefaultPriority is the priority of a job with no priority and no ranker.
const DefaultPriority = store.DefaultPriority

// Limits on names and sizes checked at enqueue.
const (
	MaxNameLength = 128     // kind and queue
	MaxKeyLength  = 512     // key
	MaxArgsBytes  = 1 << 20 // args JSON
)

// nameRE is what a kind or queue name may look like: letters, digits and . _ - : /
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)

// EnqueueOption sets one option of an enqueued job.
type EnqueueOption func(*EnqueueParams)

// EnqueueParams is a job to enqueue, fully spelled out. Most callers use
// Enqueue with options; EnqueueMany and the server take these directly.
type EnqueueParams struct {
	Kind string
	// Args is marshalled to JSON; a json.RawMessage or []byte is taken as is
	// (and must be valid JSON). nil becomes {}.
	Args     any
	Queue    string
	Priority *int
	RunAt    time.Time
	Delay    time.Duration
	Hold     bool
	Key      string
	// OnConflict applies when Key names an active job; "" means return it.
	OnConflict  ConflictPolicy
	Metadata    map[string]string
	MaxAttempts int
	Timeout     time.Duration
	// UserRequested marks a job a person asked for; the recency ranker gives it priority 1.
	UserRequested bool

	// maxAttemptsSet: the MaxAttempts option was given, so a MaxAttempts
	// of 0 is the caller's (invalid) value, not "the kind's default".
	maxAttemptsSet bool
}

// Queue puts the job on queue q.
func Queue(q string) EnqueueOption { return func(p *EnqueueParams) { p.Queue = q } }

// Priority sets the priority (0..32767, lower runs first), overriding any ranker.
func Priority(n int) EnqueueOption { return func(p *EnqueueParams) { p.Priority = &n } }

// RunAt schedules the job for t (InsightCloudSec's Once(when)).
func RunAt(t time.Time) EnqueueOption { return func(p *EnqueueParams) { p.RunAt = t } }

// MaxYear is the last year (UTC) a job may be scheduled in: later times do
// not survive JSON (RFC 3339 has four-digit years).
const MaxYear = 9999

// Delay schedules the job d from now (InsightCloudSec's hours_from_now).
func Delay(d time.Duration) EnqueueOption { return func(p *EnqueueParams) { p.Delay = d } }

// Hold creates the job ready: it waits for Release.
func Hold() EnqueueOption { return func(p *EnqueueParams) { p.Hold = true } }

// Key sets the deduplication key and what to do when an active job has it.
func Key(key string, onConflict ConflictPolicy) EnqueueOption {
	return func(p *EnqueueParams) { p.Key, p.OnConflict = key, onConflict }
}

// Metadata attaches string metadata, filterable in List, Pop and events.
func Metadata(m map[string]string) EnqueueOption {
	return func(p *EnqueueParams) {
		if p.Metadata == nil {
			p.Metadata = make(map[string]string, len(m))
		}
		for k, v := range m {
			p.Metadata[k] = v
		}
	}
}

// MaxAttempts sets how many attempts the job gets (>= 1; 0 or less fails
// the enqueue with a max_attempts field error). Without it the job gets the
// kind's MaxAttempts, else DefaultMaxAttempts.
func MaxAttempts(n int) EnqueueOption {
	return func(p *EnqueueParams) { p.MaxAttempts, p.maxAttemptsSet = n, true }
}

// Timeout bounds each attempt of this job.
func Timeout(d time.Duration) EnqueueOption { return func(p *EnqueueParams) { p.Timeout = d } }

// UserRequested marks the job as asked for by a person (ranked first by the recency ranker).
func UserRequested() EnqueueOption { return func(p *EnqueueParams) { p.UserRequested = true } }

// validate checks p and converts it to insert parameters, except the
// priority when a ranker must compute it (rank reports that). Defaults come
// from the kind's options.
func (p *EnqueueParams) validate(now time.Time, ko KindOptions) (ip store.InsertParams, rank bool, err error) {
	if p.Kind == "" {
		return ip, false, fieldErr("kind", "required")
	}
	if len(p.Kind) > MaxNameLength || !nameRE.MatchString(p.Kind) {
		return ip, false, fieldErr("kind", "%q must be 1-%d letters, digits or . _ - : /", p.Kind, MaxNameLength)
	}
	ip.Kind = p.Kind
	ip.Queue = p.Queue
	if ip.Queue == "" {
		ip.Queue = ko.Queue
	}
	if ip.Queue == "" {
		ip.Queue = store.DefaultQueue
	}
	if len(ip.Queue) > MaxNameLength || !nameRE.MatchString(ip.Queue) {
		return ip, false, fieldErr("queue", "%q must be 1-%d letters, digits or . _ - : /", ip.Queue, MaxNameLength)
	}
	switch {
	case p.Priority != nil:
		ip.Priority = *p.Priority
	case ko.Ranker != nil:
		rank = true
	case ko.Priority != nil:
		ip.Priority = *ko.Priority
	default:
		ip.Priority = store.DefaultPriority
	}
	if ip.Priority < store.MinPriority || ip.Priority > store.MaxPriority {
		return ip, false, fieldErr("priority", "%d is out of range %d..%d", ip.Priority, store.MinPriority, store.MaxPriority)
	}
	if !p.RunAt.IsZero() && p.Delay != 0 {
		return ip, false, fieldErr("run_at", "set either run_at or delay, not both")
	}
	if p.Delay < 0 {
		return ip, false, fieldErr("delay", "%s is negative", p.Delay)
	}
	switch {
	case !p.RunAt.IsZero():
		ip.RunAt = p.RunAt.UTC()
	case p.Delay > 0:
		ip.RunAt = now.Add(p.Delay)
	}
	if y := ip.RunAt.Year(); !ip.RunAt.IsZero() && (y < 1 || y > MaxYear) {
		field := "run_at"
		if p.Delay > 0 {
			field = "delay"
		}
		return ip, false, fieldErr(field, "the job would run in the year %d; the latest is %d-12-31 UTC", y, MaxYear)
	}
	ip.Hold = p.Hold
	if len(p.Key) > MaxKeyLength {
		return ip, false, fieldErr("key", "longer than %d bytes", MaxKeyLength)
	}
	ip.Key = p.Key
	if !p.OnConflict.Valid() {
		return ip, false, fieldErr("on_conflict", "%q is not one of return, replace, update_priority, reject", p.OnConflict)
	}
	if p.OnConflict != "" && p.Key == "" {
		return ip, false, fieldErr("on_conflict", "needs a key")
	}
	ip.OnConflict = p.OnConflict
	for k := range p.Metadata {
		if k == "" {
			return ip, false, fieldErr("metadata", "empty key")
		}
	}
	ip.Metadata = p.Metadata
	if p.maxAttemptsSet && p.MaxAttempts < 1 {
		return ip, false, fieldErr("max_attempts", "%d is less than 1", p.MaxAttempts)
	}
	ip.MaxAttempts = p.MaxAttempts
	if ip.MaxAttempts == 0 {
		ip.MaxAttempts = ko.MaxAttempts
	}
	if ip.MaxAttempts == 0 {
		ip.MaxAttempts = DefaultMaxAttempts
	}
	if ip.MaxAttempts < 1 {
		return ip, false, fieldErr("max_attempts", "%d is less than 1", p.MaxAttempts)
	}
	if p.Timeout < 0 {
		return ip, false, fieldErr("timeout", "%s is negative", p.Timeout)
	}
	ip.Timeout = p.Timeout
	args, err := marshalArgs(p.Args)
	if err != nil {
		return ip, false, err
	}
	ip.Args = args
	return ip, rank, nil
}

func marshalArgs(a any) (json.RawMessage, error) {
	var b []byte
	switch v := a.(type) {
	case nil:
		return json.RawMessage(`{}`), nil
	case json.RawMessage:
		b = v
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, fieldErr("args", "cannot be marshalled to JSON: %v", err)
		}
	}
	if !json.Valid(b) {
		return nil, fieldErr("args", "not valid JSON")
	}
	if len(b) > MaxArgsBytes {
		return nil, fieldErr("args", "%d bytes is over the %d byte limit", len(b), MaxArgsBytes)
	}
	return json.RawMessage(b), nil
}

// Batch collects jobs to enqueue all together or not at all (the
// InsightCloudSec ScheduledEventTracker). See Client.Batch.
type Batch struct {
	params []EnqueueParams
}

// Enqueue adds a job to the batch.
func (b *Batch) Enqueue(kind string, args any, opts ...EnqueueOption) {
	p := EnqueueParams{Kind: kind, Args: args}
	for _, o := range opts {
		o(&p)
	}
	b.params = append(b.params, p)
}

// Len is the number of jobs in the batch.
func (b *Batch) Len() int { return len(b.params) }

// indexErr names the failing item of a many-job enqueue.
func indexErr(i int, err error) error { return &IndexError{Index: i, Err: err} }
