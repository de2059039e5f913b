package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // --tz and TZ= work on hosts without a zoneinfo database

	"github.com/spf13/cobra"

	"github.com/rotahq/rota/schedule"
)

// maxNext caps rota schedules next -n.
const maxNext = 1000

func newSchedulesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "schedules", Short: "Store schedules, and check schedule specs"}
	cmd.AddCommand(newSchedulesNextCmd(a))
	addStoredScheduleCmds(a, cmd)
	return cmd
}

// nextOut is the --json output of rota schedules next.
type nextOut struct {
	Spec       string   `json:"spec"`
	Normalized string   `json:"normalized"`
	Zone       string   `json:"zone"`
	After      string   `json:"after"`
	Fires      []string `json:"fires"`
	Never      bool     `json:"never"` // the schedule stops before n fires
}

func newSchedulesNextCmd(a *app) *cobra.Command {
	var (
		zone, after string
		n           int
	)
	cmd := &cobra.Command{
		Use:   "next SPEC",
		Short: "Print the next fire times of a schedule spec, to check a rule before trusting it",
		Long: "rota schedules next parses SPEC and prints its next fire times in the zone, with the\n" +
			"offset, so a rule can be checked before it is used. SPEC may be several arguments\n" +
			"(they are joined by spaces); quote cron fields so the shell leaves * alone.\n\n" +
			"Specs: cron (5 or 6 fields, @hourly, @every 1h), phrases (daily at 10:00, weekly on\n" +
			"Monday, monthly starting 3rd, hourly after 45:00), intervals (every 10 minutes),\n" +
			"one-offs (once at 2026-01-02T15:04:05Z, in 12h), windows (time of day between 08:00\n" +
			"and 18:00) joined with & | ~ and parentheses. See the guide's Schedule specs section.",
		Example: `  rota schedules next 'daily between 10:00 and 12:00' --tz Europe/Amsterdam
  rota schedules next '*/15 * * * *' --tz America/New_York --after 2026-11-01T04:30:00Z -n 8
  rota schedules next 'every 10 minutes & time of day between 08:00 and 18:00' --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("next takes a SPEC argument (usage: %s)", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 || n > maxNext {
				return usagef("invalid -n: %d is not between 1 and %d", n, maxNext)
			}
			loc, err := time.LoadLocation(zone)
			if err != nil || zone == "" || zone == "Local" {
				return usagef("invalid --tz: %q is not an IANA time zone such as Europe/Amsterdam or UTC", zone)
			}
			from := time.Now()
			if after != "" {
				if from, err = time.Parse(time.RFC3339, after); err != nil {
					return usagef("invalid --after: %q is not an RFC 3339 time like 2026-01-02T15:04:05Z", after)
				}
			}
			spec := strings.Join(args, " ")
			s, err := schedule.Parse(spec, from, loc)
			if err != nil {
				var se *schedule.SyntaxError
				if errors.As(err, &se) {
					return usageError{err}
				}
				return err
			}
			out := nextOut{Spec: spec, Normalized: s.String(), Zone: s.Location().String(),
				After: from.In(s.Location()).Format(time.RFC3339), Fires: []string{}}
			var fires []time.Time
			for t := from; len(fires) < n; {
				next, ok := s.Next(t)
				if !ok {
					out.Never = true
					break
				}
				fires = append(fires, next)
				out.Fires = append(out.Fires, next.Format(time.RFC3339))
				t = next
			}
			if a.json {
				return printJSON(a.stdout, out)
			}
			fmt.Fprintf(a.stdout, "%s  (zone %s, after %s)\n", out.Normalized, out.Zone, out.After)
			rows := make([][]string, len(fires))
			for i, f := range fires {
				rows[i] = []string{fmt.Sprint(i + 1), f.Format("Mon 2006-01-02 15:04:05 -07:00 MST"),
					f.UTC().Format("2006-01-02 15:04:05Z"), fmtIn(f.Sub(from))}
			}
			if err := table(a.stdout, []string{"#", "FIRES AT", "UTC", "IN"}, rows); err != nil {
				return err
			}
			if out.Never {
				fmt.Fprintln(a.stdout, "(no more fires)")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&zone, "tz", "UTC", "IANA time zone of the spec's wall-clock times (a TZ= prefix in the spec wins)")
	f.IntVarP(&n, "n", "n", 10, fmt.Sprintf("number of fire times (1-%d)", maxNext))
	f.StringVar(&after, "after", "", "list fires after this RFC 3339 time instead of now (also the reference of 'in 12h')")
	return cmd
}

// fmtIn is a duration for people, rounded to the second: "in 2h30m0s".
func fmtIn(d time.Duration) string {
	return d.Round(time.Second).String()
}
