package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/postgres"
	"github.com/rotahq/rota/store/sqlite"
)

// app is the state shared by every command: configuration and output.
type app struct {
	cfg    config.Config
	envErr error
	// dbFromEnv: ROTA_DATABASE_URL was set (bench then uses it, not a temp file).
	dbFromEnv bool
	json      bool
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	// register, when set, adds workers to the client of serve (tests).
	register func(*rota.Client) error
}

func newRootCmd(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer,
	register func(*rota.Client) error) *cobra.Command {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, register: register}
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		cfg = config.Default()
		a.envErr = err
	}
	a.cfg = cfg
	a.dbFromEnv = getenv("ROTA_DATABASE_URL") != ""
	root := &cobra.Command{
		Use:   "rota",
		Short: "rota: durable jobs, schedules and workers",
		Long: "rota runs background jobs that must not be lost.\n\n" +
			"Every setting comes from the environment (ROTA_*) and can be overridden by a flag.\n" +
			"The store is ROTA_DATABASE_URL: an SQLite file (default rota.db) or postgres://...",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.envErr != nil {
				return usageError{a.envErr}
			}
			if err := a.cfg.Validate(); err != nil {
				return usageError{err}
			}
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{redactFlagError(err)} })
	a.cfg.BindFlags(root.PersistentFlags())
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print JSON instead of tables")
	root.AddCommand(
		newServeCmd(a),
		newEnqueueCmd(a),
		newJobsCmd(a),
		newQueuesCmd(a),
		newNodesCmd(a),
		newSchedulesCmd(a),
		newStatsCmd(a),
		newMigrateCmd(a),
		newBenchCmd(a),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every group of commands below root (jobs,
// queues, ...) refuse an unknown subcommand as bad input; cobra would print
// the group's help and exit 0, so that `rota jobs abort 5` seemed to work.
// Cobra itself refuses an unknown command only at the root.
func refuseUnknownSubcommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		refuseUnknownSubcommands(c)
		if !c.HasSubCommands() || c.Runnable() {
			continue
		}
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usagef("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
	}
}

// redactFlagError drops the value from an error about --tokens or
// --server: pflag quotes the bad value, which may hold secrets (a
// password in the server's URL).
func redactFlagError(err error) error {
	msg := err.Error()
	for _, flag := range []string{"tokens", "server"} {
		if _, reason, ok := strings.Cut(msg, `"--`+flag+`" flag: `); ok {
			return fmt.Errorf("invalid argument for --%s: %s", flag, reason)
		}
	}
	return err
}

// logger builds the process logger from the configuration.
func (a *app) logger() *slog.Logger { return a.cfg.NewLogger(a.stderr) }

// benchLogger logs only warnings and errors, so a benchmark's output stays readable.
func (a *app) benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: max(a.cfg.LogLevel, slog.LevelWarn)}))
}

// openStore opens and migrates the configured store.
func (a *app) openStore(ctx context.Context) (store.Store, error) {
	driver, target, err := config.ParseDatabaseURL(a.cfg.DatabaseURL)
	if err != nil {
		return nil, usageError{err}
	}
	var st store.Store
	switch driver {
	case "sqlite":
		s, err := sqlite.Open(target, sqlite.Options{Synchronous: a.cfg.SQLiteSynchronous, Logger: a.logger()})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
		st = s
	case "postgres":
		s, err := postgres.Open(ctx, target, postgres.Options{Schema: a.cfg.PostgresSchema, Logger: a.logger()})
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		st = s
	default:
		return nil, usagef("database url: unknown driver %q", driver)
	}
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return st, nil
}

// client opens the store and a client on it for commands that enqueue and
// query (they never start the node). The caller closes the store.
func (a *app) client(ctx context.Context) (*rota.Client, store.Store, error) {
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	opts := rota.Options{NodeID: a.cfg.NodeID, Logger: a.logger()}
	if a.cfg.WorkersDir != "" {
		ws, errs := config.LoadWorkerDir(a.cfg.WorkersDir)
		for _, err := range errs {
			opts.Logger.Warn("worker config", "err", err)
		}
		opts.WorkerConfig = staticWorkers{ws}
	}
	c, err := rota.New(st, opts)
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	return c, st, nil
}
