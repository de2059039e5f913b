package rota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotahq/rota/store"
)

// Causes of a job context's cancellation, read with context.Cause.
var (
	errCauseShutdown = errors.New("rota: node shutting down")
	errCauseLost     = errors.New("rota: lease lost")
	errCauseTimeout  = errors.New("rota: attempt timed out")
	errCauseFinished = errors.New("rota: attempt finished")
)

// abortCause is the cancellation cause of an aborted job. Its reason may
// arrive after the cancellation (a store notice can beat the Abort call
// that caused it).
type abortCause struct {
	mu     sync.Mutex
	reason string
}

func (a *abortCause) Error() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reason == "" {
		return "aborted"
	}
	return a.reason // the state and the attempt's outcome already say "aborted"
}

// hasReason reports whether the abort's reason is known.
func (a *abortCause) hasReason() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reason != ""
}

// fill sets the reason if none is known yet.
func (a *abortCause) fill(reason string) {
	a.mu.Lock()
	if a.reason == "" {
		a.reason = reason
	}
	a.mu.Unlock()
}

// execution is one attempt of a job on this node.
type execution struct {
	job     Job
	n       *node
	prod    *producer
	kind    *kindRT
	started time.Time

	ctx    context.Context // cancelled with a cause on abort, shutdown or lost lease
	cancel context.CancelCauseFunc
	jctx   jobContext // the worker's context (ctx with deadline and job values)

	returned atomic.Bool  // the worker's goroutine is done
	abortArm atomic.Bool  // an abort grace timer was started
	handed   atomic.Bool  // the settled finish was given to the completer
	holds    atomic.Int32 // the goroutine and the finish each hold the slot
	log      atomic.Pointer[slog.Logger]
	// abort is set once the job is aborted, even if its context was
	// already cancelled for another reason (shutdown) or the worker has
	// returned: the attempt then ends aborted unless it ended final.
	abort atomic.Pointer[abortCause]

	// The attempt's end is settled once, by whoever comes first: the
	// goroutine when the worker returns, a forced finish after a grace, or
	// a lost lease (which finishes nothing).
	mu      sync.Mutex
	settled bool
	fin     store.FinishParams // what the completer writes
	outcome Outcome            // the recorded outcome (CleanUp gets it)
}

// jobContext is a worker's context: it adds the execution to a parent's
// values without an allocation of its own.
type jobContext struct {
	context.Context
	ex *execution
}

func (c *jobContext) Value(key any) any {
	if key == ctxKeyJob {
		return c.ex
	}
	return c.Context.Value(key)
}

func newExecution(n *node, p *producer, k *kindRT, j *store.Job, now time.Time) *execution {
	if k == nil {
		// The store returned a kind that was not asked for: put it back.
		k = &kindRT{kind: j.Kind, worker: WorkFunc(func(context.Context, *Job) error {
			return RetryAfter(n.c.opts.PollInterval)
		}), handler: n.log.Handler(), slots: new(kindSlots)}
	}
	ex := &execution{n: n, prod: p, kind: k, started: now}
	ex.job.Job = *j
	ex.holds.Store(2)
	ex.ctx, ex.cancel = context.WithCancelCause(n.jobBase)
	return ex
}

// logger is the job's logger: the client's, with job attributes, at the
// kind's level. Built on first use.
func (ex *execution) logger() *slog.Logger {
	if l := ex.log.Load(); l != nil {
		return l
	}
	l := slog.New(ex.kind.handler).With(
		slog.Int64("job_id", ex.job.ID),
		slog.String("kind", ex.job.Kind),
		slog.Int("attempt", ex.job.Attempt),
		slog.String("node", ex.n.id),
	)
	ex.log.CompareAndSwap(nil, l)
	return ex.log.Load()
}

// timeout is the attempt's time limit.
func (ex *execution) timeout() time.Duration {
	switch {
	case ex.job.Timeout > 0:
		return ex.job.Timeout
	case ex.kind.opts.Timeout > 0:
		return ex.kind.opts.Timeout
	}
	return DefaultTimeout
}

// settle records how the attempt ended unless that is settled already; it
// reports whether the caller settled it (and so must hand fin over).
func (ex *execution) settle(fin store.FinishParams) bool {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.settled {
		return false
	}
	ex.settled, ex.fin, ex.outcome = true, fin, fin.Record.Outcome
	return true
}

