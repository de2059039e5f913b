package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/store"
)

// scheduleFlags are the flags of rota schedules create and update.
type scheduleFlags struct {
	kind, spec, zone, args, queue, misfire, overlap, condition string
	priority, misfireCap                                       int
	jitter, misfireGrace                                       time.Duration
	meta                                                       []string
	disabled                                                   bool
}

func (f *scheduleFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "kind", "", "kind of the jobs the schedule makes")
	fl.StringVar(&f.spec, "spec", "", "schedule spec (see rota schedules next)")
	fl.StringVar(&f.zone, "tz", "", "IANA time zone of the spec's wall-clock times (default UTC)")
	fl.StringVar(&f.args, "args", "", "job args as JSON (default {})")
	fl.StringVar(&f.queue, "queue", "", "queue of the jobs (default: default)")
	fl.IntVar(&f.priority, "priority", rota.DefaultPriority, "priority of the jobs")
	fl.StringArrayVar(&f.meta, "metadata", nil, "job metadata key=value (repeatable)")
	fl.Var(config.DurationFlag(&f.jitter), "jitter", "delay each fire's job by up to this (the same on every node)")
	fl.StringVar(&f.misfire, "misfire", "", "missed fires: skip, once (default) or all")
	fl.Var(config.DurationFlag(&f.misfireGrace), "misfire-grace", "a fire later than this is missed (default 1m)")
	fl.IntVar(&f.misfireCap, "misfire-cap", 0, "most fires of one catch-up with --misfire all (default 100)")
	fl.StringVar(&f.overlap, "overlap", "", "while the previous fire's job is unfinished: allow (default), skip or queue_one")
	fl.StringVar(&f.condition, "condition", "", `fire only if it holds: "signal 'NAME' >= N within 1h" or "func NAME"`)
	fl.BoolVar(&f.disabled, "disabled", false, "create (or set) the schedule disabled")
}

// apply sets the flags the user gave on p.
func (f *scheduleFlags) apply(cmd *cobra.Command, p *rota.ScheduleParams) error {
	ch := cmd.Flags().Changed
	if ch("kind") {
		p.Kind = f.kind
	}
	if ch("spec") {
		p.Spec = f.spec
	}
	if ch("tz") {
		p.Zone = f.zone
	}
	if ch("args") {
		if !json.Valid([]byte(f.args)) {
			return usagef("invalid args: not valid JSON: %s", truncate(f.args, 60))
		}
		p.Args = json.RawMessage(f.args)
	}
	if ch("queue") {
		p.Queue = f.queue
	}
	if ch("priority") {
		p.Priority = &f.priority
	}
	if ch("metadata") {
		m, err := parseMeta(f.meta)
		if err != nil {
			return err
		}
		p.Metadata = m
	}
	if ch("jitter") {
		p.Jitter = f.jitter
	}
	if ch("misfire") {
		p.Misfire = rota.MisfirePolicy(f.misfire)
	}
	if ch("misfire-grace") {
		p.MisfireGrace = f.misfireGrace
	}
	if ch("misfire-cap") {
		p.MisfireCap = f.misfireCap
	}
	if ch("overlap") {
		p.Overlap = rota.OverlapPolicy(f.overlap)
	}
	if ch("condition") {
		p.Condition = f.condition
	}
	if ch("disabled") {
		p.Disabled = f.disabled
	}
	return nil
}

