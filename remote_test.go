package rota_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// TestRemoteLeaseOutlivesTheNode: the node's heartbeats renew its own
// attempts, not remote leases; its graceful stop puts its own attempts
// back, not remote leases; and after a restart (a new client on the same
// store and node id) the token still extends and completes the job.
func TestRemoteLeaseOutlivesTheNode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rota.db")
	st := openStoreAt(t, path)
	c := newClient(t, st, rota.Options{LeaseDuration: 150 * time.Millisecond, AbortGrace: 50 * time.Millisecond})
	must(t, c.Register("local.block", rota.WorkFunc(func(ctx context.Context, _ *rota.Job) error {
		<-ctx.Done()
		return ctx.Err()
	})))
	must(t, c.Start(context.Background()))
	ctx := context.Background()

	remote := enqueue(t, c, "remote.k", nil)
	ls, err := c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.k"}, Lease: time.Hour, Worker: "far-away"})
	if err != nil || len(ls) != 1 || ls[0].Job.ID != remote.ID {
		t.Fatalf("Lease = %+v, %v", ls, err)
	}
	deadline := ls[0].Deadline

	local := enqueue(t, c, "local.block", nil)
	first := waitState(t, c, local.ID, rota.StateRunning).LeaseUntil
	second := waitJob(t, c, local.ID, "a heartbeat of the node", func(j *rota.Job) bool { return j.LeaseUntil.After(first) }).LeaseUntil
	waitJob(t, c, local.ID, "another heartbeat of the node", func(j *rota.Job) bool { return j.LeaseUntil.After(second) })
	if j, err := c.Get(ctx, remote.ID); err != nil || j.State != rota.StateRunning || !j.LeaseUntil.Equal(deadline) || j.Node != "far-away" {
		t.Fatalf("remote lease after the node's heartbeats: %+v, %v; want running on far-away until %v", j, err, deadline)
	}

	stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	must(t, c.Stop(stopCtx))
	if j := waitState(t, c, local.ID, rota.StateQueued); lastAttempt(t, j).Outcome != store.OutcomeInterrupted {
		t.Errorf("the node's own job after its stop: %+v, want put back interrupted", j.Attempts)
	}
	if j, err := c.Get(ctx, remote.ID); err != nil || j.State != rota.StateRunning || !j.LeaseUntil.Equal(deadline) {
		t.Fatalf("remote lease after the node stopped: %+v, %v; want running until %v", j, err, deadline)
	}

	c2 := newClient(t, openStoreAt(t, path), rota.Options{LeaseDuration: 150 * time.Millisecond})
	start(t, c2)
	st2, err := c2.ExtendLease(ctx, ls[0].Token, 0)
	if err != nil || st2.AbortRequested || time.Until(st2.Deadline) < 30*time.Minute {
		t.Fatalf("ExtendLease after the restart = %+v, %v; want about an hour more", st2, err)
	}
	j, err := c2.CompleteLease(ctx, ls[0].Token, map[string]int{"n": 1})
	if err != nil || j.State != rota.StateDone || string(j.Result) != `{"n":1}` {
		t.Fatalf("CompleteLease after the restart = %+v, %v", j, err)
	}
	if _, err := c2.CompleteLease(ctx, ls[0].Token, nil); !errors.Is(err, rota.ErrLeaseLost) || !errors.Is(err, rota.ErrConflict) {
		t.Errorf("second CompleteLease: %v, want ErrLeaseLost (an ErrConflict)", err)
	}
}

