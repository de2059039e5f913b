package rota_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

func TestExponentialBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		base, max time.Duration
		attempt   int
		want      time.Duration // without jitter
	}{
		{"first attempt waits the base", time.Second, time.Hour, 1, time.Second},
		{"second doubles", time.Second, time.Hour, 2, 2 * time.Second},
		{"fifth", time.Second, time.Hour, 5, 16 * time.Second},
		{"twelfth", time.Second, time.Hour, 12, 2048 * time.Second},
		{"capped at max", time.Second, time.Hour, 13, time.Hour},
		{"far past the cap does not overflow", time.Second, time.Hour, 10_000, time.Hour},
		{"base above max is capped", time.Minute, time.Second, 1, time.Second},
		{"attempt 0 waits the base", 100 * time.Millisecond, time.Minute, 0, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := rota.ExponentialBackoff(tt.base, tt.max, 0).Delay(tt.attempt); got != tt.want {
				t.Errorf("no jitter: Delay(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
			// With ±25% jitter every delay is within the band, and they spread.
			jittered := rota.ExponentialBackoff(tt.base, tt.max, 0.25)
			lo, hi := time.Duration(float64(tt.want)*0.75), time.Duration(float64(tt.want)*1.25)
			seen := map[time.Duration]bool{}
			for range 200 {
				d := jittered.Delay(tt.attempt)
				if d < lo || d > hi {
					t.Fatalf("jitter 0.25: Delay(%d) = %s, want within [%s, %s]", tt.attempt, d, lo, hi)
				}
				seen[d] = true
			}
			if len(seen) < 10 {
				t.Errorf("jitter 0.25: 200 delays took only %d values: not spread", len(seen))
			}
		})
	}
}

// TestBackoffPerKind checks which backoff sets a failed attempt's next run:
// the default (exponential from DefaultBackoffBase with ±DefaultBackoffJitter)
// for a kind registered without one, else the kind's own.
func TestBackoffPerKind(t *testing.T) {
	t.Parallel()
	failing := rota.WorkFunc(func(context.Context, *rota.Job) error { return errors.New("flaky") })
	const own = 7 * time.Minute
	c := setup(t, rota.Options{}, func(c *rota.Client) {
		must(t, c.Register("test.default_backoff", failing))
		must(t, c.Register("test.own_backoff", failing, rota.KindOptions{
			Backoff: rota.BackoffFunc(func(attempt int) time.Duration { return time.Duration(attempt) * own }),
		}))
	})
	tests := []struct {
		kind   string
		lo, hi time.Duration // of run_at minus the attempt's finish
	}{
		{"test.default_backoff",
			time.Duration(float64(rota.DefaultBackoffBase) * (1 - rota.DefaultBackoffJitter)),
			time.Duration(float64(rota.DefaultBackoffBase) * (1 + rota.DefaultBackoffJitter))},
		{"test.own_backoff", own, own},
	}
	for _, tt := range tests {
		j := enqueue(t, c, tt.kind, nil, rota.MaxAttempts(3))
		j = waitJob(t, c, j.ID, "first attempt to fail", func(j *rota.Job) bool {
			return len(j.Attempts) == 1 && j.Attempts[0].Outcome == "error"
		})
		if j.State != rota.StateRetrying && j.State != rota.StateQueued && j.State != rota.StateRunning {
			t.Errorf("%s: state %s after a failed attempt, want retrying", tt.kind, j.State)
		}
		if d := j.RunAt.Sub(j.Attempts[0].FinishedAt); d < tt.lo || d > tt.hi {
			t.Errorf("%s: next run %s after the failed attempt, want within [%s, %s]", tt.kind, d, tt.lo, tt.hi)
		}
	}
}

// TestRetryAfterSchedules checks that RetryAfter(d) and Snooze(d) put the job
// back to scheduled at the attempt's end plus d, with the attempt recorded
// but not counted.
func TestRetryAfterSchedules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		delay   time.Duration
		outcome rota.Outcome
	}{
		{"retry after", rota.RetryAfter(time.Hour), time.Hour, "retry_later"},
		{"snooze", rota.Snooze(90 * time.Second), 90 * time.Second, "snooze"},
		{"wrapped retry after", errorsJoinWrap(rota.RetryAfter(time.Minute)), time.Minute, "retry_later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := setup(t, rota.Options{}, func(c *rota.Client) {
				must(t, c.Register("test.later", rota.WorkFunc(func(context.Context, *rota.Job) error { return tt.err })))
			})
			j := enqueue(t, c, "test.later", nil, rota.MaxAttempts(1))
			j = waitState(t, c, j.ID, rota.StateScheduled)
			if j.Attempt != 0 {
				t.Errorf("attempt = %d, want 0: a retry-later is not counted", j.Attempt)
			}
			a := lastAttempt(t, j)
			if a.Outcome != tt.outcome || a.Error != "" {
				t.Errorf("attempt = %+v, want outcome %s without an error", a, tt.outcome)
			}
			if got := j.RunAt.Sub(a.FinishedAt); got != tt.delay {
				t.Errorf("run_at is %s after the attempt ended, want %s", got, tt.delay)
			}
		})
	}
}

// errorsJoinWrap wraps err the way a worker might before returning it.
func errorsJoinWrap(err error) error { return errors.Join(errors.New("rate limited"), err) }
