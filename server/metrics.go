package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rotahq/rota"
)

// metricsEventBuffer is the buffer of the metrics' event subscription; a
// burst beyond it drops events (counted in rota_events_dropped_total).
const metricsEventBuffer = 8192

// Kind labels: the first maxKindLabels kinds seen get a series of their
// own; later ones are counted under otherKindLabel, so that writers who
// enqueue ever new kinds cannot grow /metrics without bound.
const (
	maxKindLabels  = 1000
	otherKindLabel = "_other"
)

// The request-time histogram's buckets: requestBuckets of them, doubling
// from requestBucketMin seconds (0.25 ms to about 8 s).
const (
	requestBucketMin = 0.00025
	requestBuckets   = 16
)

// attemptBuckets are the run-time histogram's buckets, in seconds.
func attemptBuckets() []float64 {
	return []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600}
}

// metrics is the server's Prometheus registry. Job counters and run times
// come from the client's events (this process's transitions only: each
// node reports what it did); queue gauges, lease losses and event drops
// are read from the client at each scrape.
type metrics struct {
	reg      *prometheus.Registry
	handler  http.Handler
	enqueued *prometheus.CounterVec
	attempts *prometheus.CounterVec
	finished *prometheus.CounterVec
	runTime  *prometheus.HistogramVec
	requests *prometheus.CounterVec
	// requestTime is rota_http_request_duration_seconds by route.
	requestTime *prometheus.HistogramVec

	sub  *rota.Subscription
	once sync.Once
	done chan struct{}

	kinds map[string]bool // kinds with series of their own; used by run only
}

// newMetrics registers the server's collectors and extra; a collector of
// extra that clashes with another is an error.
func newMetrics(c *rota.Client, log *slog.Logger, extra []prometheus.Collector) (*metrics, error) {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rota_jobs_enqueued_total", Help: "Jobs enqueued through this node (duplicates of an active key not counted).",
		}, []string{"kind"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rota_attempts_total", Help: "Attempts ended, by kind and outcome (done, error, panic, timeout, retry_later, snooze, cancel, fail, aborted, interrupted, lost).",
		}, []string{"kind", "outcome"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rota_jobs_finished_total", Help: "Jobs that reached a final state (done, error, aborted) through this node, by kind.",
		}, []string{"kind", "state"}),
		runTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rota_attempt_duration_seconds", Help: "Run time of the attempts this node finished, by kind.", Buckets: attemptBuckets(),
		}, []string{"kind"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rota_http_requests_total", Help: "HTTP API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rota_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its handler, by route pattern (long polls and event streams include their waits).",
			Buckets: prometheus.ExponentialBuckets(requestBucketMin, 2, requestBuckets),
		}, []string{"route"}),
		done: make(chan struct{}),
	}
	m.reg.MustRegister(m.enqueued, m.attempts, m.finished, m.runTime, m.requests, m.requestTime,
		newClientCollector(c, log),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, x := range extra {
		if err := m.reg.Register(x); err != nil {
			return nil, fmt.Errorf("server: metrics: %w", err)
		}
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	})
	m.sub = c.Subscribe(metricsEventBuffer, rota.EventFilter{})
	go m.run()
	return m, nil
}

// run counts events until the subscription closes.
func (m *metrics) run() {
	defer close(m.done)
	for e := range m.sub.C {
		m.observe(e)
	}
}

func (m *metrics) observe(e rota.Event) {
	kind := m.kindLabel(e.Kind)
	if e.From == "" {
		m.enqueued.WithLabelValues(kind).Inc()
	}
	if e.Outcome != "" {
		m.attempts.WithLabelValues(kind, string(e.Outcome)).Inc()
	}
	if e.RunTime > 0 {
		m.runTime.WithLabelValues(kind).Observe(e.RunTime.Seconds())
	}
	if e.To.Final() && e.From != e.To {
		m.finished.WithLabelValues(kind, string(e.To)).Inc()
	}
}

// kindLabel is the kind label of kind: itself among the first
// maxKindLabels kinds seen, otherKindLabel after.
func (m *metrics) kindLabel(kind string) string {
	if m.kinds[kind] {
		return kind
	}
	if len(m.kinds) >= maxKindLabels {
		return otherKindLabel
	}
	if m.kinds == nil {
		m.kinds = make(map[string]bool)
	}
	m.kinds[kind] = true
	return kind
}

