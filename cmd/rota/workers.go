package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
)

// workerDir serves the per-worker JSON directory to a client: it is the
// client's live WorkerConfigSource, and it binds every kind whose file has an
// "exec" command to that command, rebinding when the file changes.
type workerDir struct {
	w       *config.Watcher
	logger  *slog.Logger
	changes chan struct{}
	bound   map[string]config.Exec
	served  map[string]int // the queues this node works
}

func newWorkerDir(dir string, logger *slog.Logger, served map[string]int) (*workerDir, error) {
	w, err := config.NewWatcher(dir, logger)
	if err != nil {
		return nil, fmt.Errorf("workers dir: %w", err)
	}
	return &workerDir{w: w, logger: logger, changes: make(chan struct{}, 1), bound: map[string]config.Exec{}, served: served}, nil
}

// Kind implements rota.WorkerConfigSource: the kind's file merged over the defaults.
func (d *workerDir) Kind(kind string) (rota.KindConfig, bool) {
	return kindConfig(d.w.Current().Kind(kind)), true
}

// Errors implements rota.ConfigErrorSource: the files that do not parse.
func (d *workerDir) Errors() []error { return d.w.Errors() }

// RetentionKinds implements rota.RetentionSource: the leader prunes each
// kind with a file by the retention of that file, whether or not it runs it.
func (d *workerDir) RetentionKinds() []string { return retentionKinds(d.w.Current()) }

// DefaultRetention implements rota.RetentionSource: _defaults.json's
// retention is that of every kind without a file.
func (d *workerDir) DefaultRetention() time.Duration { return defaultRetention(d.w.Current()) }

// retentionKinds lists the kinds of ws whose file (or _defaults.json) sets
// a retention.
func retentionKinds(ws config.Workers) []string {
	var kinds []string
	for _, kind := range ws.Kinds() {
		if ws.Kind(kind).Retention != nil {
			kinds = append(kinds, kind)
		}
	}
	return kinds
}

// defaultRetention is the retention _defaults.json sets, or 0.
func defaultRetention(ws config.Workers) time.Duration {
	if r := ws.Defaults().Retention; r != nil {
		return *r
	}
	return 0
}

// staticWorkers is one read of the workers directory, for commands that do
// not run a node: an enqueue then takes the kind's queue, priority and
// attempts from its file, as the server would.
type staticWorkers struct{ ws config.Workers }

// Kind implements rota.WorkerConfigSource.
func (s staticWorkers) Kind(kind string) (rota.KindConfig, bool) {
	return kindConfig(s.ws.Kind(kind)), true
}

// Changes implements rota.WorkerConfigSource; a one-time read never changes.
func (staticWorkers) Changes() <-chan struct{} { return nil }

// kindConfig converts a kind's file to the engine's configuration.
func kindConfig(wc config.WorkerConfig) rota.KindConfig {
	kc := rota.KindConfig{
		LogLevel:    wc.LogLevel,
		MaxWorkers:  wc.MaxWorkers,
		Timeout:     wc.Timeout,
		MaxAttempts: wc.MaxAttempts,
		Queue:       wc.Queue,
		Priority:    wc.Priority,
		Retention:   wc.Retention,
		Custom:      customConfig{wc},

		GlobalMaxWorkers: wc.GlobalMaxWorkers,
		Interval:         wc.Interval,
	}
	if wc.RateLimit != nil {
		kc.RateLimit = &rota.RateLimit{N: wc.RateLimit.N, Per: wc.RateLimit.Per}
	}
	if wc.Ranker != nil && wc.Ranker.Name == config.RankerRecency {
		kc.Ranker = rota.RecencyRanker{Window: wc.Ranker.Window}
	}
	if b := wc.Backoff; b != nil {
		base, maxDelay, jitter := rota.DefaultBackoffBase, rota.DefaultBackoffMax, rota.DefaultBackoffJitter
		if b.Base != nil {
			base = *b.Base
		}
		if b.Max != nil {
			maxDelay = *b.Max
		}
		if b.Jitter != nil {
			jitter = *b.Jitter
		}
		kc.Backoff = rota.ExponentialBackoff(base, max(maxDelay, base), jitter)
	}
	if wc.Exec != nil {
		kc.Exec, kc.Shell = wc.Exec.Argv, wc.Exec.Shell
	}
	return kc
}

// Changes implements rota.WorkerConfigSource.
func (d *workerDir) Changes() <-chan struct{} { return d.changes }

// run watches the directory until ctx ends, binding exec kinds on client.
func (d *workerDir) run(ctx context.Context, client *rota.Client) {
	go func() {
		if err := d.w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			d.logger.Error("workers dir watcher stopped", "err", err)
		}
	}()
	d.bind(client)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.w.Changes():
			d.bind(client)
			select {
			case d.changes <- struct{}{}:
			default:
			}
		}
	}
}

// bind registers a command worker for each kind with an exec key, and
// unregisters those whose exec key is gone.
func (d *workerDir) bind(client *rota.Client) {
	ws := d.w.Current()
	want := map[string]config.Exec{}
	for _, kind := range ws.Kinds() {
		if wc := ws.Kind(kind); wc.Exec != nil {
			want[kind] = *wc.Exec
		}
	}
	for kind, ex := range d.bound {
		if nw, ok := want[kind]; !ok || !sameExec(nw, ex) {
			if err := client.Unregister(kind); err != nil {
				d.logger.Error("unbind exec worker", "kind", kind, "err", err)
			}
			delete(d.bound, kind)
		}
	}
	for kind, ex := range want {
		if _, ok := d.bound[kind]; ok {
			continue
		}
		var w rota.Worker
		if len(ex.Argv) > 0 {
			w = rota.Command(ex.Argv...)
		} else {
			w = rota.ShellCommand(ex.Shell)
		}
		if err := client.Register(kind, w); err != nil {
			d.logger.Error("bind exec worker", "kind", kind, "err", err)
			continue
		}
		d.bound[kind] = ex
		queue := config.DefaultQueue
		if q := ws.Kind(kind).Queue; q != nil {
			queue = *q
		}
		d.logger.Info("exec worker bound", "kind", kind, "queue", queue)
		if _, ok := d.served[queue]; !ok {
			d.logger.Warn("exec worker's queue is not served by this node: its jobs wait until a node serves it (ROTA_QUEUES)",
				"kind", kind, "queue", queue)
		}
	}
}

func sameExec(a, b config.Exec) bool { return a.Shell == b.Shell && slices.Equal(a.Argv, b.Argv) }

// customConfig exposes a kind's custom keys to its worker (rota.ConfigFrom).
type customConfig struct{ wc config.WorkerConfig }

// Get implements rota.WorkerConfig.
func (c customConfig) Get(key string, dst any) (bool, error) {
	err := c.wc.Get(key, dst)
	if errors.Is(err, config.ErrNotSet) {
		return false, nil
	}
	return err == nil, err
}

// Raw implements rota.WorkerConfig.
func (c customConfig) Raw() json.RawMessage {
	b, err := json.Marshal(c.wc.Raw())
	if err != nil {
		return nil
	}
	return b
}
