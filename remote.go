package rota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rotahq/rota/store"
)

// Remote leases: jobs taken by a worker outside this process (the lease
// protocol of `rota serve`, POST /v1/leases), each held by a lease token
// until its deadline. Unlike a node's own attempts, a remote lease is not
// renewed by the node's heartbeats nor given back when the node stops: it
// lives by its deadline alone, which only ExtendLease moves. Any client on
// the same store may extend or end it with its token (see decision 0015).

// Bounds and defaults of remote leases.
const (
	// DefaultRemoteLease is a remote lease's length when none is asked for.
	DefaultRemoteLease = 30 * time.Second
	// MinRemoteLease and MaxRemoteLease bound a remote lease's length.
	MinRemoteLease = time.Second
	MaxRemoteLease = time.Hour
	// DefaultLeaseMax and MaxLeaseMax bound how many jobs one Lease takes.
	DefaultLeaseMax = 1
	MaxLeaseMax     = 1000
	// MaxWorkerLength bounds LeaseParams.Worker, in bytes.
	MaxWorkerLength = 200
)

// ErrLeaseLost is returned for a lease token whose attempt has ended
// (completed, failed, snoozed, aborted, retried, rescued after its lease
// expired, deleted) or that was never issued. It matches ErrConflict too.
var ErrLeaseLost error = leaseLostError{}

// leaseLostError is ErrLeaseLost: a conflict of its own.
type leaseLostError struct{}

func (leaseLostError) Error() string { return "lease lost" }

// Is makes ErrLeaseLost match ErrConflict.
func (leaseLostError) Is(target error) bool { return target == ErrConflict }

// LeaseParams asks Lease for jobs.
type LeaseParams struct {
	// Kinds the worker runs; required. Only jobs of these kinds are taken.
	Kinds []string
	// Queues are tried in the order given; default: the default queue.
	Queues []string
	// Max is how many jobs to take at most (default DefaultLeaseMax, at
	// most MaxLeaseMax).
	Max int
	// Lease is the lease's length (default DefaultRemoteLease, between
	// MinRemoteLease and MaxRemoteLease). It is also what ExtendLease
	// extends by when asked for no length.
	Lease time.Duration
	// Worker names the worker process (free text without control
	// characters, at most MaxWorkerLength bytes); it is recorded as the
	// node of the attempt.
	// Empty: this client's node id.
	Worker string
}

// Lease is one job taken by Lease.
type Lease struct {
	// Token ends and extends the lease (opaque; keep it secret: it is what
	// lets its holder complete the job).
	Token    string
	Deadline time.Time
	Job      *Job
}

// LeaseStatus is the answer to ExtendLease.
type LeaseStatus struct {
	// Deadline is the lease's new deadline.
	Deadline time.Time
	// AbortRequested: the job was aborted; the worker should stop and call
	// FailLease, which ends the job aborted.
	AbortRequested bool
}

// LeaseFailure says how a remote attempt failed (FailLease).
type LeaseFailure struct {
	// Error is the failure's text; required.
	Error string
	// RetryAfter, when positive, retries the job after exactly this delay
	// instead of the kind's backoff. The attempt counts as any failure
	// does: with no attempts left the job ends in error.
	RetryAfter time.Duration
	// Final ends the job in error at once, whatever attempts remain.
	Final bool
}

// leaseTokenPrefix versions the token format.
const leaseTokenPrefix = "rl1"

// leaseSecretBytes is the random part of a token: 128 bits.
const leaseSecretBytes = 16

// leaseToken is a parsed lease token: the job's id and attempt, the lease
// length it was taken with (the default of ExtendLease) and the claim's
// secret, which the store compares.
type leaseToken struct {
	id      int64
	attempt int
	lease   time.Duration
	secret  string
}

func (t leaseToken) String() string {
	return fmt.Sprintf("%s.%d.%d.%d.%s", leaseTokenPrefix, t.id, t.attempt, t.lease.Milliseconds(), t.secret)
}

// parseLeaseToken reads a token; a malformed one is a FieldError on "token".
func parseLeaseToken(s string) (leaseToken, error) {
	bad := fieldErr("token", "not a lease token")
	if s == "" {
		return leaseToken{}, fieldErr("token", "required")
	}
	parts := strings.Split(s, ".")
	if len(parts) != 5 || parts[0] != leaseTokenPrefix {
		return leaseToken{}, bad
	}
	id, err1 := strconv.ParseInt(parts[1], 10, 64)
	attempt, err2 := strconv.Atoi(parts[2])
	ms, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || id <= 0 || attempt <= 0 ||
		ms < MinRemoteLease.Milliseconds() || ms > MaxRemoteLease.Milliseconds() {
		return leaseToken{}, bad
	}
	sec := parts[4]
	if len(sec) != 2*leaseSecretBytes || strings.Trim(sec, "0123456789abcdef") != "" {
		return leaseToken{}, bad
	}
	return leaseToken{id: id, attempt: attempt, lease: time.Duration(ms) * time.Millisecond, secret: sec}, nil
}

