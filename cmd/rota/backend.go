package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/remote"
)

// backend is what the commands need of rota. Two types implement it: the
// in-process *rota.Client on the configured store, and *remote.Client, the
// HTTP API of a rota serve (--server). Every command has one code path for
// both.
type backend interface {
	EnqueueParams(ctx context.Context, p rota.EnqueueParams) (*rota.Job, error)
	List(ctx context.Context, p rota.ListParams) (rota.ListPage, error)
	Get(ctx context.Context, id int64) (*rota.Job, error)
	Abort(ctx context.Context, id int64, reason string) (*rota.Job, error)
	AbortKey(ctx context.Context, kind, key, reason string) (*rota.Job, error)
	Retry(ctx context.Context, id int64) (*rota.Job, error)
	Release(ctx context.Context, id int64) (*rota.Job, error)
	Delete(ctx context.Context, id int64) (*rota.Job, error)

	Queues(ctx context.Context) ([]rota.QueueInfo, error)
	UpdateQueue(ctx context.Context, name string, u rota.QueueUpdate) (rota.QueueInfo, error)
	Nodes(ctx context.Context) ([]rota.NodeInfo, error)
	Stats(ctx context.Context) (rota.Stats, error)
	CountsByHour(ctx context.Context, from, to time.Time) ([]rota.HourCount, error)

	CreateSchedule(ctx context.Context, p rota.ScheduleParams) (*rota.Schedule, error)
	UpdateSchedule(ctx context.Context, p rota.ScheduleParams) (*rota.Schedule, error)
	GetSchedule(ctx context.Context, key string) (*rota.Schedule, error)
	ListSchedules(ctx context.Context, p rota.ScheduleListParams) (rota.SchedulePage, error)
	EnableSchedule(ctx context.Context, key string) (*rota.Schedule, error)
	DisableSchedule(ctx context.Context, key, reason string) (*rota.Schedule, error)
	DeleteSchedule(ctx context.Context, key string) error
}

var (
	_ backend = (*rota.Client)(nil)
	_ backend = (*remote.Client)(nil)
)

// backend opens what the commands drive: the server of --server
// (ROTA_SERVER) with --token (ROTA_TOKEN), else a client on the store.
// done releases it.
func (a *app) backend(ctx context.Context) (b backend, done func(), err error) {
	if a.cfg.Server != "" {
		rc, err := remote.New(a.cfg.Server, remote.Options{Token: a.cfg.Token})
		if err != nil {
			return nil, nil, err
		}
		return rc, func() {}, nil
	}
	c, st, err := a.client(ctx)
	if err != nil {
		return nil, nil, err
	}
	if a.cfg.EventLogDisabled() {
		return c, func() { _ = st.Close() }, nil
	}
	// The command's job events (an enqueue, an abort, ...) go to the
	// store's durable event log, as a node's do, so that the GET
	// /v1/events streams of the servers on this store show them. It does
	// not prune: the servers keep the log to their own bounds.
	evlog, err := rota.NewEventLog(c, rota.EventLogOptions{NoPrune: true, Logger: a.logger()})
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	return c, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cliEventLogFlush)
		defer cancel()
		if err := evlog.Close(ctx); err != nil {
			a.logger().Warn("this command's job events may be missing from the event log", "err", err)
		}
		_ = st.Close()
	}, nil
}

// cliEventLogFlush bounds the wait, at the end of a command, for its job
// events to be appended to the event log.
const cliEventLogFlush = 10 * time.Second

// localOnly refuses --server (and ROTA_SERVER) for a command that works
// on the store itself.
func (a *app) localOnly(cmd *cobra.Command) error {
	if a.cfg.Server == "" {
		return nil
	}
	return usagef("rota %s works on the store (ROTA_DATABASE_URL), not over HTTP: drop --server (or unset ROTA_SERVER)", cmd.Name())
}

// output writes v as JSON with --json, and runs text otherwise.
func (a *app) output(v any, text func() error) error {
	if a.json {
		return printJSON(a.stdout, v)
	}
	return text()
}

// say writes v as JSON with --json, and one formatted line otherwise.
func (a *app) say(v any, format string, args ...any) error {
	return a.output(v, func() error {
		_, err := fmt.Fprintf(a.stdout, format+"\n", args...)
		return err
	})
}
