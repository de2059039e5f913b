package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/internal/bench"
)

func newBenchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure rota on the configured store: throughput, latency, enqueue, schedules",
		Long: "rota bench runs a standard workload and prints its figures (--json for scripts).\n\n" +
			"Without --database-url or ROTA_DATABASE_URL it uses a fresh SQLite file in a temporary\n" +
			"directory, removed afterwards; with one, its jobs go to a new queue named bench-<random>.\n" +
			"With --server, they go to a new queue bench-<random> on that server, whose jobs the run\n" +
			"deletes at its end (an admin token's right; --keep leaves them). A first Ctrl-C stops the\n" +
			"run and cleans up; a second stops the cleanup.",
	}
	var p bench.Params
	var cpuProfile, memProfile string
	var keep bool
	// --server (ROTA_SERVER) and --token (ROTA_TOKEN) are the global
	// settings every command uses: with a server, throughput, latency and
	// enqueue run through its HTTP API with remote workers (lease protocol).
	add := func(name, short string) *cobra.Command {
		c := &cobra.Command{
			Use:   name,
			Short: short,
			Args:  rangeArgs(0, 0),
			RunE: func(cmd *cobra.Command, _ []string) error {
				p.Workload = name
				// 0 stands for the workload's default: given, it would run
				// the default (100,000 jobs, a minute) when asked for none.
				for _, f := range []string{"jobs", "workers", "concurrency", "schedules", "every", "duration"} {
					if fl := cmd.Flags().Lookup(f); fl != nil && fl.Changed && fl.Value.String() == "0" { // a zero duration shows as 0 too
						return usagef("invalid %s: 0; leave --%s out for the workload's default", f, f)
					}
				}
				if a.cfg.Server != "" {
					// What these flags measure or change is in this
					// process; through a server it would be silently lost.
					for _, f := range []string{"cpuprofile", "memprofile", "event-log"} {
						if cmd.Flags().Changed(f) {
							return usagef("invalid %s: not with --server (it applies to a workload run in this process; the server's event log is its own ROTA_EVENT_LOG)", f)
						}
					}
					return a.runBenchHTTP(cmd, p, httpBenchFlags{server: a.cfg.Server, token: a.cfg.Token, keep: keep})
				}
				if cmd.Flags().Changed("keep") {
					return usagef("invalid keep: only with --server (a run on a store of --database-url leaves its queue there; a temporary store is removed)")
				}
				return a.runBench(cmd, p, cpuProfile, memProfile)
			},
		}
		c.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the workload to this file (go tool pprof)")
		c.Flags().StringVar(&memProfile, "memprofile", "", "write a profile of the process's allocations, taken after the workload, to this file (go tool pprof)")
		if name != bench.Schedules { // its jobs are the fires of --schedules for --duration
			c.Flags().IntVarP(&p.Jobs, "jobs", "n", 0, "number of jobs (default per workload)")
		}
		c.Flags().IntVar(&p.Future, "future", 0, "first insert this many jobs scheduled a day ahead in the same queue")
		if name != bench.Schedules {
			c.Flags().BoolVar(&keep, "keep", false,
				"with --server: leave the bench-<random> queue and its jobs on the server (by default the run deletes them; that needs an admin token)")
		}
		if name == bench.Throughput || name == bench.Enqueue {
			c.Flags().Var(benchEventLog{&p.EventLog}, "event-log",
				"on: run the durable event log writer (as rota serve does) to measure its cost; off: do not (the bench's default, whatever ROTA_EVENT_LOG says)")
		}
		return c
	}
	tp := add(bench.Throughput, fmt.Sprintf("Insert N no-op jobs in batches of %d, then work them all (default n=%d, workers=%d; with --server n=%d, workers=%d)",
		bench.InsertBatch, bench.DefaultThroughputJobs, bench.DefaultWorkers, bench.DefaultHTTPThroughputJobs, bench.DefaultHTTPWorkers))
	tp.Flags().IntVar(&p.Workers, "workers", 0, "workers (the queue's max running jobs)")
	lat := add(bench.Latency, fmt.Sprintf("Idle workers, one job every --every after one unmeasured warm-up job; insert-to-start p50/p99/max (default n=%d, every %s; with --server n=%d, every %s)",
		bench.DefaultLatencyJobs, bench.DefaultEvery, bench.DefaultHTTPLatencyJobs, bench.DefaultHTTPEvery))
	lat.Flags().IntVar(&p.Workers, "workers", 0, "workers")
	lat.Flags().Var(config.DurationFlag(&p.Every), "every", "interval between jobs")
	enq := add(bench.Enqueue, fmt.Sprintf("C goroutines each inserting single jobs (default n=%d, concurrency %d; with --server n=%d, concurrency %d)",
		bench.DefaultEnqueueJobs, bench.DefaultConcurrency, bench.DefaultHTTPEnqueueJobs, bench.DefaultHTTPConcurrency))
	enq.Flags().IntVar(&p.Concurrency, "concurrency", 0, "goroutines")
	sch := add(bench.Schedules, fmt.Sprintf("S schedules firing every second for --duration on this node; fire lateness p50/p99/max (default %d schedules, %s)", bench.DefaultSchedules, bench.DefaultScheduleRun))
	sch.Flags().IntVar(&p.Schedules, "schedules", 0, "schedules")
	sch.Flags().Var(config.DurationFlag(&p.Run), "duration", "how long they fire")
	p.Lookahead = rota.DefaultScheduleLookahead
	sch.Flags().Var(config.DurationFlag(&p.Lookahead), "lookahead",
		"how long before its fire time a fire's job is written, scheduled for it (0: off, each is written at its time); default the global --schedule-lookahead (ROTA_SCHEDULE_LOOKAHEAD)")
	cmd.AddCommand(tp, lat, enq, sch)
	return cmd
}