// newLeaseSecret returns a fresh random secret for one claim.
func newLeaseSecret() (string, error) {
	b := make([]byte, leaseSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("rota: lease token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// checkName checks a kind or queue name for field.
func checkName(field, name string) error {
	if name == "" || len(name) > MaxNameLength || !nameRE.MatchString(name) {
		return fieldErr(field, "%q must be 1-%d letters, digits or . _ - : /", name, MaxNameLength)
	}
	return nil
}

// checkLeaseLength checks a lease length for field.
func checkLeaseLength(field string, d time.Duration) error {
	if d < MinRemoteLease || d > MaxRemoteLease {
		return fieldErr(field, "%s is out of range %s..%s", d, MinRemoteLease, MaxRemoteLease)
	}
	return nil
}

// withDefaults checks p and fills in its defaults.
func (p LeaseParams) withDefaults() (LeaseParams, error) {
	if len(p.Kinds) == 0 {
		return p, fieldErr("kinds", "required: name the kinds the worker runs")
	}
	for _, k := range p.Kinds {
		if err := checkName("kinds", k); err != nil {
			return p, err
		}
	}
	if len(p.Queues) == 0 {
		p.Queues = []string{store.DefaultQueue}
	}
	for _, q := range p.Queues {
		if err := checkName("queues", q); err != nil {
			return p, err
		}
	}
	switch {
	case p.Max == 0:
		p.Max = DefaultLeaseMax
	case p.Max < 1 || p.Max > MaxLeaseMax:
		return p, fieldErr("max", "%d is out of range 1..%d", p.Max, MaxLeaseMax)
	}
	if p.Lease == 0 {
		p.Lease = DefaultRemoteLease
	}
	if err := checkLeaseLength("lease", p.Lease); err != nil {
		return p, err
	}
	if len(p.Worker) > MaxWorkerLength || !utf8.ValidString(p.Worker) || strings.IndexFunc(p.Worker, unicode.IsControl) >= 0 {
		return p, fieldErr("worker", "want at most %d bytes of UTF-8 without control characters", MaxWorkerLength)
	}
	return p, nil
}

// Lease takes up to p.Max queued jobs of p.Kinds from p.Queues (in the
// order given) for a remote worker, each under a new lease token valid
// until its deadline. It does not wait: it returns no leases when nothing
// is queued. The kinds' cluster-wide limits (GlobalMaxWorkers, RateLimit),
// as this client knows them from registrations and the worker
// configuration, hold; a kind known nowhere has none. Lease works without
// Start; a node must run somewhere on the store to rescue the leases that
// expire.
func (c *Client) Lease(ctx context.Context, p LeaseParams) ([]Lease, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	secret, err := newLeaseSecret()
	if err != nil {
		return nil, err
	}
	node := p.Worker
	if node == "" {
		node = c.opts.NodeID
	}
	now := c.now()
	until := now.Add(p.Lease)
	c.remote.asked(now, p.Kinds...)
	var out []Lease
	for _, q := range p.Queues {
		left := p.Max - len(out)
		if left <= 0 {
			break
		}
		cp := store.ClaimParams{Queue: q, Node: node, Limit: left, Now: now, LeaseUntil: until, LeaseToken: secret,
			Kinds: make([]store.KindLimit, 0, len(p.Kinds))}
		for _, k := range p.Kinds {
			o := c.reg.options(k)
			cp.Kinds = append(cp.Kinds, store.KindLimit{Kind: k, Max: left, GlobalMax: o.GlobalMaxWorkers, Rate: o.RateLimit})
		}
		res, err := c.store.Claim(ctx, cp)
		if err != nil {
			if len(out) > 0 {
				// The jobs leased so far run on: their leases expire unseen
				// (and the jobs run again) unless returned.
				break
			}
			return nil, fmt.Errorf("rota: lease %s: %w", q, err)
		}
		if len(res.Jobs) == 0 {
			continue
		}
		ts := make([]store.Transition, len(res.Jobs))
		for i, j := range res.Jobs {
			ts[i] = store.Transition{Job: j, From: StateQueued}
			tok := leaseToken{id: j.ID, attempt: j.Attempt, lease: p.Lease, secret: secret}
			out = append(out, Lease{Token: tok.String(), Deadline: j.LeaseUntil, Job: newJob(j)})
			c.remote.granted(j.ID, j.Kind, j.LeaseUntil, now)
		}
		c.events.gate.Lock()
		c.events.transitions(ts, now)
		c.events.gate.Unlock()
	}
	return out, nil
}

// ExtendLease moves the deadline of the lease token to now+d (d = 0: the
// length the lease was taken with) and reports whether an abort was
// requested for its job. It returns ErrLeaseLost when the lease has ended.
func (c *Client) ExtendLease(ctx context.Context, token string, d time.Duration) (LeaseStatus, error) {
	tok, err := parseLeaseToken(token)
	if err != nil {
		return LeaseStatus{}, err
	}
	if d == 0 {
		d = tok.lease
	}
	if err := checkLeaseLength("lease", d); err != nil {
		return LeaseStatus{}, err
	}
	until := store.Micro(c.now().Add(d))
	rep, err := c.store.ExtendLeases(ctx, c.opts.NodeID,
		[]store.JobRef{{ID: tok.id, Attempt: tok.attempt, LeaseToken: tok.secret}}, until)
	if err != nil {
		return LeaseStatus{}, fmt.Errorf("rota: extend lease of job %d: %w", tok.id, err)
	}
	if len(rep.Lost) > 0 {
		return LeaseStatus{}, fmt.Errorf("rota: extend lease of job %d attempt %d: %w", tok.id, tok.attempt, ErrLeaseLost)
	}
	c.remote.extended(tok.id, until, c.now())
	return LeaseStatus{Deadline: until, AbortRequested: len(rep.CancelRequested) > 0}, nil
}

// CompleteLease ends the lease's job done with result (marshalled to JSON;
// nil stores none) and returns the job as it is now. An abort requested
// meanwhile does not undo a completion. It costs two store statements:
// the job is read, then finished under the token, and the answer is the
// job as read with the finish's changes applied.
func (c *Client) CompleteLease(ctx context.Context, token string, result any) (*Job, error) {
	var res []byte
	if result != nil {
		b, err := marshalResult(result)
		if err != nil {
			return nil, err
		}
		res = b
	}
	j, f, err := c.endLease(ctx, token, func(j *store.Job, _ Backoff, now time.Time) store.FinishParams {
		return completeFinish(c, j, res, now)
	})
	if err != nil {
		return nil, err
	}
	// What the finish changed (sqlFinish): a done finish is never turned
	// into an abort, and it keeps last_error.
	after := *j
	now := store.Micro(f.Now)
	after.State = StateDone
	after.Result = store.CleanJSON(res)
	after.LeaseUntil = time.Time{}
	after.CancelRequested = false
	after.FinishedAt, after.UpdatedAt = now, now
	rec := f.Record
	rec.StartedAt, rec.FinishedAt = store.Micro(rec.StartedAt), store.Micro(rec.FinishedAt)
	rec.Node, rec.Error, rec.Location = store.CleanText(rec.Node), store.CleanText(rec.Error), store.CleanText(rec.Location)
	after.Attempts = append(slices.Clip(j.Attempts), rec)
	return newJob(&after), nil
}

// FailLease ends the lease's attempt as failed: retried after the kind's
// backoff (or after f.RetryAfter) while attempts remain, else (or with
// f.Final) ended in error. A job whose abort was requested ends aborted.
// It returns the job as it is now.
func (c *Client) FailLease(ctx context.Context, token string, f LeaseFailure) (*Job, error) {
	switch {
	case f.Error == "":
		return nil, fieldErr("error", "required: say why the attempt failed")
	case f.RetryAfter < 0:
		return nil, fieldErr("retry_after", "%s is negative", f.RetryAfter)
	case f.Final && f.RetryAfter > 0:
		return nil, fieldErr("retry_after", "a final failure is not retried")
	}
	return c.endLeaseGet(ctx, token, func(j *store.Job, bo Backoff, now time.Time) store.FinishParams {
		var cause, werr error
		switch {
		case j.CancelRequested:
			cause = &abortCause{reason: ""}
		case f.Final:
			werr = Fail(errors.New(f.Error))
		default:
			werr = errors.New(f.Error)
			if f.RetryAfter > 0 {
				d := f.RetryAfter
				bo = BackoffFunc(func(int) time.Duration { return d })
			}
		}
		fin := finishFor(j, j.Node, j.StartedAt, now, werr, nil, cause, false, bo)
		if cause != nil {
			fin.Record.Error = f.Error // the worker's words; the abort's reason stays the job's last error
		}
		return fin
	})
}

// SnoozeLease puts the lease's job back to scheduled for after delay,
// without counting the attempt, and returns the job as it is now. A job
// whose abort was requested ends aborted instead.
func (c *Client) SnoozeLease(ctx context.Context, token string, delay time.Duration) (*Job, error) {
	if delay <= 0 {
		return nil, fieldErr("delay", "want a positive delay, not %s", delay)
	}
	return c.endLeaseGet(ctx, token, func(j *store.Job, bo Backoff, now time.Time) store.FinishParams {
		return finishFor(j, j.Node, j.StartedAt, now, Snooze(delay), nil, nil, false, bo)
	})
}

// endLeaseGet is endLease, then reads the job as it is after.
func (c *Client) endLeaseGet(ctx context.Context, token string,
	build func(j *store.Job, bo Backoff, now time.Time) store.FinishParams) (*Job, error) {
	j, _, err := c.endLease(ctx, token, build)
	if err != nil {
		return nil, err
	}
	return c.Get(ctx, j.ID)
}

// endLease ends the attempt of token with the finish that build makes for
// the job as stored and publishes the finish's event (as FailJob does). It
// returns the job as read before, with its history, and the finish.
func (c *Client) endLease(ctx context.Context, token string,
	build func(j *store.Job, bo Backoff, now time.Time) store.FinishParams) (*store.Job, store.FinishParams, error) {
	tok, err := parseLeaseToken(token)
	if err != nil {
		return nil, store.FinishParams{}, err
	}
	j, err := c.store.Get(ctx, tok.id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, store.FinishParams{}, leaseLost(tok)
	case err != nil:
		return nil, store.FinishParams{}, fmt.Errorf("rota: end lease of job %d: %w", tok.id, err)
	case j.State != StateRunning || j.Attempt != tok.attempt:
		return nil, store.FinishParams{}, leaseLost(tok)
	}
	now := c.now()
	ko := c.reg.options(j.Kind)
	f := build(j, backoffOr(ko.Backoff), now)
	f.LeaseToken = tok.secret
	f.Limited = ko.GlobalMaxWorkers > 0
	if err := c.finishRemote(ctx, j, f, now); err != nil {
		return nil, store.FinishParams{}, err
	}
	c.remote.ended(j.ID, j.Kind, now)
	return j, f, nil
}

// finishRemote writes f, the finish of remote lease j, and publishes its
// event; ErrLeaseLost when it did not apply.
func (c *Client) finishRemote(ctx context.Context, j *store.Job, f store.FinishParams, now time.Time) error {
	// Held until the event is out; see eventBus.finishes.
	c.events.finishes.RLock()
	defer c.events.finishes.RUnlock()
	states, err := c.store.Finish(ctx, []store.FinishParams{f})
	if err != nil {
		return fmt.Errorf("rota: end lease of job %d: %w", j.ID, err)
	}
	if len(states) != 1 || states[0] == "" {
		return fmt.Errorf("rota: end lease of job %d attempt %d: %w", j.ID, j.Attempt, ErrLeaseLost)
	}
	after := *j
	after.State = states[0] // aborted if an abort won over a retry
	logFailure(func() *slog.Logger { return c.jobLogger(j) }, f, after.State, j.MaxAttempts, false)
	if c.events.active() {
		c.events.publish(finishEvent(&after, f, now))
	} else {
		c.events.skip(1)
	}
	if !f.RunAt.IsZero() && !after.State.Final() {
		if n := c.runningNode(); n != nil {
			n.maint.consider(f.RunAt)
		}
	}
	return nil
}

// jobLogger is the client's logger with j's attributes, for what is logged
// of a job that a remote worker or a popper runs (a node's own workers
// log with the execution's logger).
func (c *Client) jobLogger(j *store.Job) *slog.Logger {
	return c.log.With(slog.Int64("job_id", j.ID), slog.String("kind", j.Kind), slog.Int("attempt", j.Attempt),
		slog.String("node", j.Node))
}

// marshalResult encodes a job's result.
func marshalResult(v any) ([]byte, error) {
	var j Job
	if err := j.SetResult(v); err != nil {
		return nil, fieldErr("result", "%v", err)
	}
	return j.resultJSON(), nil
}