// finishPending reports whether the attempt has a settled finish to write
// (not a lost lease, which writes nothing) that was not handed over yet.
func (ex *execution) finishPending() bool {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.settled && ex.outcome != store.OutcomeLost && !ex.handed.Load()
}

// handOver gives the settled finish to the completer, once.
func (n *node) handOver(ex *execution) {
	if ex.handed.CompareAndSwap(false, true) {
		n.completer.add(ex)
	}
}

// settledOutcome is the outcome recorded by settle.
func (ex *execution) settledOutcome() Outcome {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.outcome
}

// release drops one hold on the slot; the last frees it.
func (ex *execution) release() {
	if ex.holds.Add(-1) != 0 {
		return
	}
	ex.n.active.Add(-1)
	ex.prod.used.Add(-1)
	if ex.prod.more.Load() {
		ex.prod.wakeup()
	}
	ex.kind.slots.used.Add(-1)
	if w := ex.kind.slots.waiters.Load(); w != 0 {
		ex.n.wakeMask(w)
	}
}

// execute runs one attempt in its own goroutine.
func (n *node) execute(ex *execution) {
	defer n.execWG.Done()
	// The timeout runs on the wall clock (Options.Clock is for job semantics).
	tctx, tcancel := context.WithTimeoutCause(ex.ctx, ex.timeout(), errCauseTimeout)
	ex.jctx = jobContext{Context: tctx, ex: ex}

	// A worker that ignores its timeout is finished without it after
	// AbortGrace, as an aborted one is (its slot stays taken until it returns).
	stopGrace := context.AfterFunc(tctx, func() {
		if !errors.Is(context.Cause(tctx), errCauseTimeout) {
			return // abort and shutdown arm their own grace
		}
		time.AfterFunc(n.c.opts.AbortGrace, func() {
			if !ex.returned.Load() && ex.cause() == nil {
				fin := finishFor(&ex.job.Job, n.id, ex.started, n.c.now(), errCauseTimeout, nil, nil, true, ex.kind.backoff())
				n.forceSettle(ex, fin, "rota: worker did not return after its timeout; finishing the job without it")
			}
		})
	})
	pan, werr := callWork(&ex.jctx, ex.kind.worker, &ex.job)
	stopGrace()

	now := n.c.now()
	cause := ex.cause()
	timedOut := cause == nil && errors.Is(context.Cause(tctx), errCauseTimeout)
	tcancel()
	ex.returned.Store(true)

	if pan != nil {
		ex.logger().Error("rota: worker panicked", "panic", pan.value, "location", pan.location)
	}
	fin := finishFor(&ex.job.Job, n.id, ex.started, now, werr, pan, cause, timedOut, ex.kind.backoff())
	if fin.State == StateDone {
		fin.Result = ex.job.resultJSON()
	}
	if ex.settle(fin) {
		logFailure(ex.logger, fin, fin.State, ex.job.MaxAttempts, pan != nil)
		// CleanUp runs before the finish is written (a shutdown whose
		// grace ends first writes it without waiting; see node.stop).
		n.cleanUp(ex, fin.Record.Outcome)
		n.handOver(ex)
	} else {
		// A forced finish (abort grace, shutdown) or a lost lease came first.
		n.cleanUp(ex, ex.settledOutcome())
	}
	ex.cancel(errCauseFinished)
	ex.release()
}

// logFailure logs an attempt that failed (f is its finish, state the
// state it left the job in, maxAttempts the job's) with the logger log
// returns: one to be retried at warn level,
// unless a panic was logged already (logged), and the job's end in error
// at error level. Outcomes that are not failures of the job (done, retry
// later, snooze, cancel, an abort or an interruption) are not logged, and
// cost no logger (a job's logger is built when first needed).
func logFailure(log func() *slog.Logger, f store.FinishParams, state State, maxAttempts int, logged bool) {
	switch {
	case state == StateRetrying && !logged:
		log().Warn("rota: attempt failed; the job will be retried", "outcome", f.Record.Outcome, "err", f.Record.Error,
			"attempts", fmt.Sprintf("%d/%d", f.Attempt, maxAttempts), "retry_at", f.RunAt)
	case state == StateError:
		log().Error("rota: job failed", "outcome", f.Record.Outcome, "err", f.Record.Error,
			"attempts", fmt.Sprintf("%d/%d", f.Attempt, maxAttempts))
	}
}

