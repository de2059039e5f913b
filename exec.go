package rota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotahq/rota/internal/duration"
	"github.com/rotahq/rota/internal/execworker"
	"github.com/rotahq/rota/store"
)

// DefaultExecRetryDelay is how long a command that exits with status 75
// (EX_TEMPFAIL) waits before it runs again, unless it gives its own delay
// (see Command); the attempt is not counted.
const DefaultExecRetryDelay = 10 * time.Second

// execRetryAfter reads the delay that a command exiting with status 75
// may give as the last line of its standard output (out, when that line
// is JSON): {"retry_after": "5m"} (a duration as the HTTP API reads one:
// "90s", "1h30m", "7d") or {"retry_after": 300} (seconds). ok is false
// when out gives none; err says why a given one is not a positive delay.
func execRetryAfter(out json.RawMessage) (d time.Duration, ok bool, err error) {
	var hint struct {
		RetryAfter json.RawMessage `json:"retry_after"`
	}
	if len(out) == 0 || out[0] != '{' || json.Unmarshal(out, &hint) != nil ||
		len(hint.RetryAfter) == 0 || string(hint.RetryAfter) == "null" {
		return 0, false, nil
	}
	if d, err = duration.ParseJSON(hint.RetryAfter); err != nil {
		return 0, false, fmt.Errorf("retry_after %w", err)
	}
	if d <= 0 {
		return 0, false, fmt.Errorf("retry_after %s is not a positive delay", hint.RetryAfter)
	}
	return d, true, nil
}

// Command returns a Worker that runs argv as an external program for each
// job (OMA's `python3 worker.py`): the job as JSON on its standard input,
// ROTA_JOB_ID, ROTA_JOB_KIND, ROTA_JOB_QUEUE, ROTA_JOB_KEY and ROTA_ATTEMPT
// in its environment; the kind's worker configuration (what a Go worker
// reads with ConfigFrom) is the input's "config" object. Exit 0 is done,
// with the last line of standard output as the result if it is JSON; exit
// 75 is RetryAfter(DefaultExecRetryDelay), or RetryAfter of the delay the
// last line of standard output gives as {"retry_after": "5m"} (a duration
// as the HTTP API reads one, "7d" too) or {"retry_after": 300} (seconds),
// with stderr's tail in the attempt's
// record; after exit 0 the tail of standard error is logged at
// debug level with the job's logger; any other exit fails the attempt
// with the end of standard error. On abort, timeout or shutdown the process
// group gets SIGTERM, then SIGKILL after half of Options.AbortGrace.
func Command(argv ...string) Worker {
	return &execWorker{cmd: execworker.Command{Argv: append([]string(nil), argv...)}}
}

// ShellCommand returns a Worker that runs script with /bin/sh -c for each
// job; otherwise it is Command.
func ShellCommand(script string) Worker {
	return &execWorker{cmd: execworker.Command{Shell: script}}
}

// execWorker runs a job as a command through internal/execworker.
type execWorker struct {
	cmd execworker.Command
}

// execJob is the job as a command reads it on standard input.
type execJob struct {
	ID       int64             `json:"id"`
	Kind     string            `json:"kind"`
	Queue    string            `json:"queue"`
	Args     json.RawMessage   `json:"args"`
	Key      string            `json:"key,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Priority int               `json:"priority"`
	Attempt  int               `json:"attempt"`
	// MaxAttempts lets a command tell its last attempt.
	MaxAttempts int       `json:"max_attempts"`
	CreatedAt   time.Time `json:"created_at"`
	// Config is the kind's worker configuration, custom keys included (a
	// Go worker's ConfigFrom(ctx).Raw()); absent when the kind has none.
	Config json.RawMessage `json:"config,omitempty"`
}

// Work implements Worker.
func (w *execWorker) Work(ctx context.Context, job *Job) error {
	ej := execJob{
		ID: job.ID, Kind: job.Kind, Queue: job.Queue, Args: job.Args, Key: job.Key,
		Metadata: job.Metadata, Priority: job.Priority, Attempt: job.Attempt,
		MaxAttempts: job.MaxAttempts, CreatedAt: job.CreatedAt,
	}
	if wc := ConfigFrom(ctx); wc != nil {
		if raw := wc.Raw(); json.Valid(raw) {
			ej.Config = raw
		}
	}
	in, err := json.Marshal(ej)
	if err != nil {
		return Fail(fmt.Errorf("encode job for command: %w", err))
	}
	opts := execworker.Options{}
	if ex, ok := ctx.Value(ctxKeyJob).(*execution); ok {
		// Leave the process group half the abort grace to die before the
		// job is finished without it.
		opts.KillGrace = max(ex.n.c.opts.AbortGrace/2, time.Millisecond)
	}
	res, err := execworker.Run(ctx, w.cmd, execworker.Input{
		ID: job.ID, Kind: job.Kind, Queue: job.Queue, Key: job.Key, Attempt: job.Attempt, Job: in,
	}, opts)
	switch {
	case err == nil:
		// A command's standard error is its log: on success it is kept
		// nowhere else, so its tail goes to the job's logger at debug
		// (the kind's log_level decides whether it shows).
		if t := strings.TrimSpace(res.StderrTail); t != "" {
			Logger(ctx).Debug("rota: command's standard error (tail)", "stderr", t)
		}
		if len(res.Output) > 0 {
			job.mu.Lock()
			job.result = res.Output
			job.mu.Unlock()
		}
		return nil
	case errors.Is(err, execworker.ErrRetryLater):
		// RetryAfter, with the exit status and stderr's tail for the
		// attempt's record; after the command's own delay if it gave one.
		delay := DefaultExecRetryDelay
		if d, ok, herr := execRetryAfter(res.Output); herr != nil {
			Logger(ctx).Warn("rota: the command's retry_after is not a delay; it runs again after the default",
				"err", herr, "default", DefaultExecRetryDelay)
		} else if ok {
			delay = d
		}
		return &outcomeError{outcome: store.OutcomeRetryLater, delay: delay, err: err}
	case errors.Is(err, execworker.ErrNoCommand):
		return Fail(err)
	}
	return err
}