// addStoredScheduleCmds adds create, ls, show, update, enable, disable and rm.
func addStoredScheduleCmds(a *app, cmd *cobra.Command) {
	var cf scheduleFlags
	create := &cobra.Command{
		Use:   "create KEY --kind KIND --spec SPEC",
		Short: "Store a schedule that makes jobs of KIND at the fire times of SPEC",
		Example: `  rota schedules create nightly-report --kind report --spec 'daily at 02:00' --tz Europe/Amsterdam
  rota schedules create elf-scan --kind scan.elf --spec 'every 10 minutes' --condition "signal 'nodes.elf' >= 1000 within 1h"`,
		Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := rota.ScheduleParams{Key: args[0]}
			if err := cf.apply(cmd, &p); err != nil {
				return err
			}
			c, done, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			s, err := c.CreateSchedule(cmd.Context(), p)
			if err != nil {
				return scheduleErr(args[0], err)
			}
			return a.printSchedule(s)
		},
	}
	cf.register(create)

	var uf scheduleFlags
	update := &cobra.Command{
		Use:     "update KEY [flags]",
		Short:   "Change the flags given of a stored schedule (a new spec or zone moves its next fire)",
		Example: "  rota schedules update nightly-report --spec 'daily at 03:00' --overlap skip",
		Args:    rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := false
			cmd.Flags().Visit(func(f *pflag.Flag) { changed = changed || cmd.LocalFlags().Lookup(f.Name) != nil })
			if !changed {
				return usagef("nothing to change: give the flags of what to change (see rota schedules update --help)")
			}
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			cur, err := c.GetSchedule(cmd.Context(), args[0])
			if err != nil {
				return scheduleErr(args[0], err)
			}
			p := rota.ScheduleParamsOf(cur)
			if err := uf.apply(cmd, &p); err != nil {
				return err
			}
			s, err := c.UpdateSchedule(cmd.Context(), p)
			if err != nil {
				return scheduleErr(args[0], err)
			}
			return a.printSchedule(s)
		},
	}
	uf.register(update)

	var kind, after string
	var limit int
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List stored schedules with their next fire and last outcome",
		Args:  rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > store.MaxListLimit {
				return usagef("invalid limit: %d is not in 1..%d", limit, store.MaxListLimit)
			}
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			page, err := c.ListSchedules(cmd.Context(), rota.ScheduleListParams{Kind: kind, AfterKey: after, Limit: limit})
			if err != nil {
				return err
			}
			if a.json {
				if page.Schedules == nil {
					page.Schedules = []*rota.Schedule{}
				}
				return printJSON(a.stdout, page)
			}
			rows := make([][]string, len(page.Schedules))
			for i, s := range page.Schedules {
				enabled := "yes"
				if !s.Enabled {
					enabled = "no"
					if s.DisabledReason != "" {
						enabled += ": " + truncate(s.DisabledReason, 40)
					}
				}
				rows[i] = []string{s.Key, s.Kind, truncate(s.Spec, 40), orDash(s.Zone), enabled, fmtTime(s.NextFire),
					fmtTime(s.LastFire), orDash(truncate(s.LastOutcome, 40))}
			}
			if err := table(a.stdout, []string{"KEY", "KIND", "SPEC", "ZONE", "ENABLED", "NEXT FIRE", "LAST FIRE", "LAST OUTCOME"}, rows); err != nil {
				return err
			}
			if page.NextAfterKey != "" {
				fmt.Fprintf(a.stderr, "more: rota schedules ls --after %s\n", page.NextAfterKey)
			}
			return nil
		},
	}
	ls.Flags().StringVar(&kind, "kind", "", "only schedules of this kind")
	ls.Flags().StringVar(&after, "after", "", "start after this key (paging)")
	ls.Flags().IntVar(&limit, "limit", 100, "most schedules to list")

	show := &cobra.Command{
		Use: "show KEY", Short: "Show a stored schedule", Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			s, err := c.GetSchedule(cmd.Context(), args[0])
			if err != nil {
				return scheduleErr(args[0], err)
			}
			return a.printSchedule(s)
		},
	}
	enable := &cobra.Command{
		Use: "enable KEY", Short: "Enable a schedule; it fires next at its first fire time after now", Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			s, err := c.EnableSchedule(cmd.Context(), args[0])
			if err != nil {
				return scheduleErr(args[0], err)
			}
			return a.printSchedule(s)
		},
	}
	var reason string
	disable := &cobra.Command{
		Use: "disable KEY", Short: "Disable a schedule", Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			s, err := c.DisableSchedule(cmd.Context(), args[0], reason)
			if err != nil {
				return scheduleErr(args[0], err)
			}
			return a.printSchedule(s)
		},
	}
	disable.Flags().StringVar(&reason, "reason", "", "why (shown by ls and show)")
	rm := &cobra.Command{
		Use: "rm KEY", Short: "Delete a schedule (its jobs stay, but those of fires written ahead and not yet due)", Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if err := c.DeleteSchedule(cmd.Context(), args[0]); err != nil {
				return scheduleErr(args[0], err)
			}
			return a.say(map[string]string{"deleted": args[0]}, "schedule %s deleted", args[0])
		},
	}
	cmd.AddCommand(create, ls, show, update, enable, disable, rm)
}

// printSchedule prints one schedule as JSON or as key: value lines.
func (a *app) printSchedule(s *rota.Schedule) error {
	if a.json {
		return printJSON(a.stdout, s)
	}
	enabled := "yes"
	if !s.Enabled {
		enabled = "no"
		if s.DisabledReason != "" {
			enabled += " (" + s.DisabledReason + ")"
		}
	}
	rows := [][]string{
		{"key:", s.Key}, {"kind:", s.Kind}, {"queue:", s.Queue}, {"args:", compactJSON(s.Args)},
		{"priority:", fmt.Sprint(s.Priority)}, {"metadata:", orDash(fmtMeta(s.Metadata))},
		{"spec:", s.Spec}, {"zone:", orDash(s.Zone)}, {"jitter:", s.Jitter.String()}, {"enabled:", enabled},
		{"misfire:", fmt.Sprintf("%s (grace %s, cap %d)", s.Misfire, s.MisfireGrace, s.MisfireCap)},
		{"overlap:", string(s.Overlap)}, {"condition:", orDash(s.Condition)},
		{"next fire:", fmtTime(s.NextFire)}, {"last fire:", fmtTime(s.LastFire)},
		{"last outcome:", orDash(s.LastOutcome)}, {"last job:", fmt.Sprint(s.LastJobID)},
		{"created:", fmtTime(s.CreatedAt)}, {"updated:", fmtTime(s.UpdatedAt)},
	}
	return table(a.stdout, nil, rows)
}

// scheduleErr words a schedule that is not there, or already is, for a
// person, the same for the store and a server.
func scheduleErr(key string, err error) error {
	switch {
	case errors.Is(err, rota.ErrNotFound):
		return fmt.Errorf("schedule %q not found", key)
	case errors.Is(err, rota.ErrDuplicate):
		return fmt.Errorf("schedule %q exists", key)
	}
	return err
}