// cause is why the attempt's context was cancelled (nil if it was not); an
// abort wins over a shutdown that cancelled the context first.
func (ex *execution) cause() error {
	if ac := ex.abort.Load(); ac != nil {
		return ac
	}
	return context.Cause(ex.ctx)
}

// lateAbort turns f, the attempt's settled finish, into an abort if the job
// was aborted after the worker returned (or after a shutdown interrupted
// it) and f would have run the job again. A final f stands.
func (ex *execution) lateAbort(f *store.FinishParams) {
	ac := ex.abort.Load()
	if ac == nil || f.State.Final() {
		return
	}
	*f = finishFor(&ex.job.Job, f.Record.Node, f.Record.StartedAt, f.Now, ac, nil, ac, false, ex.kind.backoff())
}

// cleanUp calls the worker's CleanUp hook, if any, with its own context.
func (n *node) cleanUp(ex *execution, o Outcome) {
	cu, ok := ex.kind.worker.(CleanUper)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(&ex.jctx), DefaultCleanUpTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			ex.logger().Error("rota: CleanUp panicked", "panic", r, "location", panicLocation())
		}
	}()
	cu.CleanUp(ctx, &ex.job, o)
}

// forceFinish ends an attempt whose worker did not return within the grace
// after its context was cancelled. Its slot stays taken until it returns.
func (n *node) forceFinish(ex *execution, cause error) {
	if ac := ex.abort.Load(); ac != nil {
		cause = ac
	}
	fin := finishFor(&ex.job.Job, n.id, ex.started, n.c.now(), cause, nil, cause, false, ex.kind.backoff())
	n.forceSettle(ex, fin, "rota: worker did not return after cancellation; finishing the job without it")
}

// forceSettle settles the attempt as fin, unless it is settled already, and
// hands the finish over, logging msg at error level.
func (n *node) forceSettle(ex *execution, fin store.FinishParams, msg string) {
	if !ex.settle(fin) {
		return
	}
	ex.logger().Error(msg, "job_id", ex.job.ID, "outcome", fin.Record.Outcome, "grace", n.c.opts.AbortGrace)
	n.handOver(ex)
}

// abortLocal cancels a job running on this node; after AbortGrace it is
// finished aborted even if its worker ignores the cancellation. The abort
// is recorded even when the context was cancelled earlier (by shutdown, or
// when the worker returned and its finish is not written yet), so that the
// attempt still ends aborted instead of going back to a queue.
func (n *node) abortLocal(ex *execution, reason string) {
	if reason == "" {
		reason = n.abortReason(ex)
	}
	ac := &abortCause{reason: reason}
	if !ex.abort.CompareAndSwap(nil, ac) {
		ac = ex.abort.Load()
		if reason != "" {
			ac.fill(reason)
		}
	}
	ex.cancel(ac)
	if context.Cause(ex.ctx) != error(ac) {
		// Cancelled earlier for another reason: finished (the settled
		// finish is turned into the abort when written), lost, or shutdown
		// (whose forced finish after the grace ends it aborted).
		return
	}
	if !ex.abortArm.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(n.c.opts.AbortGrace, func() {
		if !ex.returned.Load() {
			n.forceFinish(ex, ac)
		}
	})
}

// lose gives up an attempt whose lease the node lost: its context is
// cancelled and nothing is finished (another node owns the job now).
func (n *node) lose(ex *execution) {
	// Cancel first, whoever settles: a caller about to start another
	// attempt of the job relies on this one being cancelled on return.
	ex.cancel(errCauseLost)
	if !ex.settle(store.FinishParams{Record: store.Attempt{Outcome: store.OutcomeLost}}) {
		return
	}
	ex.logger().Warn("rota: lease lost; the job's context is cancelled and its result dropped")
	n.leasesLost.Add(1)
	n.running.remove(ex)
	n.inflight.Add(-1)
	ex.release()
}

// panicInfo is a recovered panic.
type panicInfo struct {
	value    any
	location string
}

// callWork runs the worker, turning a panic into a panicInfo.
func callWork(ctx context.Context, w Worker, j *Job) (pan *panicInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			pan = &panicInfo{value: r, location: panicLocation()}
		}
	}()
	return nil, w.Work(ctx, j)
}

