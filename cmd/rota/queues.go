package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
)

func newQueuesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "queues", Short: "List, pause, resume and cap queues"}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List queues with their settings and job counts",
		Args:  rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			qs, err := c.Queues(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				if qs == nil {
					qs = []rota.QueueInfo{}
				}
				for i := range qs {
					if qs[i].Counts == nil { // a queue without jobs: {} as over HTTP
						qs[i].Counts = map[rota.State]int64{}
					}
				}
				return printJSON(a.stdout, qs)
			}
			header := []string{"QUEUE", "PAUSED", "MAX SIZE", "URGENT<="}
			for _, s := range stateColumns() {
				header = append(header, string(s))
			}
			header = append(header, "OLDEST QUEUED")
			rows := make([][]string, len(qs))
			for i, q := range qs {
				maxSize, urgent := "-", "-"
				if q.MaxSize > 0 {
					maxSize = fmt.Sprint(q.MaxSize)
				}
				if q.UrgentPriority >= 0 {
					urgent = fmt.Sprint(q.UrgentPriority)
				}
				r := []string{q.Name, fmt.Sprint(q.Paused), maxSize, urgent}
				for _, s := range stateColumns() {
					r = append(r, fmt.Sprint(q.Counts[s]))
				}
				rows[i] = append(r, fmtTime(q.OldestQueuedAt))
			}
			return table(a.stdout, header, rows)
		},
	}
	pause := &cobra.Command{
		Use: "pause QUEUE", Short: "Stop starting jobs of a queue (running jobs finish)", Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.updateQueue(cmd, args[0], rota.QueueUpdate{Paused: ptr(true)}, "paused")
		},
	}
	resume := &cobra.Command{
		Use: "resume QUEUE", Short: "Start a paused queue again", Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.updateQueue(cmd, args[0], rota.QueueUpdate{Paused: ptr(false)}, "resumed")
		},
	}
	var maxSize, urgent int
	set := &cobra.Command{
		Use:     "set QUEUE",
		Short:   "Cap a queue: --max-size waiting jobs (0: no cap), --urgent-priority accepted when full (-1: none)",
		Example: "  rota queues set scans --max-size 10000 --urgent-priority 2",
		Args:    rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u rota.QueueUpdate
			if cmd.Flags().Changed("max-size") {
				if maxSize < 0 {
					return usagef("invalid max_size: %d is negative", maxSize)
				}
				u.MaxSize = &maxSize
			}
			if cmd.Flags().Changed("urgent-priority") {
				if urgent < -1 || urgent > 32767 {
					return usagef("invalid urgent_priority: %d is not in -1..32767", urgent)
				}
				u.UrgentPriority = &urgent
			}
			if u.MaxSize == nil && u.UrgentPriority == nil {
				return usagef("nothing to set: give --max-size and/or --urgent-priority")
			}
			return a.updateQueue(cmd, args[0], u, "updated")
		},
	}
	set.Flags().IntVar(&maxSize, "max-size", 0, "most waiting jobs (0: no cap)")
	set.Flags().IntVar(&urgent, "urgent-priority", -1, "jobs with priority at or under this are accepted when full (-1: none)")
	cmd.AddCommand(ls, pause, resume, set)
	return cmd
}

func ptr[T any](v T) *T { return &v }

func (a *app) updateQueue(cmd *cobra.Command, name string, u rota.QueueUpdate, verb string) error {
	c, done, err := a.backend(cmd.Context())
	if err != nil {
		return err
	}
	defer done()
	q, err := c.UpdateQueue(cmd.Context(), name, u)
	if err != nil {
		return err
	}
	return a.say(q, "queue %s %s", q.Name, verb)
}