// benchEventLog is the value of the bench's --event-log: on or off, as
// the global setting of that name (which it shadows), but off by default.
type benchEventLog struct{ on *bool }

func (v benchEventLog) String() string {
	if v.on != nil && *v.on {
		return config.EventLogOn
	}
	return config.EventLogOff
}

func (v benchEventLog) Set(s string) error {
	norm, err := config.NormEventLog(s)
	if err != nil {
		return err
	}
	*v.on = norm == config.EventLogOn
	return nil
}

func (benchEventLog) Type() string { return "on|off" }

func (a *app) runBench(cmd *cobra.Command, p bench.Params, cpuProfile, memProfile string) error {
	if f := cmd.Flags().Lookup("lookahead"); f != nil && !f.Changed {
		p.Lookahead = a.cfg.ScheduleLookahead // the setting rota serve uses
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"jobs", p.Jobs}, {"workers", p.Workers}, {"concurrency", p.Concurrency}, {"future", p.Future}, {"schedules", p.Schedules}} {
		if v.n < 0 {
			return usagef("invalid %s: %d is negative", v.name, v.n)
		}
	}
	if p.Every < 0 {
		return usagef("invalid every: %s is negative", p.Every)
	}
	if p.Run < 0 {
		return usagef("invalid duration: %s is negative", p.Run)
	}
	if p.Run != 0 && p.Run <= bench.ScheduleWarmUp {
		return usagef("invalid duration: %s is not longer than the %s warm-up (its fires are not measured)", p.Run, bench.ScheduleWarmUp)
	}
	switch {
	case p.Lookahead < 0 || p.Lookahead > rota.MaxScheduleLookahead:
		return usagef("invalid lookahead: %s is not in 0..%s", p.Lookahead, rota.MaxScheduleLookahead)
	case p.Lookahead == 0:
		p.Lookahead = -1 // off
	}
	if !a.databaseURLSet(cmd) {
		dir, err := os.MkdirTemp("", "rota-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		a.cfg.DatabaseURL = filepath.Join(dir, "bench.db")
	}
	st, err := a.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	p.Logger = a.benchLogger()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return usagef("invalid cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
	}
	var mem *os.File
	if memProfile != "" {
		if mem, err = os.Create(memProfile); err != nil {
			return usagef("invalid memprofile: %v", err)
		}
		defer mem.Close()
	}
	res, err := bench.Run(cmd.Context(), st, p)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	if mem != nil {
		if err := pprof.Lookup("allocs").WriteTo(mem, 0); err != nil {
			return fmt.Errorf("memprofile: %w", err)
		}
	}
	return a.printBench(res)
}

// httpBenchFlags are bench's flags for a run through the HTTP API.
type httpBenchFlags struct {
	server, token string
	keep          bool // --keep: no cleanup
}

