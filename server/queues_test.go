package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
)

func TestQueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.ok("POST", "/v1/jobs", "", `{"kind":"q.a","queue":"scans","hold":true}`, nil)
	e.ok("POST", "/v1/jobs", "", `{"kind":"q.a","queue":"scans/deep"}`, nil)
	var q apiwire.Queue
	e.ok("POST", "/v1/queues/scans/pause", "", "", &q)
	if q.Name != "scans" || !q.Paused {
		t.Errorf("paused: %+v", q)
	}
	e.ok("PATCH", "/v1/queues/scans", "", `{"max_size":10,"urgent_priority":1}`, &q)
	if q.MaxSize != 10 || q.UrgentPriority != 1 || !q.Paused {
		t.Errorf("patched: %+v", q)
	}
	e.ok("POST", "/v1/queues/scans/resume", "", "{}", &q)
	if q.Paused || q.MaxSize != 10 {
		t.Errorf("resumed: %+v", q)
	}
	// A queue name with a slash is percent-encoded in the path.
	e.ok("POST", "/v1/queues/scans%2Fdeep/pause", "", "", &q)
	if q.Name != "scans/deep" || !q.Paused {
		t.Errorf("paused scans/deep: %+v", q)
	}
	var l apiwire.QueueList
	e.ok("GET", "/v1/queues", "", "", &l)
	byName := map[string]apiwire.Queue{}
	for _, q := range l.Queues {
		byName[q.Name] = q
	}
	if s := byName["scans"]; s.Counts[rota.StateReady] != 1 || s.MaxSize != 10 {
		t.Errorf("scans: %+v", s)
	}
	if d := byName["scans/deep"]; d.Counts[rota.StateQueued] != 1 || !d.Paused || d.OldestQueuedAt.IsZero() {
		t.Errorf("scans/deep: %+v", d)
	}
}

