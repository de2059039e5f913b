package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/events"
	"github.com/rotahq/rota/store"
)

// sinks are the event relays and abort listeners that rota serve runs from
// the sink settings (ROTA_WEBHOOK_URL, ROTA_NATS_URL, ROTA_KAFKA_*).
type sinks struct {
	// relays run as leader tasks: the leading node relays log.
	relays []*events.Relay
	log    store.EventLog
	// aborters handle the abort messages of the listeners.
	aborters []*events.Aborter
	// listeners are the abort listeners' loops (runListeners).
	listeners []func(context.Context) error
	running   sync.WaitGroup
	// closers end the sinks' connections once the node has stopped.
	closers []func()
	// nats and kafka are the connection settings of the sinks and the
	// abort listeners, built once (their TLS files read once).
	nats  events.NATSConnOptions
	kafka events.KafkaConfig
}

// listenerRestart is the pause before an abort listener that failed is
// started again.
const listenerRestart = time.Second

// newSinks builds the relays of the configured sinks on log. changed
// wakes them at this node's appends (it may return nil). It checks the
// settings first: a bad combination is a usage error.
func newSinks(cfg config.Sinks, nodeID string, log store.EventLog, changed func() <-chan struct{}, logger *slog.Logger) (*sinks, error) {
	if err := cfg.CheckSinks(); err != nil {
		return nil, usageError{err}
	}
	for _, w := range cfg.Warnings() {
		logger.Warn("rota: event sink settings: " + w)
	}
	s := &sinks{log: log}
	var err error
	if s.nats, err = natsConn(cfg, nodeID, logger); err != nil {
		return nil, err
	}
	if s.kafka, err = kafkaConfig(cfg, nodeID, logger); err != nil {
		return nil, err
	}
	format, err := events.ParseFormat(cfg.EventsFormat)
	if err != nil {
		return nil, usageError{err}
	}
	// A relay's position is per destination (named by a hash of what
	// identifies it): pointed at a new one, it starts at the log's end
	// instead of sending the old one's backlog there.
	relay := func(kind, destination, shown string, sink events.Sink) error {
		sum := sha256.Sum256([]byte(destination))
		name := kind + ":" + hex.EncodeToString(sum[:8])
		r, err := events.NewRelay(log, events.RelayOptions{Name: name, Sink: sink, Format: format, Changed: changed, Logger: logger, MaxBatch: cfg.EventsBatch,
			Filter: rota.EventFilter{Kinds: cfg.EventsKinds, Queues: cfg.EventsQueues}})
		if err != nil {
			return err
		}
		s.relays = append(s.relays, r)
		logger.Info("rota: event relay configured; the leading node relays", "relay", name, "to", shown, "format", cfg.EventsFormat)
		if len(cfg.EventsKinds) > 0 || len(cfg.EventsQueues) > 0 {
			logger.Info("rota: event relay filter", "relay", name, "kinds", cfg.EventsKinds, "queues", cfg.EventsQueues)
		}
		return nil
	}
	if cfg.NATSURL != "" && cfg.NATSSubject != config.SinkOff {
		ns, err := events.NewNATSSink(events.NATSSinkOptions{NATSConnOptions: s.nats,
			Prefix: cfg.NATSSubject, JetStream: cfg.NATSJetStream})
		if err != nil {
			return nil, usageError{err}
		}
		s.closers = append(s.closers, func() { _ = ns.Close() })
		if err := relay("nats", cfg.NATSSubject, cfg.NATSSubject+".>", ns); err != nil {
			return nil, err
		}
	}
	if len(cfg.KafkaBrokers) > 0 && cfg.KafkaTopic != "" {
		ks, err := events.NewKafkaSink(events.KafkaSinkOptions{KafkaConfig: s.kafka, Topic: cfg.KafkaTopic})
		if err != nil {
			return nil, usageError{err}
		}
		s.closers = append(s.closers, ks.Close)
		if err := relay("kafka", cfg.KafkaTopic, "topic "+cfg.KafkaTopic, ks); err != nil {
			return nil, err
		}
	}
	if cfg.WebhookURL != "" {
		wh, err := events.NewWebhook(events.WebhookOptions{URL: cfg.WebhookURL, Secret: cfg.WebhookSecret})
		if err != nil {
			return nil, usageError{err}
		}
		if err := relay("webhook", cfg.WebhookURL, config.URLOrigin(cfg.WebhookURL), wh); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// natsConn are the NATS connection settings of cfg; an error is a usage
// error (a TLS file that cannot be used).
func natsConn(cfg config.Sinks, nodeID string, logger *slog.Logger) (events.NATSConnOptions, error) {
	tc, err := cfg.NATSTLSConfig()
	if err != nil {
		return events.NATSConnOptions{}, usageError{err}
	}
	return events.NATSConnOptions{URL: cfg.NATSURL, Name: "rota " + nodeID, Logger: logger,
		CredsFile: cfg.NATSCreds, NKeySeedFile: cfg.NATSNKey, TLS: tc}, nil
}

// kafkaConfig are the Kafka connection settings of cfg; an error is a
// usage error (a TLS file that cannot be used).
func kafkaConfig(cfg config.Sinks, nodeID string, logger *slog.Logger) (events.KafkaConfig, error) {
	tc, err := cfg.KafkaTLSConfig()
	if err != nil {
		return events.KafkaConfig{}, usageError{err}
	}
	return events.KafkaConfig{Brokers: cfg.KafkaBrokers, ClientID: "rota-" + nodeID, Logger: logger, TLS: tc,
		SASL: events.KafkaSASL{Mechanism: cfg.KafkaSASL, User: cfg.KafkaUser, Password: cfg.KafkaPassword}}, nil
}

// addListeners makes the abort listeners of cfg on c, with the
// connection settings newSinks built: they run on every
// node (a NATS queue group, a Kafka consumer group: one node gets each
// message) from runListeners until the node stops.
func (s *sinks) addListeners(cfg config.Sinks, c *rota.Client, logger *slog.Logger) error {
	aborter := func() (*events.Aborter, error) {
		a, err := events.NewAborter(c, cfg.AbortKeyField, logger)
		if err == nil {
			s.aborters = append(s.aborters, a)
		}
		return a, err
	}
	if cfg.NATSAborts() {
		a, err := aborter()
		if err != nil {
			return err
		}
		l, err := events.NewNATSAbortListener(a, events.NATSAbortOptions{NATSConnOptions: s.nats,
			Subject: cfg.NATSAbortSubject, Queue: cfg.NATSAbortGroup})
		if err != nil {
			return usageError{err}
		}
		s.closers = append(s.closers, func() { _ = l.Close() })
		s.listeners = append(s.listeners, l.Run)
		logger.Info("rota: abort messages configured", "nats_subject", cfg.NATSAbortSubject, "group", cfg.NATSAbortGroup,
			"key_field", cfg.AbortKeyField)
	}
	if len(cfg.KafkaBrokers) > 0 && cfg.KafkaAbortTopic != "" {
		a, err := aborter()
		if err != nil {
			return err
		}
		kc, err := events.NewKafkaAbortConsumer(events.KafkaAbortOptions{KafkaConfig: s.kafka,
			Topic: cfg.KafkaAbortTopic, Group: cfg.KafkaGroup, Aborter: a})
		if err != nil {
			return usageError{err}
		}
		s.closers = append(s.closers, kc.Close)
		s.listeners = append(s.listeners, kc.Run)
		logger.Info("rota: abort messages configured", "kafka_topic", cfg.KafkaAbortTopic, "group", cfg.KafkaGroup,
			"key_field", cfg.AbortKeyField)
	}
	return nil
}

// runListeners runs the abort listeners until ctx ends; a listener that
// fails is logged and started again after a pause.
func (s *sinks) runListeners(ctx context.Context, logger *slog.Logger) {
	for _, run := range s.listeners {
		s.running.Go(func() {
			for ctx.Err() == nil {
				if err := run(ctx); err != nil && ctx.Err() == nil {
					logger.Warn("rota: abort listener failed; starting it again", "err", err)
				} else if err == nil {
					return // closed
				}
				select {
				case <-ctx.Done():
				case <-time.After(listenerRestart):
				}
			}
		})
	}
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
	return []prometheus.Collector{events.NewCollector(s.log, s.relays, s.aborters)}
}

// close ends the sinks' connections and waits for the listeners.
func (s *sinks) close() {
	for _, c := range s.closers {
		c()
	}
	s.running.Wait()
}