// TestLeaseFailures: how FailLease and SnoozeLease end an attempt, with
// the job's own max attempts.
func TestLeaseFailures(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	ctx := context.Background()
	take := func(maxAttempts int) rota.Lease {
		t.Helper()
		j := enqueue(t, c, "remote.f", nil, rota.MaxAttempts(maxAttempts))
		ls, err := c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.f"}})
		if err != nil || len(ls) != 1 || ls[0].Job.ID != j.ID {
			t.Fatalf("Lease = %+v, %v", ls, err)
		}
		return ls[0]
	}
	cases := []struct {
		name        string
		maxAttempts int
		end         func(tok string) (*rota.Job, error)
		state       rota.State
		outcome     rota.Outcome
		attempt     int
		runIn       time.Duration // how far run_at is from now, about
	}{
		{"error with attempts left", 3, func(tok string) (*rota.Job, error) {
			return c.FailLease(ctx, tok, rota.LeaseFailure{Error: "boom", RetryAfter: time.Hour})
		}, rota.StateRetrying, "error", 1, time.Hour},
		{"error on the last attempt", 1, func(tok string) (*rota.Job, error) {
			return c.FailLease(ctx, tok, rota.LeaseFailure{Error: "boom", RetryAfter: time.Hour})
		}, rota.StateError, "error", 1, 0},
		{"final", 5, func(tok string) (*rota.Job, error) {
			return c.FailLease(ctx, tok, rota.LeaseFailure{Error: "bad input", Final: true})
		}, rota.StateError, "fail", 1, 0},
		{"snooze", 1, func(tok string) (*rota.Job, error) { return c.SnoozeLease(ctx, tok, 2*time.Hour) },
			rota.StateScheduled, "snooze", 0, 2 * time.Hour},
	}
	for _, tc := range cases {
		l := take(tc.maxAttempts)
		j, err := tc.end(l.Token)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if j.State != tc.state || j.Attempt != tc.attempt || lastAttempt(t, j).Outcome != tc.outcome {
			t.Errorf("%s: %s attempt %d outcome %s; want %s attempt %d outcome %s",
				tc.name, j.State, j.Attempt, lastAttempt(t, j).Outcome, tc.state, tc.attempt, tc.outcome)
		}
		if tc.runIn > 0 {
			if d := time.Until(j.RunAt); d < tc.runIn-time.Minute || d > tc.runIn+time.Minute {
				t.Errorf("%s: runs in %v, want about %v", tc.name, d, tc.runIn)
			}
		}
	}
}

// TestLeaseBadInput: Lease and the token methods refuse bad input with a
// FieldError naming the field, before anything is claimed.
func TestLeaseBadInput(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	ctx := context.Background()
	j := enqueue(t, c, "remote.bad", nil)
	cases := []struct {
		field string
		call  func() error
	}{
		{"kinds", func() error { _, err := c.Lease(ctx, rota.LeaseParams{}); return err }},
		{"kinds", func() error {
			_, err := c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.bad", "a b"}})
			return err
		}},
		{"queues", func() error {
			_, err := c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.bad"}, Queues: []string{""}})
			return err
		}},
		{"max", func() error {
			_, err := c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.bad"}, Max: 1001})
			return err
		}},
		{"max", func() error {
			_, err := c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.bad"}, Max: -1})
			return err
		}},
		{"lease", func() error {
			_, err := c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.bad"}, Lease: time.Millisecond})
			return err
		}},
		{"worker", func() error {
			_, err := c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.bad"}, Worker: strings.Repeat("w", 201)})
			return err
		}},
		{"token", func() error { _, err := c.ExtendLease(ctx, "", 0); return err }},
		{"token", func() error {
			_, err := c.ExtendLease(ctx, "rl1.1.1.500.00000000000000000000000000000000", 0)
			return err
		}},
		{"token", func() error {
			_, err := c.CompleteLease(ctx, "rl2.1.1.30000.00000000000000000000000000000000", nil)
			return err
		}},
		{"token", func() error {
			_, err := c.SnoozeLease(ctx, "rl1.1.1.30000.0000000000000000000000000000000G", time.Minute)
			return err
		}},
		{"error", func() error { _, err := c.FailLease(ctx, "x", rota.LeaseFailure{}); return err }},
		{"retry_after", func() error {
			_, err := c.FailLease(ctx, "x", rota.LeaseFailure{Error: "e", RetryAfter: -time.Second})
			return err
		}},
		{"delay", func() error { _, err := c.SnoozeLease(ctx, "x", 0); return err }},
	}
	for i, tc := range cases {
		var fe *rota.FieldError
		if err := tc.call(); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("case %d: %v, want a FieldError on %s", i, err, tc.field)
		}
	}
	if got, err := c.Get(ctx, j.ID); err != nil || got.State != rota.StateQueued {
		t.Errorf("after bad input: %+v, %v; want the job still queued", got, err)
	}
}
