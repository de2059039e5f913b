package events

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the counters of relays and aborters to Prometheus:
// rota_event_relay_delivered_total, rota_event_relay_failures_total and
// rota_event_relay_position by relay, and rota_abort_messages_total by
// outcome (aborted: jobs aborted; ignored: messages naming no running
// job; invalid: unreadable messages). A relay's numbers are this node's
// (it relays while it leads).
type Collector struct {
	relays   []*Relay
	aborters []*Aborter

	delivered, failures, position, aborts *prometheus.Desc
}

// NewCollector makes a collector of relays and aborters.
func NewCollector(relays []*Relay, aborters []*Aborter) *Collector {
	return &Collector{
		relays: relays, aborters: aborters,
		delivered: prometheus.NewDesc("rota_event_relay_delivered_total",
			"Messages the relay's destination accepted while this node relayed.", []string{"relay"}, nil),
		failures: prometheus.NewDesc("rota_event_relay_failures_total",
			"Sends of the relay that failed (each batch is sent again).", []string{"relay"}, nil),
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
	ch <- c.position
	ch <- c.aborts
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.relays {
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(r.Delivered()), r.opts.Name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(r.Failures()), r.opts.Name)
		ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(r.Position()), r.opts.Name)
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
