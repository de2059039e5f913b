package bench

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/server"
)

// TestHTTPWorkloads runs each workload of RunHTTP small against a real
// server on SQLite, so that they cannot rot: every job is enqueued and
// (for throughput and latency) leased and completed by the remote workers.
func TestHTTPWorkloads(t *testing.T) {
	t.Parallel()
	st := openSQLite(t, "OFF")
	c, err := rota.New(st, rota.Options{NodeID: "bench-test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	}()
	srv, err := server.New(c, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, p := range []Params{
		{Workload: Throughput, Jobs: 250, Workers: 3},
		{Workload: Latency, Jobs: 20, Every: time.Millisecond},
		{Workload: Enqueue, Jobs: 100, Concurrency: 4},
	} {
		res, err := RunHTTP(context.Background(), ts.URL, "", p)
		if err != nil {
			t.Fatalf("%s: %v", p.Workload, err)
		}
		if res.Jobs != p.Jobs || res.JobsPerS <= 0 || res.Store != "http" {
			t.Errorf("%s: result %+v", p.Workload, res)
		}
		if p.Workload == Latency && (res.P50Ms <= 0 || res.P99Ms < res.P50Ms || res.MaxMs < res.P99Ms) {
			t.Errorf("latency: %+v", res)
		}
	}
	if _, err := RunHTTP(context.Background(), ts.URL, "", Params{Workload: Schedules}); err == nil {
		t.Error("the schedules workload over HTTP: no error")
	}
}