// request counts one HTTP request and its duration.
func (m *metrics) request(route string, status int, took time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.requestTime.WithLabelValues(route).Observe(took.Seconds())
}

// close ends the subscription and waits for run.
func (m *metrics) close() {
	m.once.Do(func() {
		m.sub.Close()
		<-m.done
	})
}

// serveMetrics is GET /metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

// clientCollector reads the client's numbers at each scrape.
type clientCollector struct {
	c   *rota.Client
	log *slog.Logger

	queueJobs, queueDepth, queueAge, queuePaused *prometheus.Desc
	leaseLosses, eventsDropped, running, leader  *prometheus.Desc
	scrapeOK, configErrors                       *prometheus.Desc
}

func newClientCollector(c *rota.Client, log *slog.Logger) *clientCollector {
	return &clientCollector{
		c: c, log: log,
		queueJobs: prometheus.NewDesc("rota_queue_jobs", "Jobs of each queue by state (final ones until pruned).",
			[]string{"queue", "state"}, nil),
		queueDepth: prometheus.NewDesc("rota_queue_depth", "Jobs queued (runnable now) in each queue.", []string{"queue"}, nil),
		queueAge: prometheus.NewDesc("rota_queue_oldest_queued_age_seconds",
			"Age of the oldest queued job of each queue (since its run_at); 0 when none is queued.", []string{"queue"}, nil),
		queuePaused: prometheus.NewDesc("rota_queue_paused", "1 when the queue is paused.", []string{"queue"}, nil),
		leaseLosses: prometheus.NewDesc("rota_lease_losses_total",
			"Attempts this node gave up because it lost their lease.", nil, nil),
		eventsDropped: prometheus.NewDesc("rota_events_dropped_total",
			"Events lost to full subscription buffers in this node (the metrics' own included).", nil, nil),
		running:  prometheus.NewDesc("rota_running_jobs", "Jobs this node runs now.", nil, nil),
		leader:   prometheus.NewDesc("rota_leader", "1 when this node leads (runs the rescuer and pruner).", nil, nil),
		scrapeOK: prometheus.NewDesc("rota_scrape_store_ok", "1 when the store answered this scrape's queue query.", nil, nil),
		configErrors: prometheus.NewDesc("rota_worker_config_errors",
			"Worker files of this node that do not parse now (each kind keeps its last good version).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (cc *clientCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cc.queueJobs, cc.queueDepth, cc.queueAge, cc.queuePaused,
		cc.leaseLosses, cc.eventsDropped, cc.running, cc.leader, cc.scrapeOK, cc.configErrors} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (cc *clientCollector) Collect(ch chan<- prometheus.Metric) {
	st := cc.c.ClientStats()
	ch <- prometheus.MustNewConstMetric(cc.leaseLosses, prometheus.CounterValue, float64(st.LeasesLost))
	ch <- prometheus.MustNewConstMetric(cc.eventsDropped, prometheus.CounterValue, float64(st.EventsDropped))
	ch <- prometheus.MustNewConstMetric(cc.running, prometheus.GaugeValue, float64(st.Running))
	ch <- prometheus.MustNewConstMetric(cc.leader, prometheus.GaugeValue, boolFloat(st.Leader))
	ch <- prometheus.MustNewConstMetric(cc.configErrors, prometheus.GaugeValue, float64(st.WorkerConfigErrors))
	ctx, cancel := context.WithTimeout(context.Background(), DefaultScrapeTimeout)
	defer cancel()
	qs, err := cc.c.Queues(ctx)
	if err != nil {
		cc.log.Warn("rota http: metrics: queues", "err", err)
		ch <- prometheus.MustNewConstMetric(cc.scrapeOK, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(cc.scrapeOK, prometheus.GaugeValue, 1)
	now := time.Now()
	for _, q := range qs {
		for state, n := range q.Counts {
			ch <- prometheus.MustNewConstMetric(cc.queueJobs, prometheus.GaugeValue, float64(n), q.Name, string(state))
		}
		ch <- prometheus.MustNewConstMetric(cc.queueDepth, prometheus.GaugeValue, float64(q.Counts[rota.StateQueued]), q.Name)
		age := 0.0
		if !q.OldestQueuedAt.IsZero() {
			age = max(now.Sub(q.OldestQueuedAt).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(cc.queueAge, prometheus.GaugeValue, age, q.Name)
		ch <- prometheus.MustNewConstMetric(cc.queuePaused, prometheus.GaugeValue, boolFloat(q.Paused), q.Name)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
