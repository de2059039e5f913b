package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
)

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run a rota node on the configured store until SIGINT or SIGTERM",
		Long: "rota serve migrates the store, then claims and runs jobs of the configured queues\n" +
			"(ROTA_QUEUES, default default=100) with the workers configured in ROTA_WORKERS_DIR:\n" +
			"a <kind>.json file with an \"exec\" command binds that kind to the command.\n" +
			"On SIGINT or SIGTERM it stops taking jobs, lets running ones finish for\n" +
			"ROTA_SHUTDOWN_TIMEOUT, then puts the rest back in their queue.",
		Args: rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd.Context())
		},
	}
}

func (a *app) serve(ctx context.Context) error {
	logger := a.logger()
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
	}
	var workers *workerDir
	if a.cfg.WorkersDir != "" {
		if workers, err = newWorkerDir(a.cfg.WorkersDir, logger, a.cfg.Queues); err != nil {
			return err
		}
		opts.WorkerConfig = workers
	}
	client, err := rota.New(st, opts)
	if err != nil {
		return err
	}
	if a.register != nil {
		if err := a.register(client); err != nil {
			return err
		}
	}
	// The node runs until Stop, not until the signal: the signal starts a
	// graceful shutdown below, with its own deadline.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if workers != nil {
		go workers.run(runCtx, client)
	}
	if err := client.Start(runCtx); err != nil {
		return err
	}
	logger.Info("rota serving", "node", a.cfg.NodeID, "store", st.Driver(), "database", a.cfg.DatabaseURL,
		"queues", names, "workers_dir", a.cfg.WorkersDir)
	<-ctx.Done()
	logger.Info("rota shutting down", "timeout", a.cfg.ShutdownTimeout)
	stopCtx, stopCancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer stopCancel()
	if err := client.Stop(stopCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("rota stopped")
	return nil
}