// Function name prefixes of the frames a panic location leaves out: the
// runtime's and rota's own.
const (
	runtimeFuncPrefix  = "runtime."
	rotaFuncPrefix     = "github.com/rotahq/rota."
	internalFuncPrefix = "github.com/rotahq/rota/internal/"
)

// ownFrame reports whether a function belongs to the runtime or to rota.
func ownFrame(fn string) bool {
	return strings.HasPrefix(fn, runtimeFuncPrefix) || strings.HasPrefix(fn, rotaFuncPrefix) ||
		strings.HasPrefix(fn, internalFuncPrefix)
}

// panicLocation returns the file:line chain of the panicking goroutine's
// frames, called from a deferred recover: base file names, outermost first
// and innermost last, joined by " -> ", without runtime or rota frames.
func panicLocation() string {
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var parts []string
	for {
		f, more := frames.Next()
		if f.Function != "" && !ownFrame(f.Function) {
			parts = append(parts, filepath.Base(f.File)+":"+strconv.Itoa(f.Line))
		}
		if !more {
			break
		}
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, " -> ")
}

// finishFor maps how an attempt ended to its finish:
//
//   - aborted from outside (cause is an abortCause) → aborted;
//   - interrupted by shutdown with an error → queued, not counted;
//   - nil → done; RetryAfter/Snooze → scheduled at now+d, not counted;
//   - Cancel → aborted; Fail → error;
//   - any other error, a panic or a timeout → retrying after the backoff while
//     attempts remain, else error.
func finishFor(j *store.Job, node string, started, now time.Time, werr error, pan *panicInfo,
	cause error, timedOut bool, bo Backoff) store.FinishParams {
	f := store.FinishParams{ID: j.ID, Attempt: j.Attempt, Now: now}
	f.Record = store.Attempt{Number: j.Attempt, Node: node, StartedAt: started, FinishedAt: now}
	fail := func(o Outcome, msg string) {
		f.Record.Outcome = o
		f.Record.Error = msg
		f.Error = msg
		if j.Attempt < j.MaxAttempts {
			f.State = StateRetrying
			f.RunAt = now.Add(bo.Delay(j.Attempt))
		} else {
			f.State = StateError
		}
	}
	var ac *abortCause
	if errors.As(cause, &ac) {
		f.State = StateAborted
		f.Record.Outcome = store.OutcomeAborted
		f.Record.Error = ac.Error()
		if ac.hasReason() {
			f.Error = f.Record.Error
		} // else the store keeps the reason the abort request left in last_error
		return f
	}
	o, delay := OutcomeOf(werr)
	shutdown := errors.Is(cause, errCauseShutdown)
	if shutdown && (pan != nil || o == store.OutcomeError) {
		f.State = StateQueued
		f.Uncount = true
		f.Record.Outcome = store.OutcomeInterrupted
		f.Record.Error = "interrupted: node shut down"
		return f
	}
	if pan != nil {
		fail(store.OutcomePanic, fmt.Sprintf("panic: %v", pan.value))
		f.Record.Location = pan.location
		return f
	}
	switch o {
	case store.OutcomeDone:
		f.State = StateDone
		f.Record.Outcome = store.OutcomeDone
	case store.OutcomeRetryLater, store.OutcomeSnooze:
		f.State = StateScheduled
		f.RunAt = now.Add(delay)
		f.Uncount = true
		f.Record.Outcome = o
		// Not an error of the job; a reason given with it (an exec worker's
		// stderr) goes to the attempt's record only.
		var oe *outcomeError
		if errors.As(werr, &oe) && oe.err != nil {
			f.Record.Error = oe.err.Error()
		}
	case store.OutcomeCancel:
		f.State = StateAborted
		f.Record.Outcome = o
		f.Error = werr.Error()
		f.Record.Error = f.Error
	case store.OutcomeFail:
		f.State = StateError
		f.Record.Outcome = o
		f.Error = werr.Error()
		f.Record.Error = f.Error
	default:
		if timedOut {
			fail(store.OutcomeTimeout, "timeout: "+werr.Error())
		} else {
			fail(store.OutcomeError, werr.Error())
		}
	}
	return f
}
