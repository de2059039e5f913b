package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
	"github.com/rotahq/rota/internal/pgtest"
	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/postgres"
	"github.com/rotahq/rota/store/sqlite"
)

// leaseNodeLease is the node lease of the lease tests' clients: short, so
// that their rescuer (every half of it) takes back expired remote leases
// soon.
const leaseNodeLease = 200 * time.Millisecond

// openSQLiteAt opens and migrates the SQLite store at path.
func openSQLiteAt(t testing.TB, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(path, sqlite.Options{Synchronous: "OFF", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// openPG opens and migrates a PostgreSQL store on a fresh schema (the
// test is skipped without a test database; see pgtest).
func openPG(t testing.TB) store.Store {
	t.Helper()
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url, "rota_server_")
	st, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema, MaxConns: 4, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open PostgreSQL store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// leaseEnv is a started client (node id node) and its server on st.
func leaseEnv(t testing.TB, st store.Store, node string) *env {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := rota.New(st, rota.Options{NodeID: node, Logger: logger, LeaseDuration: leaseNodeLease,
		Queues: map[string]rota.QueueConfig{"default": {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = c.Stop(ctx)
	})
	srv, err := New(c, Options{Logger: logger, Tokens: testTokens()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &env{t: t, client: c, srv: srv, logs: logs}
}

// leaseOne leases the one job the test expects.
func (e *env) leaseOne(body string) leaseJSON {
	e.t.Helper()
	var resp leasesResponse
	e.ok("POST", "/v1/leases", writeSecret, body, &resp)
	if len(resp.Leases) != 1 {
		e.t.Fatalf("POST /v1/leases %s: %d leases, want 1", body, len(resp.Leases))
	}
	return resp.Leases[0]
}

// tokenBody is a body naming token, with more fields.
func tokenBody(token string, more string) string {
	b, _ := json.Marshal(token)
	if more == "" {
		return `{"token":` + string(b) + `}`
	}
	return `{"token":` + string(b) + `,` + more + `}`
}

// wantLost checks that a request answers 409 lease_lost.
func (e *env) wantLost(what, path, body string) {
	e.t.Helper()
	r := e.do("POST", path, writeSecret, body)
	if r.status != http.StatusConflict {
		e.t.Errorf("%s: status %d, want 409: %s", what, r.status, r.body)
		return
	}
	if ae := r.errorOf(e.t); ae.Code != CodeLeaseLost || ae.Field != "token" {
		e.t.Errorf("%s: error %+v, want lease_lost on token", what, ae)
	}
}

// getJob reads a job through the API.
func (e *env) getJob(id int64) apiwire.JobDetail {
	e.t.Helper()
	var j apiwire.JobDetail
	e.ok("GET", fmt.Sprintf("/v1/jobs/%d", id), readSecret, "", &j)
	return j
}

func TestLeaseLifecycle(t *testing.T) {
	t.Parallel()
	e := leaseEnv(t, openSQLiteAt(t, filepath.Join(t.TempDir(), "rota.db")), "n1")
	testLeaseLifecycle(t, e)
}

// TestLeaseLifecyclePostgres runs the lifecycle on PostgreSQL.
func TestLeaseLifecyclePostgres(t *testing.T) {
	t.Parallel()
	e := leaseEnv(t, openPG(t), "n1")
	testLeaseLifecycle(t, e)
	testLeaseSnooze(t, e)
}

func testLeaseLifecycle(t *testing.T, e *env) {
	w := writeSecret
	sub := e.client.Subscribe(64, rota.EventFilter{Kinds: []string{"remote.a"}})
	defer sub.Close()
	var a, b, other apiwire.Job
	e.ok("POST", "/v1/jobs", w, `{"kind":"remote.a","args":{"n":1},"priority":1}`, &a)
	e.ok("POST", "/v1/jobs", w, `{"kind":"remote.a","args":{"n":2},"priority":2}`, &b)
	e.ok("POST", "/v1/jobs", w, `{"kind":"remote.other"}`, &other)

	var resp leasesResponse
	e.ok("POST", "/v1/leases", w, `{"kinds":["remote.a"],"max":5,"lease":"1m","worker":"py-worker-7"}`, &resp)
	if len(resp.Leases) != 2 || resp.Leases[0].Job.ID != a.ID || resp.Leases[1].Job.ID != b.ID {
		t.Fatalf("leases %+v, want jobs %d and %d in priority order", resp.Leases, a.ID, b.ID)
	}
	la, lb := resp.Leases[0], resp.Leases[1]
	if la.Token == lb.Token || la.Job.State != rota.StateRunning || la.Job.Node != "py-worker-7" || string(la.Job.Args) != `{"n":1}` {
		t.Errorf("lease %+v: want its own token, running, on py-worker-7, with its args", la)
	}
	if d := time.Until(la.Deadline); d < 30*time.Second || d > time.Minute+time.Second {
		t.Errorf("deadline %v is not about a minute away", la.Deadline)
	}
	// Nothing else of the kind: an empty list at once.
	e.ok("POST", "/v1/leases", w, `{"kinds":["remote.a"]}`, &resp)
	if resp.Leases == nil || len(resp.Leases) != 0 {
		t.Errorf("lease of an empty queue: %+v, want an empty list", resp.Leases)
	}

	var hb heartbeatResponse
	e.ok("POST", "/v1/leases/heartbeat", w, tokenBody(la.Token, `"lease":"10m"`), &hb)
	if hb.AbortRequested || time.Until(hb.Deadline) < 5*time.Minute {
		t.Errorf("heartbeat %+v: want a deadline about 10m away, no abort", hb)
	}
	if got := e.getJob(a.ID); !got.LeaseUntil.Equal(hb.Deadline) {
		t.Errorf("stored lease %v, heartbeat said %v", got.LeaseUntil, hb.Deadline)
	}

	var done leaseJobResponse
	e.ok("POST", "/v1/leases/complete", w, tokenBody(la.Token, `"result":{"rows":3}`), &done)
	if done.Job.State != rota.StateDone || string(done.Job.Result) != `{"rows":3}` || len(done.Job.Attempts) != 1 ||
		done.Job.Attempts[0].Node != "py-worker-7" || done.Job.Attempts[0].Outcome != store.OutcomeDone {
		t.Errorf("completed job %+v", done.Job)
	}
	var failed leaseJobResponse
	e.ok("POST", "/v1/leases/fail", w, tokenBody(lb.Token, `"error":"disk full"`), &failed)
	if failed.Job.State != rota.StateRetrying || failed.Job.LastError != "disk full" || failed.Job.Attempt != 1 {
		t.Errorf("failed job %+v: want retrying after attempt 1 with the error", failed.Job)
	}
	// Spent tokens: every route refuses them, and they change nothing.
	before := e.snapshot()
	for _, c := range []struct{ what, path, body string }{
		{"complete again", "/v1/leases/complete", tokenBody(la.Token, "")},
		{"heartbeat a completed lease", "/v1/leases/heartbeat", tokenBody(la.Token, "")},
		{"fail a completed lease", "/v1/leases/fail", tokenBody(la.Token, `"error":"late"`)},
		{"snooze a failed lease", "/v1/leases/snooze", tokenBody(lb.Token, `"delay":"1m"`)},
		{"complete a failed lease", "/v1/leases/complete", tokenBody(lb.Token, "")},
	} {
		e.wantLost(c.what, c.path, c.body)
	}
	if after := e.snapshot(); after != before {
		t.Errorf("stale tokens changed the store:\nbefore %s\nafter  %s", before, after)
	}

	// The same events as Pop, Complete and FailJob: running, then the ends
	// with their outcomes.
	seen := map[string]bool{}
	want := []string{
		fmt.Sprintf("%d:queued>running:", a.ID), fmt.Sprintf("%d:queued>running:", b.ID),
		fmt.Sprintf("%d:running>done:done", a.ID), fmt.Sprintf("%d:running>retrying:error", b.ID),
	}
	all := func() bool {
		for _, w := range want {
			if !seen[w] {
				return false
			}
		}
		return true
	}
	for !all() {
		select {
		case ev := <-sub.C:
			seen[fmt.Sprintf("%d:%s>%s:%s", ev.JobID, ev.From, ev.To, ev.Outcome)] = true
		case <-time.After(waitTimeout):
			t.Fatalf("events seen: %v; want %v", seen, want)
		}
	}
}

// testLeaseSnooze: a snooze gives the attempt back, so the next lease of
// the job has the same attempt number; the first token stays refused.
func testLeaseSnooze(t *testing.T, e *env) {
	w := writeSecret
	var j apiwire.Job
	e.ok("POST", "/v1/jobs", w, `{"kind":"remote.snooze"}`, &j)
	first := e.leaseOne(`{"kinds":["remote.snooze"]}`)
	var snoozed leaseJobResponse
	e.ok("POST", "/v1/leases/snooze", w, tokenBody(first.Token, `"delay":"50ms"`), &snoozed)
	// The answer is the job read back after the snooze (SnoozeLease), and
	// the node queues it again as soon as the 50ms are up: a read back that
	// came later than that (CI under load) sees it queued, its run time
	// passed.
	sj := snoozed.Job
	again := sj.State == rota.StateQueued && !sj.RunAt.After(time.Now())
	if (sj.State != rota.StateScheduled && !again) || sj.Attempt != 0 ||
		len(sj.Attempts) != 1 || sj.Attempts[0].Outcome != store.OutcomeSnooze {
		t.Fatalf("snoozed job %+v: want scheduled (or queued again after its delay), attempt given back", sj)
	}
	second := e.leaseOne(`{"kinds":["remote.snooze"],"wait":"10s"}`)
	if second.Job.ID != j.ID || second.Job.Attempt != first.Job.Attempt {
		t.Fatalf("second lease %+v: want job %d attempt %d again", second.Job, j.ID, first.Job.Attempt)
	}
	e.wantLost("complete with the snoozed token", "/v1/leases/complete", tokenBody(first.Token, ""))
	e.wantLost("heartbeat with the snoozed token", "/v1/leases/heartbeat", tokenBody(first.Token, ""))
	var done leaseJobResponse
	e.ok("POST", "/v1/leases/complete", w, tokenBody(second.Token, ""), &done)
	if done.Job.State != rota.StateDone {
		t.Errorf("job %+v, want done", done.Job)
	}
}

func TestLeaseSnoozeAndReclaim(t *testing.T) {
	t.Parallel()
	testLeaseSnooze(t, leaseEnv(t, openSQLiteAt(t, filepath.Join(t.TempDir(), "rota.db")), "n1"))
}

// TestLeaseAbort: an abort of a leased job is reported at the next
// heartbeat; fail then ends it aborted.
func TestLeaseAbort(t *testing.T) {
	t.Parallel()
	e := leaseEnv(t, openSQLiteAt(t, filepath.Join(t.TempDir(), "rota.db")), "n1")
	w := writeSecret
	var j apiwire.Job
	e.ok("POST", "/v1/jobs", w, `{"kind":"remote.abort","max_attempts":5}`, &j)
	l := e.leaseOne(`{"kinds":["remote.abort"]}`)
	var hb heartbeatResponse
	e.ok("POST", "/v1/leases/heartbeat", w, tokenBody(l.Token, ""), &hb)
	if hb.AbortRequested {
		t.Fatal("abort reported before any abort")
	}
	e.ok("POST", fmt.Sprintf("/v1/jobs/%d/abort", j.ID), w, `{"reason":"operator said stop"}`, nil)
	e.ok("POST", "/v1/leases/heartbeat", w, tokenBody(l.Token, ""), &hb)
	if !hb.AbortRequested {
		t.Fatal("the heartbeat after an abort did not report it")
	}
	var out leaseJobResponse
	e.ok("POST", "/v1/leases/fail", w, tokenBody(l.Token, `"error":"stopped as asked"`), &out)
	if out.Job.State != rota.StateAborted || out.Job.LastError != "operator said stop" {
		t.Errorf("job %+v: want aborted with the abort's reason", out.Job)
	}

	// A worker that vanishes after the abort: the lease's expiry ends the
	// job aborted, not retried, though attempts remain.
	e.ok("POST", "/v1/jobs", w, `{"kind":"remote.abort","max_attempts":5}`, &j)
	gone := e.leaseOne(`{"kinds":["remote.abort"],"lease":"1s"}`)
	e.ok("POST", fmt.Sprintf("/v1/jobs/%d/abort", j.ID), w, `{"reason":"nobody home"}`, nil)
	var got apiwire.JobDetail
	waitFor(t, "the expired lease of an aborted job to end it", func() bool {
		got = e.getJob(j.ID)
		return got.State != rota.StateRunning
	})
	if got.State != rota.StateAborted || len(got.Attempts) != 1 || got.Attempts[0].Outcome != store.OutcomeLost {
		t.Errorf("job %+v: want aborted, its attempt lost", got)
	}
	e.wantLost("fail after the expiry", "/v1/leases/fail", tokenBody(gone.Token, `"error":"late"`))
}

// TestLeaseExpires: a lease without heartbeats is rescued (attempt lost)
// and the job is leased again; the old token is refused.
func TestLeaseExpires(t *testing.T) {
	t.Parallel()
	e := leaseEnv(t, openSQLiteAt(t, filepath.Join(t.TempDir(), "rota.db")), "n1")
	var j apiwire.Job
	e.ok("POST", "/v1/jobs", writeSecret, `{"kind":"remote.vanish"}`, &j)
	first := e.leaseOne(`{"kinds":["remote.vanish"],"lease":"1s"}`)
	second := e.leaseOne(`{"kinds":["remote.vanish"],"wait":"15s"}`)
	if second.Job.ID != j.ID || second.Job.Attempt != 2 {
		t.Fatalf("second lease %+v: want job %d attempt 2", second.Job, j.ID)
	}
	got := e.getJob(j.ID)
	if len(got.Attempts) != 1 || got.Attempts[0].Outcome != store.OutcomeLost {
		t.Errorf("attempts %+v: want the first recorded lost", got.Attempts)
	}
	e.wantLost("fail with the expired token", "/v1/leases/fail", tokenBody(first.Token, `"error":"late"`))
	e.ok("POST", "/v1/leases/complete", writeSecret, tokenBody(second.Token, ""), nil)
}

// TestLeaseAnyNode: a lease taken through one node is extended and ended
// through another node on the same store, after the first stopped
// gracefully (its stop gives back only its own attempts).
func TestLeaseAnyNode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rota.db")
	a := leaseEnv(t, openSQLiteAt(t, path), "node-a")
	var j apiwire.Job
	a.ok("POST", "/v1/jobs", writeSecret, `{"kind":"remote.any"}`, &j)
	l := a.leaseOne(`{"kinds":["remote.any"],"lease":"1h"}`)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := a.client.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b := leaseEnv(t, openSQLiteAt(t, path), "node-b")
	if got := b.getJob(j.ID); got.State != rota.StateRunning || !got.LeaseUntil.Equal(l.Deadline) {
		t.Fatalf("after node-a stopped: %+v, want running with the lease's deadline %v", got.Job, l.Deadline)
	}
	var hb heartbeatResponse
	b.ok("POST", "/v1/leases/heartbeat", writeSecret, tokenBody(l.Token, ""), &hb)
	var done leaseJobResponse
	b.ok("POST", "/v1/leases/complete", writeSecret, tokenBody(l.Token, `"result":"ok"`), &done)
	if done.Job.State != rota.StateDone {
		t.Errorf("job %+v, want done", done.Job)
	}
}

// TestLeaseLongPoll: a waiting lease takes a job enqueued while it waits.
func TestLeaseLongPoll(t *testing.T) {
	t.Parallel()
	e := leaseEnv(t, openSQLiteAt(t, filepath.Join(t.TempDir(), "rota.db")), "n1")
	got := make(chan response, 1)
	go func() {
		got <- serve(e.srv.Handler(), "POST", "/v1/leases", writeSecret, `{"kinds":["remote.wait"],"queues":["other","default"],"wait":"30s"}`)
	}()
	var j apiwire.Job
	e.ok("POST", "/v1/jobs", writeSecret, `{"kind":"remote.wait"}`, &j)
	r := <-got
	var resp leasesResponse
	if r.status != http.StatusOK || json.Unmarshal(r.body, &resp) != nil || len(resp.Leases) != 1 || resp.Leases[0].Job.ID != j.ID {
		t.Fatalf("long poll: %d %s, want job %d", r.status, r.body, j.ID)
	}
}

// TestLeaseKindLimits: the cluster-wide limits the client knows for a
// kind hold for leases.
func TestLeaseKindLimits(t *testing.T) {
	t.Parallel()
	st := openSQLiteAt(t, filepath.Join(t.TempDir(), "rota.db"))
	c, err := rota.New(st, rota.Options{NodeID: "n1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register("remote.limited", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }),
		rota.KindOptions{GlobalMaxWorkers: 2}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(c, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e := &env{t: t, client: c, srv: srv, logs: &logBuffer{}}
	for range 4 {
		e.ok("POST", "/v1/jobs", "", `{"kind":"remote.limited"}`, nil)
	}
	var resp leasesResponse
	e.ok("POST", "/v1/leases", "", `{"kinds":["remote.limited"],"max":10}`, &resp)
	if len(resp.Leases) != 2 {
		t.Fatalf("leased %d jobs of a kind with GlobalMaxWorkers 2", len(resp.Leases))
	}
	first := resp.Leases[0]
	e.ok("POST", "/v1/leases", "", `{"kinds":["remote.limited"],"max":10}`, &resp)
	if len(resp.Leases) != 0 {
		t.Fatalf("leased %d more at the kind's maximum", len(resp.Leases))
	}
	e.ok("POST", "/v1/leases/complete", "", tokenBody(first.Token, ""), nil)
	e.ok("POST", "/v1/leases", "", `{"kinds":["remote.limited"],"max":10}`, &resp)
	if len(resp.Leases) != 1 {
		t.Fatalf("leased %d after one of the two finished, want 1", len(resp.Leases))
	}
}
