package rota_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

// recorder is a worker that records its CleanUp calls.
type recorder struct {
	work func(ctx context.Context, job *rota.Job) error

	mu       sync.Mutex
	cleanups map[int64][]rota.Outcome
}

func (r *recorder) Work(ctx context.Context, job *rota.Job) error { return r.work(ctx, job) }

func (r *recorder) CleanUp(ctx context.Context, job *rota.Job, o rota.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cleanups == nil {
		r.cleanups = map[int64][]rota.Outcome{}
	}
	r.cleanups[job.ID] = append(r.cleanups[job.ID], o)
}

func (r *recorder) cleanupsOf(id int64) []rota.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rota.Outcome(nil), r.cleanups[id]...)
}

// boom panics on the line it is declared on.
func boom() { panic("boom") }

// boomLine is boom's line, where the panic happens.
var boomLine = func() int {
	pc := reflect.ValueOf(boom).Pointer()
	_, line := runtime.FuncForPC(pc).FileLine(pc)
	return line
}()

func panickingWorker(ctx context.Context, job *rota.Job) error {
	boom()
	return nil
}

// calls adapts f, which gets the 1-based number of the call, to a work function.
func calls(f func(n int) error) func(ctx context.Context, job *rota.Job) error {
	var n atomic.Int64
	return func(ctx context.Context, job *rota.Job) error { return f(int(n.Add(1))) }
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	fastBackoff := rota.BackoffFunc(func(int) time.Duration { return time.Millisecond })
	tests := []struct {
		name        string
		maxAttempts int
		work        func(ctx context.Context, job *rota.Job) error
		// until the job reaches this state
		want        rota.State
		wantAttempt int // job.Attempt at the end
		wantOut     []rota.Outcome
		wantErr     string // substring of LastError
		wantResult  string
		check       func(t *testing.T, j *rota.Job)
		timeout     time.Duration // the kind's timeout
		jobTimeout  time.Duration // the job's own (rota.Timeout)
	}{
		{
			name: "nil is done with result",
			work: func(ctx context.Context, job *rota.Job) error {
				return job.SetResult(map[string]int{"n": 42})
			},
			want: rota.StateDone, wantAttempt: 1, wantOut: []rota.Outcome{"done"}, wantResult: `{"n":42}`,
		},
		{
			name:        "retry after is not counted",
			maxAttempts: 1,
			work: calls(func(n int) error {
				if n <= 2 {
					return rota.RetryAfter(time.Millisecond)
				}
				return nil
			}),
			want: rota.StateDone, wantAttempt: 1, wantOut: []rota.Outcome{"retry_later", "retry_later", "done"},
		},
		{
			name:        "snooze is not counted",
			maxAttempts: 1,
			work: calls(func(n int) error {
				if n == 1 {
					return rota.Snooze(time.Millisecond)
				}
				return nil
			}),
			want: rota.StateDone, wantAttempt: 1, wantOut: []rota.Outcome{"snooze", "done"},
		},
		{
			name: "cancel aborts",
			work: func(ctx context.Context, job *rota.Job) error { return rota.Cancel("not wanted") },
			want: rota.StateAborted, wantAttempt: 1, wantOut: []rota.Outcome{"cancel"}, wantErr: "not wanted",
		},
		{
			name:        "fail ends in error at once",
			maxAttempts: 5,
			work: func(ctx context.Context, job *rota.Job) error {
				return rota.Fail(errors.New("bad input"))
			},
			want: rota.StateError, wantAttempt: 1, wantOut: []rota.Outcome{"fail"}, wantErr: "bad input",
		},
		{
			name:        "error is retried then error",
			maxAttempts: 3,
			work: func(ctx context.Context, job *rota.Job) error {
				return fmt.Errorf("flaky %d", rota.AttemptFrom(ctx))
			},
			want: rota.StateError, wantAttempt: 3, wantOut: []rota.Outcome{"error", "error", "error"}, wantErr: "flaky 3",
		},
		{
			name:        "error then success",
			maxAttempts: 3,
			work: func(ctx context.Context, job *rota.Job) error {
				if rota.AttemptFrom(ctx) < 2 {
					return errors.New("first try fails")
				}
				return nil
			},
			want: rota.StateDone, wantAttempt: 2, wantOut: []rota.Outcome{"error", "done"},
		},
		{
			name:        "panic is recorded with its location",
			maxAttempts: 1,
			work:        panickingWorker,
			want:        rota.StateError, wantAttempt: 1, wantOut: []rota.Outcome{"panic"}, wantErr: "panic: boom",
			check: func(t *testing.T, j *rota.Job) {
				loc := j.Attempts[0].Location
				want := "outcome_test.go:" + strconv.Itoa(boomLine)
				if !strings.HasSuffix(loc, want) {
					t.Errorf("location = %q, want it to end with %q", loc, want)
				}
				if strings.Contains(loc, "executor.go") || strings.Contains(loc, "panic.go") {
					t.Errorf("location %q has rota or runtime frames", loc)
				}
			},
		},
		{
			name:        "timeout is retried",
			maxAttempts: 2,
			work: func(ctx context.Context, job *rota.Job) error {
				<-ctx.Done()
				return ctx.Err()
			},
			timeout: 20 * time.Millisecond,
			want:    rota.StateError, wantAttempt: 2, wantOut: []rota.Outcome{"timeout", "timeout"}, wantErr: "timeout",
		},
		{
			name:        "the job's timeout wins over a longer one of its kind",
			maxAttempts: 1,
			work: func(ctx context.Context, job *rota.Job) error {
				<-ctx.Done()
				return ctx.Err()
			},
			timeout: time.Hour, jobTimeout: 20 * time.Millisecond,
			want: rota.StateError, wantAttempt: 1, wantOut: []rota.Outcome{"timeout"}, wantErr: "timeout",
		},
		{
			name:        "the job's timeout wins over a shorter one of its kind",
			maxAttempts: 1,
			work: func(ctx context.Context, job *rota.Job) error {
				select { // outlives the kind's timeout, not the job's
				case <-time.After(200 * time.Millisecond):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			},
			timeout: 20 * time.Millisecond, jobTimeout: time.Minute,
			want: rota.StateDone, wantAttempt: 1, wantOut: []rota.Outcome{"done"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := &recorder{work: tt.work}
			c := setup(t, rota.Options{}, func(c *rota.Client) {
				must(t, c.Register("test.outcome", w, rota.KindOptions{Backoff: fastBackoff, Timeout: tt.timeout}))
			})
			opts := []rota.EnqueueOption{}
			if tt.maxAttempts > 0 {
				opts = append(opts, rota.MaxAttempts(tt.maxAttempts))
			}
			if tt.jobTimeout > 0 {
				opts = append(opts, rota.Timeout(tt.jobTimeout))
			}
			j := enqueue(t, c, "test.outcome", nil, opts...)
			j = waitState(t, c, j.ID, tt.want)
			if j.Attempt != tt.wantAttempt {
				t.Errorf("attempt = %d, want %d", j.Attempt, tt.wantAttempt)
			}
			if got := outcomes(j); fmt.Sprint(got) != fmt.Sprint(tt.wantOut) {
				t.Errorf("outcomes = %v, want %v", got, tt.wantOut)
			}
			if !strings.Contains(j.LastError, tt.wantErr) {
				t.Errorf("last error = %q, want it to contain %q", j.LastError, tt.wantErr)
			}
			if tt.wantResult != "" && string(j.Result) != tt.wantResult {
				t.Errorf("result = %s, want %s", j.Result, tt.wantResult)
			}
			for i, a := range j.Attempts {
				if a.Node != "test-node" || a.StartedAt.IsZero() || a.FinishedAt.Before(a.StartedAt) {
					t.Errorf("attempt %d = %+v: want node, start and finish", i, a)
				}
			}
			if got := w.cleanupsOf(j.ID); fmt.Sprint(got) != fmt.Sprint(tt.wantOut) {
				t.Errorf("CleanUp outcomes = %v, want %v", got, tt.wantOut)
			}
			if tt.check != nil {
				tt.check(t, j)
			}
		})
	}
}

// panickyCleanUp is a worker whose CleanUp hook panics.
type panickyCleanUp struct{ calls atomic.Int64 }

func (p *panickyCleanUp) Work(ctx context.Context, job *rota.Job) error { return nil }

func (p *panickyCleanUp) CleanUp(ctx context.Context, job *rota.Job, o rota.Outcome) {
	p.calls.Add(1)
	panic("clean-up failed")
}

func TestCleanUpPanicIsContained(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	w := &panickyCleanUp{}
	c := setup(t, rota.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, func(c *rota.Client) {
		must(t, c.Register("test.cleanup", w))
	})
	for range 2 {
		j := enqueue(t, c, "test.cleanup", nil)
		waitState(t, c, j.ID, rota.StateDone)
	}
	if w.calls.Load() != 2 {
		t.Errorf("CleanUp called %d times, want 2", w.calls.Load())
	}
	if !containsAll(logs.String(), "CleanUp panicked", "clean-up failed") {
		t.Errorf("the panic was not logged:\n%s", logs.String())
	}
}

// TestFailuresLogged: a failed attempt that will be retried is logged at
// warn level and a job's end in error at error level, with the job's id,
// kind and attempts, whether a node's worker or a remote worker failed
// it; outcomes that are not failures (done, retry later) log nothing.
func TestFailuresLogged(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	now := rota.BackoffFunc(func(int) time.Duration { return time.Millisecond })
	c := setup(t, rota.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))},
		func(c *rota.Client) {
			must(t, c.Register("t.flaky", rota.WorkFunc(func(context.Context, *rota.Job) error { return errors.New("flaky failure") }),
				rota.KindOptions{Backoff: now}))
			must(t, c.Register("t.later", rota.WorkFunc(func(context.Context, *rota.Job) error { return rota.RetryAfter(time.Hour) })))
		})
	flaky := enqueue(t, c, "t.flaky", nil, rota.MaxAttempts(2))
	later := enqueue(t, c, "t.later", nil)
	waitState(t, c, flaky.ID, rota.StateError)
	waitFor(t, "t.later retried later", func() bool {
		j, err := c.Get(context.Background(), later.ID)
		return err == nil && j.State == rota.StateScheduled
	})

	remote := enqueue(t, c, "t.remote", nil, rota.Queue("remote"), rota.MaxAttempts(3))
	ls, err := c.Lease(context.Background(), rota.LeaseParams{Kinds: []string{"t.remote"}, Queues: []string{"remote"}})
	if err != nil || len(ls) != 1 {
		t.Fatalf("lease: %v, %v", ls, err)
	}
	if _, err := c.FailLease(context.Background(), ls[0].Token, rota.LeaseFailure{Error: "remote trouble", RetryAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}

	lines := strings.Split(logs.String(), "\n")
	for _, w := range []struct {
		level, msg, attempts, err string
		id                        int64
	}{
		{"WARN", "attempt failed", "1/2", "flaky failure", flaky.ID},
		{"ERROR", "job failed", "2/2", "flaky failure", flaky.ID},
		{"WARN", "attempt failed", "1/3", "remote trouble", remote.ID},
	} {
		if !slices.ContainsFunc(lines, func(l string) bool {
			return containsAll(l, "level="+w.level, w.msg, "attempts="+w.attempts, w.err, fmt.Sprintf("job_id=%d", w.id))
		}) {
			t.Errorf("no %s line %q for job %d (attempts %s, %q) in:\n%s", w.level, w.msg, w.id, w.attempts, w.err, logs.String())
		}
	}
	if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, fmt.Sprintf("job_id=%d ", later.ID)) }) {
		t.Errorf("a retry-later attempt was logged:\n%s", logs.String())
	}
}
