package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/server"
)

// Tokens of the test server.
const (
	adminSecret = "bench-admin-0123456789"
	writeSecret = "bench-write-0123456789"
)

// newHTTPServer starts a node on SQLite and its API, with an admin and a
// write token, and returns the API's URL.
func newHTTPServer(t *testing.T) string {
	t.Helper()
	st := openSQLite(t, "OFF")
	c, err := rota.New(st, rota.Options{NodeID: "bench-test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	srv, err := server.New(c, server.Options{Logger: slog.New(slog.DiscardHandler), Tokens: []server.Token{
		{Name: "admin", Role: server.RoleAdmin, Secret: adminSecret},
		{Name: "write", Role: server.RoleWrite, Secret: writeSecret},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// queueJobs returns how many jobs the server counts in queue (-1: it
// does not list the queue).
func queueJobs(t *testing.T, h *HTTPRun, queue string) int64 {
	t.Helper()
	var qs struct {
		Queues []struct {
			Name   string           `json:"name"`
			Counts map[string]int64 `json:"counts"`
		} `json:"queues"`
	}
	if err := h.call(context.Background(), "GET", "/v1/queues", "", &qs); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs.Queues {
		if q.Name == queue {
			var n int64
			for _, c := range q.Counts {
				n += c
			}
			return n
		}
	}
	return -1
}

// TestHTTPWorkloads runs each workload of HTTPRun small against a real
// server on SQLite, so that they cannot rot: every job is enqueued and
// (for throughput and latency) leased and completed by the remote
// workers; then Cleanup deletes them all, and the queue is gone.
func TestHTTPWorkloads(t *testing.T) {
	t.Parallel()
	base := newHTTPServer(t)
	for _, tc := range []struct {
		p    Params
		jobs int // in the queue after the run
	}{
		{Params{Workload: Throughput, Jobs: 250, Workers: 3}, 250},
		{Params{Workload: Latency, Jobs: 20, Every: time.Millisecond}, 20 + LatencyWarmUp},
		{Params{Workload: Enqueue, Jobs: 100, Concurrency: 4}, 100},
	} {
		h := NewHTTPRun(base, adminSecret)
		res, err := h.Run(context.Background(), tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.p.Workload, err)
		}
		if res.Jobs != tc.p.Jobs || res.JobsPerS <= 0 || res.Store != "http" || res.Queue != h.Queue() {
			t.Errorf("%s: result %+v", tc.p.Workload, res)
		}
		if tc.p.Workload == Latency && (res.P50Ms <= 0 || res.P99Ms < res.P50Ms || res.MaxMs < res.P99Ms) {
			t.Errorf("latency: %+v", res)
		}
		if n := queueJobs(t, h, h.Queue()); n != int64(tc.jobs) {
			t.Errorf("%s: %d jobs in %s after the run, want %d", tc.p.Workload, n, h.Queue(), tc.jobs)
		}
		if deleted, err := h.Cleanup(context.Background()); err != nil || deleted != tc.jobs {
			t.Errorf("%s: cleanup deleted %d jobs (%v), want %d", tc.p.Workload, deleted, err, tc.jobs)
		}
		if n := queueJobs(t, h, h.Queue()); n != -1 {
			t.Errorf("%s: the server still lists %s after the cleanup, with %d jobs", tc.p.Workload, h.Queue(), n)
		}
		h.Close()
	}
	if _, err := NewHTTPRun(base, adminSecret).Run(context.Background(), Params{Workload: Schedules}); err == nil {
		t.Error("the schedules workload over HTTP: no error")
	}
}

// TestHTTPCleanup: Cleanup ends the leases a failed run still holds (their
// jobs are running) before it deletes the jobs; with a token whose role
// cannot delete, it fails naming the queue and leaves the jobs, and an
// admin's cleanup deletes them after; across pages of the list.
func TestHTTPCleanup(t *testing.T) {
	t.Parallel()
	base := newHTTPServer(t)
	ctx := context.Background()
	h := NewHTTPRun(base, writeSecret)
	defer h.Close()
	const jobs = cleanupPage + 5 // two pages
	var b strings.Builder
	b.WriteString(`{"jobs":[`)
	for i := range jobs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(h.jobJSON(`{}`))
	}
	b.WriteString(`]}`)
	if err := h.call(ctx, "POST", "/v1/jobs/batch", b.String(), nil); err != nil {
		t.Fatal(err)
	}
	// Leases a failed run would hold: their jobs are running.
	ls, err := h.lease(ctx, 3)
	if err != nil || len(ls) != 3 {
		t.Fatalf("lease: %d leases, %v", len(ls), err)
	}
	deleted, err := h.Cleanup(ctx)
	if err == nil || deleted != 0 || !strings.Contains(err.Error(), h.Queue()) || !strings.Contains(err.Error(), fmt.Sprint(http.StatusForbidden)) {
		t.Errorf("cleanup with a write token: deleted %d, %v; want none deleted and a 403 naming the queue", deleted, err)
	}
	if n := queueJobs(t, h, h.Queue()); n != jobs {
		t.Errorf("%d jobs left after a refused cleanup, want %d", n, jobs)
	}
	// The leases were ended all the same (a write token may): their jobs
	// are in error, and an admin deletes every job.
	var page struct {
		Jobs []struct {
			State string `json:"state"`
		} `json:"jobs"`
	}
	if err := h.call(ctx, "GET", "/v1/jobs?state=error&queue="+h.Queue(), "", &page); err != nil || len(page.Jobs) != len(ls) {
		t.Errorf("jobs in error after the cleanup ended the leases: %d (%v), want %d", len(page.Jobs), err, len(ls))
	}
	h.token = adminSecret
	if deleted, err := h.Cleanup(ctx); err != nil || deleted != jobs {
		t.Errorf("cleanup with an admin token: deleted %d (%v), want %d", deleted, err, jobs)
	}
	if n := queueJobs(t, h, h.Queue()); n != -1 {
		t.Errorf("the server still lists %s after the cleanup, with %d jobs", h.Queue(), n)
	}
}

// TestHTTPCheckCleanup: CheckCleanup tells, before a run, whether its
// token may delete jobs (admin) or not (write; a token the server does
// not know), changing nothing on the server.
func TestHTTPCheckCleanup(t *testing.T) {
	t.Parallel()
	base := newHTTPServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		token string
		want  error // nil: may clean up
	}{
		{adminSecret, nil},
		{writeSecret, ErrCleanupForbidden},
		{"not-a-token-of-this-server", ErrTokenRefused},
	} {
		h := NewHTTPRun(base, tc.token)
		if err := h.CheckCleanup(ctx); (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("token %.5s...: CheckCleanup = %v, want %v", tc.token, err, tc.want)
		}
		h.Close()
	}
	h := NewHTTPRun("http://127.0.0.1:1", adminSecret) // nothing listens
	defer h.Close()
	if err := h.CheckCleanup(ctx); err == nil || errors.Is(err, ErrCleanupForbidden) || errors.Is(err, ErrTokenRefused) {
		t.Errorf("CheckCleanup without a server = %v, want an error other than a refusal", err)
	}
}
