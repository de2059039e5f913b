package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/server"
)

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run a rota node on the configured store until SIGINT or SIGTERM",
		Long: "rota serve migrates the store, then claims and runs jobs of the configured queues\n" +
			"(ROTA_QUEUES, default default=100) with the workers configured in ROTA_WORKERS_DIR:\n" +
			"a <kind>.json file with an \"exec\" command binds that kind to the command.\n" +
			"It serves the HTTP API on ROTA_LISTEN (default 127.0.0.1:7700; off for none). On an\n" +
			"address that is not loopback it needs bearer tokens (ROTA_TOKENS or ROTA_TOKENS_FILE).\n" +
			"On SIGINT or SIGTERM it stops taking jobs, lets running ones finish for\n" +
			"ROTA_SHUTDOWN_TIMEOUT, then puts the rest back in their queue.",
		Args: rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.localOnly(cmd); err != nil {
				return err
			}
			return a.serve(cmd.Context())
		},
	}
}

func (a *app) serve(ctx context.Context) error {
	logger := a.logger()
	// The HTTP API's settings are checked before anything starts.
	var tokens []server.Token
	if !a.cfg.ListenDisabled() {
		var err error
		if tokens, err = a.httpTokens(); err != nil {
			return err
		}
	}
	if err := a.checkWorkersDir(); err != nil {
		return err
	}
	// So is the workers directory: one that cannot be read is bad input.
	var workers *workerDir
	if a.cfg.WorkersDir != "" {
		var err error
		if workers, err = newWorkerDir(a.cfg.WorkersDir, logger, a.cfg.Queues); err != nil {
			reason := err
			if fe := (*config.FileError)(nil); errors.As(err, &fe) {
				reason = fe.Err
			}
			return usageError{&config.FieldError{Field: config.EnvWorkersDir, Value: a.cfg.WorkersDir,
				Reason: "not a directory rota can read: " + reason.Error()}}
		}
	}
	a.storeNotes = true // a node's log says what its store does, the migrations it applies too
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	queues := make(map[string]rota.QueueConfig, len(a.cfg.Queues))
	names := make([]string, 0, len(a.cfg.Queues))
	for q, n := range a.cfg.Queues {
		queues[q] = rota.QueueConfig{MaxWorkers: n}
		names = append(names, fmt.Sprintf("%s=%d", q, n))
	}
	sort.Strings(names)
	opts := rota.Options{
		NodeID:        a.cfg.NodeID,
		Queues:        queues,
		Logger:        logger,
		LeaseDuration: a.cfg.LeaseDuration,
		LeaderLease:   a.cfg.LeaderLease,
		AbortGrace:    a.cfg.AbortGrace,
		Retention:     a.cfg.Retention,
		// 0 turns the lookahead off here; rota.Options takes 0 as its default.
		ScheduleLookahead: cmp.Or(a.cfg.ScheduleLookahead, -1),
	}
	if workers != nil {
		opts.WorkerConfig = workers
	}
	// The event relays run on the leading node (set the sinks alike on
	// every node); they wake at this node's appends to the event log.
	var evlog *rota.EventLog
	relays, err := newSinks(a.cfg.Sinks, a.cfg.NodeID, st, func() <-chan struct{} { return evlog.Changed() }, logger)
	if err != nil {
		return err
	}
	defer relays.close()
	if len(relays.relays) > 0 && a.cfg.EventLogDisabled() {
		logger.Warn("rota: " + config.EnvEventLog + " is off: the event relays send only what other nodes or CLI commands log")
	}
	opts.LeaderTasks = relays.leaderTasks()
	client, err := rota.New(st, opts)
	if err != nil {
		return err
	}
	if a.register != nil {
		if err := a.register(client); err != nil {
			return err
		}
	}
	if err := relays.addListeners(a.cfg.Sinks, client, logger); err != nil {
		return err
	}
	// The durable event log (GET /v1/events on any node of the store) gets
	// this node's events from before Start until after Stop, whether or
	// not this node serves HTTP.
	// ROTA_EVENT_LOG=off leaves it out (the log costs throughput: two rows
	// per job on the store's writer).
	if !a.cfg.EventLogDisabled() {
		if evlog, err = rota.NewEventLog(client, rota.EventLogOptions{MaxEvents: a.cfg.EventsMax, MaxAge: a.cfg.EventsMaxAge, Logger: logger}); err != nil {
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
			defer cancel()
			if err := evlog.Close(ctx); err != nil {
				logger.Warn("rota: event log", "err", err)
			}
		}()
	}
	// The node runs until Stop, not until the signal: the signal starts a
	// graceful shutdown below, with its own deadline.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if workers != nil {
		go workers.run(runCtx, client)
	}
	var (
		srv      *server.Server
		ln       net.Listener
		serveErr = make(chan error, 1)
	)
	if !a.cfg.ListenDisabled() {
		if srv, err = server.New(client, server.Options{Logger: logger, Tokens: tokens,
			MaxBodyBytes: a.cfg.HTTPMaxBody, MaxLongPolls: a.cfg.HTTPMaxLongPolls,
			EventLog: evlog, NoEventLog: evlog == nil, MaxEventStreams: a.cfg.HTTPMaxEventStreams,
			Collectors: relays.collectors()}); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp", a.cfg.Listen); err != nil {
			srv.Close()
			return fmt.Errorf("http: %w", err)
		}
		go func() { serveErr <- srv.Serve(ln) }()
	}
	if err := client.Start(runCtx); err != nil {
		if srv != nil {
			_ = srv.Shutdown(context.Background())
		}
		return err
	}
	relays.runListeners(runCtx, logger)
	httpAddr := config.ListenOff
	if ln != nil {
		httpAddr = ln.Addr().String()
	}
	logger.Info("rota serving", "node", a.cfg.NodeID, "store", st.Driver(), "database", redactURL(a.cfg.DatabaseURL),
		"queues", names, "workers_dir", a.cfg.WorkersDir, "http", httpAddr, "tokens", len(tokens))
	var failed error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		failed = fmt.Errorf("http: %w", err)
		if err == nil {
			failed = errors.New("http: the server stopped")
		}
		logger.Error("rota: the HTTP server failed; shutting down", "err", failed)
	}
	logger.Info("rota shutting down", "timeout", a.cfg.ShutdownTimeout)
	stopCtx, stopCancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer stopCancel()
	if srv != nil {
		// The API first: readiness fails, long polls end, requests in
		// flight finish; then the node.
		if err := srv.Shutdown(stopCtx); err != nil {
			logger.Warn("rota: http shutdown", "err", err)
		}
	}
	if err := client.Stop(stopCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("rota stopped")
	return failed
}

// httpTokens loads the API's tokens and refuses to serve without them on
// an address that is not loopback.
func (a *app) httpTokens() ([]server.Token, error) {
	cts, err := a.cfg.LoadTokens()
	if err != nil {
		return nil, usageError{err}
	}
	if len(cts) == 0 && server.NeedsTokens(a.cfg.Listen) {
		return nil, usageError{&config.FieldError{Field: config.EnvListen, Value: a.cfg.Listen,
			Reason: "not a loopback address, and no tokens are set: the API would be open to the network; " +
				"set ROTA_TOKENS or ROTA_TOKENS_FILE (name:role:secret), listen on 127.0.0.1, or set ROTA_LISTEN=off"}}
	}
	out := make([]server.Token, len(cts))
	for i, t := range cts {
		role, err := server.ParseRole(t.Role)
		if err != nil {
			return nil, usageError{err}
		}
		out[i] = server.Token{Name: t.Name, Role: role, Secret: t.Secret}
	}
	return out, nil
}

// redactURL hides the password of a database URL (a postgres:// URL may
// carry one); a file path is returned as it is.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
