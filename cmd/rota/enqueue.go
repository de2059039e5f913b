package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
)

func newEnqueueCmd(a *app) *cobra.Command {
	var (
		queue, key, onConflict, runAt string
		priority, maxAttempts         int
		delay, timeout                time.Duration
		hold, userRequested           bool
		meta                          []string
	)
	cmd := &cobra.Command{
		Use:   "enqueue KIND [ARGS_JSON|-]",
		Short: "Add a job (args as JSON, '-' reads them from stdin)",
		Example: `  rota enqueue email.send '{"to":"a@example.org"}'
  rota enqueue report.build '{}' --delay 12h --key weekly --on-conflict replace
  rota enqueue scan.host '{"host":"10.0.0.1"}' --priority 5 --metadata org=acme`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := rota.EnqueueParams{Kind: args[0], Queue: queue, Key: key, OnConflict: rota.ConflictPolicy(onConflict),
				Hold: hold, MaxAttempts: maxAttempts, Timeout: timeout, Delay: delay, UserRequested: userRequested}
			raw := "{}"
			if len(args) == 2 {
				raw = args[1]
			}
			if raw == "-" {
				b, err := io.ReadAll(a.stdin)
				if err != nil {
					return fmt.Errorf("read args from stdin: %w", err)
				}
				raw = string(b)
			}
			if !json.Valid([]byte(raw)) {
				return usagef("invalid args: not valid JSON: %s", truncate(raw, 60))
			}
			p.Args = json.RawMessage(raw)
			if cmd.Flags().Changed("priority") {
				p.Priority = &priority
			}
			if cmd.Flags().Changed("queue") && queue == "" {
				return usagef("invalid queue: empty (leave --queue out for the kind's queue)")
			}
			if cmd.Flags().Changed("max-attempts") && maxAttempts < 1 {
				// 0 would mean "the default" to EnqueueParams.
				return usagef("invalid max_attempts: %d is less than 1", maxAttempts)
			}
			if runAt != "" {
				t, err := time.Parse(time.RFC3339, runAt)
				if err != nil {
					return usagef("invalid run_at: %q is not an RFC 3339 time like 2026-01-02T15:04:05Z", runAt)
				}
				p.RunAt = t
			}
			m, err := parseMeta(meta)
			if err != nil {
				return err
			}
			p.Metadata = m
			c, done, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			job, err := c.EnqueueParams(cmd.Context(), p)
			if de := (*rota.DuplicateKeyError)(nil); errors.As(err, &de) {
				// It names the active job, from the store or the server's answer.
				return fmt.Errorf("%s (--on-conflict reject)", de.Reason())
			}
			if errors.Is(err, rota.ErrDuplicate) { // a server that does not name the job
				return fmt.Errorf("a %s job with key %q is active (--on-conflict reject): duplicate", p.Kind, p.Key)
			}
			if qf := (*rota.QueueFullError)(nil); errors.As(err, &qf) {
				return qf // its reason, not the store's call chain
			}
			if err != nil {
				return err
			}
			if job.Duplicate {
				return a.say(job, "job %d %s (%s, queue %s, priority %d): already active with key %q, not enqueued again",
					job.ID, job.State, job.Kind, job.Queue, job.Priority, job.Key)
			}
			return a.say(job, "job %d %s (%s, queue %s, priority %d)", job.ID, job.State, job.Kind, job.Queue, job.Priority)
		},
	}
	f := cmd.Flags()
	f.StringVar(&queue, "queue", "", "queue (default: the kind's, else \"default\")")
	f.IntVar(&priority, "priority", rota.DefaultPriority, "priority 0..32767, lower runs first (default: the kind's ranker's, else the kind's, else 100)")
	f.BoolVar(&userRequested, "user-requested", false, "a person asked for this job (the recency ranker ranks it first)")
	f.StringVar(&runAt, "run-at", "", "run at this RFC 3339 time")
	f.Var(config.DurationFlag(&delay), "delay", "run after this delay (like 12h or 7d; a bare number is seconds)")
	f.BoolVar(&hold, "hold", false, "create the job ready; it waits for 'rota jobs release'")
	f.StringVar(&key, "key", "", "deduplication key: at most one active job per kind and key")
	f.StringVar(&onConflict, "on-conflict", "", "when the key is active: return, replace, update_priority or reject")
	f.StringArrayVar(&meta, "metadata", nil, "metadata key=value (repeatable)")
	f.IntVar(&maxAttempts, "max-attempts", 0, "attempts before the job ends in error (default: the kind's, else 25)")
	f.Var(config.DurationFlag(&timeout), "timeout", "timeout of each attempt (default: the kind's, else 1h)")
	return cmd
}

// parseMeta turns key=value flags into a map.
func parseMeta(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("invalid metadata: %q is not key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// rangeArgs accepts between lo and hi positional arguments (a usage error otherwise).
func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			if lo == hi {
				return usagef("%s takes %d argument(s), got %d (usage: %s)", cmd.Name(), lo, len(args), cmd.UseLine())
			}
			return usagef("%s takes %d to %d arguments, got %d (usage: %s)", cmd.Name(), lo, hi, len(args), cmd.UseLine())
		}
		return nil
	}
}