func TestStatsNodesKinds(t *testing.T) {
	t.Parallel()
	prio := 5
	e := newEnv(t, envOptions{register: func(c *rota.Client) {
		_ = c.Register("mail.send", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
			rota.KindOptions{MaxWorkers: 2, Priority: &prio, Queue: "mail", Timeout: time.Minute,
				GlobalMaxWorkers: 4, RateLimit: rota.RateLimit{N: 10, Per: time.Second}})
		_ = c.Register("scan.rank", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
			rota.KindOptions{Ranker: rota.RecencyRanker{}})
	}})
	e.ok("POST", "/v1/jobs", "", `{"kind":"stats.a","hold":true}`, nil)
	e.ok("POST", "/v1/jobs", "", `{"kind":"stats.b","queue":"other","delay":"1h"}`, nil)
	var st apiwire.Stats
	e.ok("GET", "/v1/stats?hours=2", "", "", &st)
	if st.ByState[rota.StateReady] != 1 || st.ByState[rota.StateScheduled] != 1 || st.ByQueue["other"][rota.StateScheduled] != 1 ||
		st.ByKind["stats.a"][rota.StateReady] != 1 || st.To.Sub(st.From) != 2*time.Hour {
		t.Errorf("stats %+v", st)
	}
	n := int64(0)
	for _, h := range st.PerHour {
		n += h.N
	}
	if n != 2 {
		t.Errorf("per hour %+v, want 2 jobs", st.PerHour)
	}
	var ranged apiwire.Stats
	from := time.Now().Add(-time.Hour).UTC().Truncate(time.Hour)
	e.ok("GET", "/v1/stats?from="+from.Format(time.RFC3339)+"&to="+from.Add(3*time.Hour).Format(time.RFC3339), "", "", &ranged)
	if !ranged.From.Equal(from) || len(ranged.PerHour) == 0 {
		t.Errorf("ranged stats %+v", ranged)
	}

	var nodes apiwire.NodeList
	waitFor(t, "the node to register", func() bool {
		e.ok("GET", "/v1/nodes", "", "", &nodes)
		return len(nodes.Nodes) == 1
	})
	if nd := nodes.Nodes[0]; nd.ID != "test-node" || nd.State != rota.NodeAlive || nd.HeartbeatInterval != "10s" {
		t.Errorf("node %+v", nd)
	}

	var kinds kindsResponse
	e.ok("GET", "/v1/kinds", "", "", &kinds)
	if len(kinds.Kinds) != 2 {
		t.Fatalf("kinds %+v", kinds)
	}
	m := kinds.Kinds[0]
	if m.Kind != "mail.send" || m.MaxWorkers != 2 || m.Priority == nil || *m.Priority != 5 || m.Queue != "mail" || m.Timeout != "1m0s" ||
		m.MaxAttempts != rota.DefaultMaxAttempts || m.GlobalMaxWorkers != 4 || m.RateLimit == nil || m.RateLimit.Per != "1s" {
		t.Errorf("mail.send %+v", m)
	}
	if r := kinds.Kinds[1]; r.Kind != "scan.rank" || !r.Ranked || r.Priority != nil || r.Queue != "default" || r.Timeout != "1h0m0s" {
		t.Errorf("scan.rank %+v", r)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noStart: true})
	if r := e.do("GET", "/healthz", "", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"ok"`) {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/readyz", "", ""); r.status != http.StatusServiceUnavailable || r.errorOf(t).Code != CodeUnavailable {
		t.Errorf("readyz before start: %d %s", r.status, r.body)
	}
	if err := e.client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.client.Stop(context.Background()) }()
	if r := e.do("GET", "/readyz", "", ""); r.status != http.StatusOK {
		t.Errorf("readyz: %d %s", r.status, r.body)
	}
	e.srv.Close()
	if r := e.do("GET", "/readyz", "", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz after Close: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/healthz", "", ""); r.status != http.StatusOK {
		t.Errorf("healthz after Close: %d", r.status)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{register: func(c *rota.Client) {
		_ = c.Register("m.ok", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }))
		_ = c.Register("m.bad", rota.WorkFunc(func(context.Context, *rota.Job) error { return rota.Fail(context.Canceled) }))
	}})
	var ok, bad apiwire.Job
	e.ok("POST", "/v1/jobs", "", `{"kind":"m.ok"}`, &ok)
	e.ok("POST", "/v1/jobs", "", `{"kind":"m.bad"}`, &bad)
	e.ok("POST", "/v1/jobs", "", `{"kind":"m.wait","queue":"backlog"}`, nil)
	e.ok("POST", "/v1/queues/backlog/pause", "", "", nil)
	want := []string{
		`rota_jobs_enqueued_total{kind="m.ok"} 1`,
		`rota_attempts_total{kind="m.ok",outcome="done"} 1`,
		`rota_attempts_total{kind="m.bad",outcome="fail"} 1`,
		`rota_jobs_finished_total{kind="m.bad",state="error"} 1`,
		`rota_attempt_duration_seconds_count{kind="m.ok"} 1`,
		`rota_queue_depth{queue="backlog"} 1`,
		`rota_queue_jobs{queue="default",state="done"} 1`,
		`rota_queue_paused{queue="backlog"} 1`,
		`rota_queue_oldest_queued_age_seconds{queue="backlog"}`,
		`rota_lease_losses_total 0`,
		`rota_events_dropped_total 0`,
		`rota_leader 1`,
		`rota_scrape_store_ok 1`,
		`rota_worker_config_errors 0`,
		`rota_http_requests_total{code="200",route="POST /v1/jobs"} 3`,
		`rota_http_request_duration_seconds_count{route="POST /v1/jobs"} 3`,
		`rota_http_request_duration_seconds_bucket{route="POST /v1/jobs",le="0.00025"}`,
		`go_goroutines`,
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		text := string(e.do("GET", "/metrics", "", "").body)
		var missing []string
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q in:\n%s", missing, text)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
