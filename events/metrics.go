package events

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotahq/rota/store"
)

// scrapeTimeout bounds the store read of a scrape.
const scrapeTimeout = 2 * time.Second

// Collector exports the counters of relays and aborters to Prometheus:
// rota_event_relay_delivered_total, rota_event_relay_failures_total,
// rota_event_relay_gaps_total and rota_event_relay_position by relay,
// rota_event_log_last_id (the newest record of the log, read at each
// scrape: a relay's lag is it minus the relay's position), and
// rota_abort_messages_total by outcome (aborted: jobs aborted; ignored:
// messages naming no running job; invalid: unreadable messages). A relay's
// numbers are this node's (it relays while it leads).
type Collector struct {
	log      store.EventLog
	relays   []*Relay
	aborters []*Aborter

	delivered, failures, gaps, position, lastID, aborts *prometheus.Desc
}

// NewCollector makes a collector of relays and aborters; log, when not
// nil, is read for rota_event_log_last_id.
func NewCollector(log store.EventLog, relays []*Relay, aborters []*Aborter) *Collector {
	return &Collector{
		log: log, relays: relays, aborters: aborters,
		gaps: prometheus.NewDesc("rota_event_relay_gaps_total",
			"Gaps the relay met while this node relayed: records pruned before it read them, and events a node lost.", []string{"relay"}, nil),
		lastID: prometheus.NewDesc("rota_event_log_last_id",
			"Id of the newest record of the durable event log (a relay's lag: this minus its position).", nil, nil),
		delivered: prometheus.NewDesc("rota_event_relay_delivered_total",
			"Messages the relay's destination accepted while this node relayed.", []string{"relay"}, nil),
		failures: prometheus.NewDesc("rota_event_relay_failures_total",
			"Steps of the relay that failed: a send the destination refused, or a store read or save (each is tried again).", []string{"relay"}, nil),
		position: prometheus.NewDesc("rota_event_relay_position",
			"Id of the last event log record the relay handled on this node (0 until it runs).", []string{"relay"}, nil),
		aborts: prometheus.NewDesc("rota_abort_messages_total",
			"Abort messages: jobs aborted, messages that named no running job (ignored), unreadable messages (invalid).",
			[]string{"outcome"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.delivered
	ch <- c.failures
	ch <- c.gaps
	ch <- c.position
	ch <- c.lastID
	ch <- c.aborts
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.relays {
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(r.Delivered()), r.opts.Name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(r.Failures()), r.opts.Name)
		ch <- prometheus.MustNewConstMetric(c.gaps, prometheus.CounterValue, float64(r.Gaps()), r.opts.Name)
		ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(r.Position()), r.opts.Name)
	}
	if c.log != nil {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		last, err := c.log.LastEventID(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.lastID, err)
		} else {
			ch <- prometheus.MustNewConstMetric(c.lastID, prometheus.GaugeValue, float64(last))
		}
	}
	if len(c.aborters) == 0 {
		return
	}
	var aborted, ignored, invalid uint64
	for _, a := range c.aborters {
		aborted += a.Aborted()
		ignored += a.Ignored()
		invalid += a.Invalid()
	}
	ch <- prometheus.MustNewConstMetric(c.aborts, prometheus.CounterValue, float64(aborted), "aborted")
	ch <- prometheus.MustNewConstMetric(c.aborts, prometheus.CounterValue, float64(ignored), "ignored")
	ch <- prometheus.MustNewConstMetric(c.aborts, prometheus.CounterValue, float64(invalid), "invalid")
}
