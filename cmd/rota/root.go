package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/internal/version"
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
	// existing: the command reads or changes what a store holds, so an
	// SQLite file that is not there is a mistake (a typo in
	// ROTA_DATABASE_URL), not a store to create.
	existing bool
	// storeNotes: the command reports what the store does at INFO (the
	// migrations it applies): serve and migrate. Another command's store
	// logs them at DEBUG, so that its output is not preceded by them.
	storeNotes bool
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
		// --version prints the one line "rota version VERSION"; `rota
		// version` prints the rest of what the build recorded.
		Version:       version.Read().Version,
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
		newVersionCmd(a),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (jobs, queues, ...) refuse an unknown subcommand as bad input. Left alone,
// cobra prints the group's help and exits 0 for `rota jobs frobnicate`; the
// root command already refuses one.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if sub.HasSubCommands() && !sub.Runnable() {
			sub.Args = cobra.ArbitraryArgs
			sub.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return usagef("unknown command %q for %q (see '%s --help')", args[0], cmd.CommandPath(), cmd.CommandPath())
				}
				return cmd.Help()
			}
		}
		refuseUnknownSubcommands(sub)
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

// storeLogger is the logger of the store: the process logger, with its
// INFO records (the migrations applied) at DEBUG unless a.storeNotes.
func (a *app) storeLogger() *slog.Logger {
	l := a.logger()
	if a.storeNotes {
		return l
	}
	return slog.New(infoAsDebug{l.Handler()})
}

// infoAsDebug is a handler that logs INFO records at DEBUG.
type infoAsDebug struct{ slog.Handler }

func infoToDebug(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (h infoAsDebug) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, infoToDebug(l))
}

func (h infoAsDebug) Handle(ctx context.Context, r slog.Record) error {
	r.Level = infoToDebug(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h infoAsDebug) WithAttrs(attrs []slog.Attr) slog.Handler {
	return infoAsDebug{h.Handler.WithAttrs(attrs)}
}

func (h infoAsDebug) WithGroup(name string) slog.Handler {
	return infoAsDebug{h.Handler.WithGroup(name)}
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
		if err := a.checkExisting(target); err != nil {
			return nil, err
		}
		s, err := sqlite.Open(target, sqlite.Options{Synchronous: a.cfg.SQLiteSynchronous, Logger: a.storeLogger()})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
		st = s
	case "postgres":
		s, err := postgres.Open(ctx, target, postgres.Options{Schema: a.cfg.PostgresSchema, Logger: a.storeLogger()})
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
	// A store migrated by a newer rota works with this one only as far as
	// the newer migrations allow: say so rather than run on it silently.
	if applied, latest, err := st.SchemaVersion(ctx); err == nil && applied > latest {
		a.logger().Warn("the store's schema is newer than this rota knows: upgrade rota",
			"store", st.Driver(), "schema_version", applied, "known_version", latest)
	}
	return st, nil
}

// checkExisting refuses, for a command that needs an existing store, an
// SQLite file that is not there, as bad input naming ROTA_DATABASE_URL
// (opening it would create an empty store and show nothing).
func (a *app) checkExisting(target string) error {
	path, _, _ := strings.Cut(target, "?")
	if !a.existing || path == ":memory:" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return usagef("%s: no rota database at %q (rota serve or rota migrate creates one)", config.EnvDatabaseURL, path)
	}
	return nil
}

// existingBackend is backend for a command that reads or changes what the
// store already holds (see app.existing).
func (a *app) existingBackend(ctx context.Context) (backend, func(), error) {
	a.existing = true
	return a.backend(ctx)
}

// client opens the store and a client on it for commands that enqueue and
// query (they never start the node). The caller closes the store.
func (a *app) client(ctx context.Context) (*rota.Client, store.Store, error) {
	if err := a.checkWorkersDir(); err != nil {
		return nil, nil, err
	}
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

// checkWorkersDir refuses a configured workers directory that is not a
// directory (a typo would otherwise run a node without its workers, or
// enqueue without the kind's queue and attempts), as bad input naming
// ROTA_WORKERS_DIR, before the store is opened.
func (a *app) checkWorkersDir() error {
	dir := a.cfg.WorkersDir
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usageError{&config.FieldError{Field: config.EnvWorkersDir, Value: dir, Reason: "not a directory: it does not exist"}}
	case err != nil:
		return fmt.Errorf("%s: %w", config.EnvWorkersDir, err)
	case !fi.IsDir():
		return usageError{&config.FieldError{Field: config.EnvWorkersDir, Value: dir, Reason: "not a directory"}}
	}
	return nil
}
