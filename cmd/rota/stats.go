package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/server"
)

func newStatsCmd(a *app) *cobra.Command {
	var hours int
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Job counts by state, queue and kind; --hours N adds counts per hour (by last update)",
		Args:  rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if hours < 0 || hours > server.MaxStatsHours { // as GET /v1/stats
				return usagef("invalid hours: %d is not in 0..%d", hours, server.MaxStatsHours)
			}
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			s, err := c.Stats(cmd.Context())
			if err != nil {
				return err
			}
			var perHour []rota.HourCount
			if hours > 0 {
				to := time.Now().Truncate(time.Hour).Add(time.Hour)
				if perHour, err = c.CountsByHour(cmd.Context(), to.Add(-time.Duration(hours)*time.Hour), to); err != nil {
					return err
				}
			}
			if a.json {
				out := map[string]any{"by_state": s.ByState, "by_queue": s.ByQueue, "by_kind": s.ByKind}
				if hours > 0 {
					type hc struct {
						Hour  time.Time  `json:"hour"`
						State rota.State `json:"state"`
						N     int64      `json:"n"`
					}
					rows := make([]hc, len(perHour))
					for i, h := range perHour {
						rows[i] = hc{h.Hour, h.State, h.N}
					}
					out["per_hour"] = rows
				}
				return printJSON(a.stdout, out)
			}
			if err := countTable(a, "STATE", map[string]map[rota.State]int64{"all": s.ByState}); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout)
			if err := countTable(a, "QUEUE", s.ByQueue); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout)
			if err := countTable(a, "KIND", s.ByKind); err != nil {
				return err
			}
			if hours > 0 {
				fmt.Fprintln(a.stdout)
				byHour := map[string]map[rota.State]int64{}
				for _, h := range perHour {
					k := h.Hour.Local().Format("2006-01-02 15:00 MST") // named: the two 01:00 of a fall-back differ
					if byHour[k] == nil {
						byHour[k] = map[rota.State]int64{}
					}
					byHour[k][h.State] += h.N
				}
				return countTable(a, "HOUR", byHour)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&hours, "hours", 0, "also count per hour over the last N hours")
	return cmd
}

// countTable prints one row per group with a column per state.
func countTable(a *app, first string, groups map[string]map[rota.State]int64) error {
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	header := []string{first}
	for _, s := range stateColumns() {
		header = append(header, string(s))
	}
	rows := make([][]string, 0, len(names))
	for _, n := range names {
		r := []string{n}
		for _, s := range stateColumns() {
			r = append(r, fmt.Sprint(groups[n][s]))
		}
		rows = append(rows, r)
	}
	return table(a.stdout, header, rows)
}