// runBenchHTTP runs a workload through the HTTP API of a rota serve, then
// deletes its queue's jobs unless --keep: after the run has succeeded or
// failed, and after a first SIGINT or SIGTERM (which stops the run), but
// not after a second.
func (a *app) runBenchHTTP(cmd *cobra.Command, p bench.Params, hb httpBenchFlags) error {
	switch {
	case p.Jobs < 0 || p.Workers < 0 || p.Concurrency < 0 || p.Every < 0:
		return usagef("invalid jobs, workers, concurrency or every: negative")
	case p.Future != 0:
		return usagef("invalid future: not supported with --server")
	case p.Workload == bench.Schedules:
		return usagef("invalid server: the schedules workload runs on the node only")
	}
	if u, err := url.Parse(hb.server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("invalid server: %q is not an http:// or https:// URL", hb.server)
	}
	cleanupCtx, stop := secondInterrupt(cmd.Context())
	defer stop()
	run := bench.NewHTTPRun(hb.server, hb.token)
	defer run.Close()
	if !hb.keep {
		// Asked before the run, not found out after it: a run that cannot
		// clean up would leave its jobs on the server.
		if err := run.CheckCleanup(cmd.Context()); errors.Is(err, bench.ErrCleanupForbidden) {
			return usagef("invalid token: %v, and the run deletes its jobs from the server at its end; use a token of role admin, or --keep to leave them there", err)
		} else if errors.Is(err, bench.ErrTokenRefused) {
			return usagef("invalid token: %v", err)
		} else if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	res, err := run.Run(cmd.Context(), p)
	res.Kept = hb.keep
	if err == nil && !a.json {
		// The figures first: the cleanup takes about as long as the
		// run's enqueues.
		_ = a.printBench(res) // text: no error
	}
	var cleanupErr error
	if !hb.keep {
		res.Deleted, cleanupErr = run.Cleanup(cleanupCtx)
		if cleanupErr != nil {
			how := "cleanup"
			if cleanupCtx.Err() != nil {
				how = "cleanup interrupted"
			}
			cleanupErr = fmt.Errorf("bench: %s: %w (%d jobs deleted, the others left on the server)", how, cleanupErr, res.Deleted)
		}
	}
	switch {
	case err != nil:
		return errors.Join(err, cleanupErr)
	case a.json:
		if err := printJSON(a.stdout, res); err != nil {
			return err
		}
	case !hb.keep && cleanupErr == nil:
		fmt.Fprintf(a.stdout, "  queue %s: its %d jobs deleted from the server\n", run.Queue(), res.Deleted)
	}
	return cleanupErr
}

// secondInterrupt returns a context that SIGINT or SIGTERM cancels the
// second time it comes from now on, not the first (the first cancels
// ctx), though no longer by ctx. stop ends the watch.
func secondInterrupt(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(sig)
		for n := 0; ; {
			select {
			case <-sig:
				if n++; n == 2 {
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, cancel
}

// printBench prints a run's figures.
func (a *app) printBench(res bench.Result) error {
	if a.json {
		return printJSON(a.stdout, res)
	}
	if res.Workload == bench.Schedules {
		fmt.Fprintf(a.stdout, "%s on %s: %d jobs of the fires in %d s measured (of a %.2fs run) = %.0f jobs/s",
			res.Workload, res.Store, res.Jobs, res.FireSeconds, res.Seconds, res.JobsPerS)
	} else {
		fmt.Fprintf(a.stdout, "%s on %s: %d jobs in %.2fs = %.0f jobs/s", res.Workload, res.Store, res.Jobs, res.Seconds, res.JobsPerS)
	}
	switch res.Workload {
	case bench.Latency:
		fmt.Fprintf(a.stdout, "; insert-to-start p50 %.3f ms, p99 %.3f ms, max %.3f ms", res.P50Ms, res.P99Ms, res.MaxMs)
	case bench.Schedules:
		fmt.Fprintf(a.stdout, " (fires of %d schedules); fire lateness (job ready to run) p50 %.3f ms, p99 %.3f ms, max %.3f ms",
			res.Schedules, res.P50Ms, res.P99Ms, res.MaxMs)
		fmt.Fprintf(a.stdout, "\n  inserted p50 %+.3f ms, p99 %+.3f ms, max %+.3f ms from the fire time (%d of %d written ahead)",
			res.InsertP50Ms, res.InsertP99Ms, res.InsertMaxMs, res.FiresAhead, res.Jobs)
		if res.FiresStarted == 0 {
			fmt.Fprintf(a.stdout, "; none started by the end of the run")
		} else {
			fmt.Fprintf(a.stdout, "; started (%d of them) p50 %.3f ms, p99 %.3f ms, max %.3f ms",
				res.FiresStarted, res.StartP50Ms, res.StartP99Ms, res.StartMaxMs)
		}
		fmt.Fprintf(a.stdout, "\n  process CPU %.1fs (%.0f%% of a core)", res.CPUSeconds, res.CPUPercent)
		if res.FiresMissing > 0 {
			fmt.Fprintf(a.stdout, "; %d fires missing", res.FiresMissing)
		}
		if res.EventsDropped > 0 {
			fmt.Fprintf(a.stdout, "; %d events dropped (their fires not measured)", res.EventsDropped)
		}
	}
	if res.EventLog {
		fmt.Fprintf(a.stdout, "\n  event log: %d records appended (%d gaps), %.2fs to drain after the workload",
			res.EventsLogged, res.EventGaps, res.EventLogDrainS)
	}
	fmt.Fprintf(a.stdout, "\n  heap max %.1f MiB, peak RSS %.1f MiB", res.HeapMaxMB, res.MaxRSSMB)
	if res.Future > 0 {
		fmt.Fprintf(a.stdout, ", with %d future jobs in the queue", res.Future)
	}
	if res.Kept {
		fmt.Fprintf(a.stdout, "\n  queue %s kept on the server with its jobs (--keep)", res.Queue)
	}
	fmt.Fprintln(a.stdout)
	return nil
}

// databaseURLSet reports whether the user chose a store (flag or environment).
func (a *app) databaseURLSet(cmd *cobra.Command) bool {
	if f := cmd.Flags().Lookup("database-url"); f != nil && f.Changed {
		return true
	}
	return a.dbFromEnv
}
