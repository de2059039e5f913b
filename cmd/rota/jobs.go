package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

func newJobsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "jobs", Short: "List, show and act on jobs"}
	cmd.AddCommand(newJobsLsCmd(a), newJobsShowCmd(a), newJobsCancelCmd(a),
		newJobActionCmd(a, "retry", "Run a finished, failed or waiting job again now", backend.Retry),
		newJobActionCmd(a, "release", "Release a held (ready) job to run", backend.Release),
		newJobActionCmd(a, "delete", "Delete a job that is not running", backend.Delete),
	)
	return cmd
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("invalid id: %q is not a positive job id", s)
	}
	return id, nil
}

func newJobsLsCmd(a *app) *cobra.Command {
	var (
		states, kinds, queues, meta []string
		key                         string
		limit                       int
		after                       int64
		asc                         bool
		createdFrom, createdTo      string
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List jobs, newest first (filters combine)",
		Example: `  rota jobs ls --state queued,running
  rota jobs ls --state queued --state scheduled --queue mail
  rota jobs ls --kind scan.host --metadata org=acme --limit 20
  rota jobs ls --after 1200   # the next page: ids below 1200`,
		Args: rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := store.ListParams{Kinds: splitList(kinds), Queues: splitList(queues), Key: key, AfterID: after, Desc: !asc, Limit: limit}
			for _, s := range splitList(states) {
				st := store.State(s)
				if !st.Valid() {
					return usagef("invalid state: %q is not one of %s", s, stateList())
				}
				p.States = append(p.States, st)
			}
			m, err := parseMeta(meta)
			if err != nil {
				return err
			}
			p.Metadata = m
			if limit < 1 || limit > store.MaxListLimit {
				return usagef("invalid limit: %d is not in 1..%d", limit, store.MaxListLimit)
			}
			if after < 0 {
				return usagef("invalid after: %d is negative", after)
			}
			for _, tf := range []struct {
				name string
				in   string
				out  *time.Time
			}{{"created_from", createdFrom, &p.CreatedFrom}, {"created_to", createdTo, &p.CreatedTo}} {
				if tf.in == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, tf.in)
				if err != nil {
					return usagef("invalid %s: %q is not an RFC 3339 time", tf.name, tf.in)
				}
				*tf.out = t
			}
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			page, err := c.List(cmd.Context(), p)
			if err != nil {
				return err
			}
			if a.json {
				if page.Jobs == nil {
					page.Jobs = []*rota.Job{}
				}
				out := map[string]any{"jobs": page.Jobs}
				if page.NextAfterID != 0 { // left out on the last page, as schedules ls does
					out["next_after_id"] = page.NextAfterID
				}
				return printJSON(a.stdout, out)
			}
			if err := printJobs(a.stdout, page.Jobs); err != nil {
				return err
			}
			if page.NextAfterID != 0 {
				fmt.Fprintf(a.stderr, "more: %s\n", nextPageCommand(cmd, "after", strconv.FormatInt(page.NextAfterID, 10)))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&states, "state", nil, "state (comma-separated, repeatable)")
	f.StringArrayVar(&kinds, "kind", nil, "kind (comma-separated, repeatable)")
	f.StringArrayVar(&queues, "queue", nil, "queue (comma-separated, repeatable)")
	f.StringVar(&key, "key", "", "key")
	f.StringArrayVar(&meta, "metadata", nil, "metadata key=value (repeatable)")
	f.IntVar(&limit, "limit", 50, "page size")
	f.Int64Var(&after, "after", 0, "keyset cursor: continue after this id")
	f.BoolVar(&asc, "asc", false, "oldest first")
	f.StringVar(&createdFrom, "created-from", "", "created at or after this RFC 3339 time")
	f.StringVar(&createdTo, "created-to", "", "created before this RFC 3339 time")
	return cmd
}

func newJobsShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a job with its attempt history and result",
		Args:  rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			job, err := c.Get(cmd.Context(), id)
			if err != nil {
				return jobErr(cmd.Context(), c, id, "show", err)
			}
			return a.output(job, func() error { return printJob(a.stdout, job) })
		},
	}
}

func newJobsCancelCmd(a *app) *cobra.Command {
	var kind, key, reason string
	cmd := &cobra.Command{
		Use:     "cancel [ID]",
		Aliases: []string{"abort"},
		Short:   "Abort a job by id, or by --kind and --key (a running job is interrupted)",
		Example: `  rota jobs cancel 42
  rota jobs cancel --kind analysis.ssi --key 65e08e66bfe58ba848bccee0`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			byKey := kind != "" || key != ""
			switch {
			case len(args) == 1 && byKey:
				return usagef("give an id or --kind and --key, not both")
			case len(args) == 0 && (kind == "" || key == ""):
				return usagef("give a job id, or both --kind and --key")
			}
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			var job *rota.Job
			if byKey {
				job, err = c.AbortKey(cmd.Context(), kind, key, reason)
			} else {
				id, perr := parseID(args[0])
				if perr != nil {
					return perr
				}
				job, err = c.Abort(cmd.Context(), id, reason)
				if err != nil {
					return jobErr(cmd.Context(), c, id, "cancel", err)
				}
			}
			if errors.Is(err, rota.ErrNotFound) {
				return fmt.Errorf("no active %s job with key %q", kind, key)
			}
			if err != nil {
				return err
			}
			return a.printAction(job, "cancel")
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "kind of the job to abort (with --key)")
	cmd.Flags().StringVar(&key, "key", "", "key of the job to abort (with --kind)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded as the job's error)")
	return cmd
}

func newJobActionCmd(a *app, name, short string, act func(backend, context.Context, int64) (*rota.Job, error)) *cobra.Command {
	return &cobra.Command{
		Use:   name + " ID",
		Short: short,
		Args:  rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			job, err := act(c, cmd.Context(), id)
			if err != nil {
				return jobErr(cmd.Context(), c, id, name, err)
			}
			return a.printAction(job, name)
		},
	}
}

// jobErr words a failed action on job id for a person: "job 7 not found",
// "cannot retry job 7: it is running"; other errors are returned as they are.
func jobErr(ctx context.Context, c backend, id int64, action string, err error) error {
	switch {
	case errors.Is(err, rota.ErrNotFound):
		return fmt.Errorf("job %d not found", id)
	case errors.Is(err, rota.ErrConflict):
		if j, gerr := c.Get(ctx, id); gerr == nil {
			return fmt.Errorf("cannot %s job %d: it is %s", action, id, j.State)
		}
	}
	return err
}

func (a *app) printAction(job *rota.Job, action string) error {
	state := string(job.State)
	if job.State == rota.StateRunning && job.CancelRequested {
		state = "running, abort requested"
	}
	if action == "delete" { // the job is gone; its state is what it was
		return a.say(job, "delete: job %d deleted (%s, was %s)", job.ID, job.Kind, state)
	}
	return a.say(job, "%s: job %d %s (%s)", action, job.ID, state, job.Kind)
}

// splitList reads the values of a list filter as GET /v1/jobs reads its
// query parameters: each may be a comma-separated list ("queued,scheduled"),
// spaces around items are ignored, and empty items are skipped. (Kind and
// queue names cannot hold commas.)
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// stateList is the states as "ready, scheduled, ... or aborted".
func stateList() string {
	states := store.States()
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = string(s)
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}
