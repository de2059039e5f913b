package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/events"
	"github.com/rotahq/rota/store"
)

// sinks are the event relays and abort listeners that rota serve runs from
// the sink settings (ROTA_WEBHOOK_URL, ROTA_NATS_URL, ROTA_KAFKA_*).
type sinks struct {
	// relays run as leader tasks: the leading node relays the event log.
	relays []*events.Relay
	// aborters handle the abort messages of the listeners.
	aborters []*events.Aborter
	// closers end the sinks' connections once the node has stopped.
	closers []func()
}

// newSinks builds the relays of the configured sinks on log. changed
// wakes them at this node's appends (it may return nil). It checks the
// settings first: a bad combination is a usage error.
func newSinks(cfg config.Sinks, log store.EventLog, changed func() <-chan struct{}, logger *slog.Logger) (*sinks, error) {
	if err := cfg.CheckSinks(); err != nil {
		return nil, usageError{err}
	}
	s := &sinks{}
	format, err := events.ParseFormat(cfg.EventsFormat)
	if err != nil {
		return nil, usageError{err}
	}
	relay := func(name string, sink events.Sink) error {
		r, err := events.NewRelay(log, events.RelayOptions{Name: name, Sink: sink, Format: format, Changed: changed, Logger: logger,
			Filter: rota.EventFilter{Kinds: cfg.EventsKinds, Queues: cfg.EventsQueues}})
		if err != nil {
			return err
		}
		s.relays = append(s.relays, r)
		logger.Info("rota: event relay configured; the leading node relays", "relay", name, "format", cfg.EventsFormat)
		return nil
	}
	if cfg.WebhookURL != "" {
		wh, err := events.NewWebhook(events.WebhookOptions{URL: cfg.WebhookURL, Secret: cfg.WebhookSecret})
		if err != nil {
			return nil, usageError{err}
		}
		if err := relay("webhook", wh); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// leaderTasks are the relays as rota.Options.LeaderTasks.
func (s *sinks) leaderTasks() []func(context.Context) {
	var tasks []func(context.Context)
	for _, r := range s.relays {
		tasks = append(tasks, func(ctx context.Context) { _ = r.Run(ctx) })
	}
	return tasks
}

// collectors export the relays' and aborters' counters on /metrics.
func (s *sinks) collectors() []prometheus.Collector {
	if len(s.relays) == 0 && len(s.aborters) == 0 {
		return nil
	}
	return []prometheus.Collector{events.NewCollector(s.relays, s.aborters)}
}

// close ends the sinks' connections.
func (s *sinks) close() {
	for _, c := range s.closers {
		c()
	}
}
