package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// leaseSecret is the write token of the lease end-to-end tests.
const leaseSecret = "lease-secret-0123456789"

// served is a running `rota serve` driven with the lease tests' token.
type served struct {
	*serveProc
	t *testing.T
}

// serveHTTP starts `rota serve` in e and waits until it is ready.
func serveHTTP(t *testing.T, e *env) *served {
	t.Helper()
	return &served{serveProc: startServe(t, e), t: t}
}

// post sends a request with the write token and decodes a 2xx answer into v.
func (s *served) post(method, path, body string, v any) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+leaseSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, b
}

// must sends a request that must answer 200.
func (s *served) must(path, body string, v any) {
	s.t.Helper()
	if code, b := s.post("POST", path, body, v); code != http.StatusOK {
		s.t.Fatalf("POST %s %s: %d %s", path, body, code, b)
	}
}

// The wire types a remote worker reads.
type (
	e2eJob struct {
		ID       int64           `json:"id"`
		Kind     string          `json:"kind"`
		State    string          `json:"state"`
		Attempt  int             `json:"attempt"`
		Args     json.RawMessage `json:"args"`
		Result   json.RawMessage `json:"result"`
		Attempts []struct {
			Node    string `json:"node"`
			Outcome string `json:"outcome"`
		} `json:"attempts"`
	}
	e2eLease struct {
		Token    string    `json:"token"`
		Deadline time.Time `json:"deadline"`
		Job      e2eJob    `json:"job"`
	}
)

// worker is a minimal remote worker over HTTP: lease, heartbeat, complete.
type worker struct {
	s    *served
	name string
}

func (w worker) lease(kind string, max int, wait, lease string) []e2eLease {
	w.s.t.Helper()
	var resp struct {
		Leases []e2eLease `json:"leases"`
	}
	w.s.must("/v1/leases", fmt.Sprintf(`{"kinds":[%q],"max":%d,"wait":%q,"lease":%q,"worker":%q}`, kind, max, wait, lease, w.name), &resp)
	return resp.Leases
}

func tokenJSON(token, more string) string {
	b, _ := json.Marshal(token)
	if more != "" {
		more = "," + more
	}
	return `{"token":` + string(b) + more + `}`
}

func (w worker) heartbeat(token string) (abort bool) {
	w.s.t.Helper()
	var hb struct {
		AbortRequested bool `json:"abort_requested"`
	}
	w.s.must("/v1/leases/heartbeat", tokenJSON(token, ""), &hb)
	return hb.AbortRequested
}

func (w worker) complete(token string, result string) e2eJob {
	w.s.t.Helper()
	var out struct {
		Job e2eJob `json:"job"`
	}
	w.s.must("/v1/leases/complete", tokenJSON(token, `"result":`+result), &out)
	return out.Job
}

// TestRemoteWorker drives `rota serve` with Go HTTP workers speaking the
// lease protocol: a batch of jobs leased, heartbeated and completed; a
// worker that vanishes mid-job, whose lease expires and whose job runs
// again and ends done; and a restart of `rota serve` while a job is
// leased, after which the worker completes it with its old token.
func TestRemoteWorker(t *testing.T) {
	t.Parallel()
	onEachStore(t, testRemoteWorker, "ROTA_TOKENS=w:write:"+leaseSecret, "ROTA_LEASE_DURATION=1s", "ROTA_LOG_LEVEL=info")
}

func testRemoteWorker(t *testing.T, e *env, _ string) {
	s := serveHTTP(t, e)

	// 1. A batch: leased two at a time, heartbeated, completed.
	const n = 5
	for i := range n {
		s.must("/v1/jobs", fmt.Sprintf(`{"kind":"remote.e2e","args":{"i":%d}}`, i), nil)
	}
	w := worker{s: s, name: "go-worker-1"}
	doneIDs := map[int64]bool{}
	for len(doneIDs) < n {
		ls := w.lease("remote.e2e", 2, "5s", "10s")
		if len(ls) == 0 {
			t.Fatalf("no lease with %d of %d jobs done", len(doneIDs), n)
		}
		for _, l := range ls {
			if w.heartbeat(l.Token) {
				t.Fatalf("job %d: abort reported, none asked", l.Job.ID)
			}
			var args struct{ I int }
			if err := json.Unmarshal(l.Job.Args, &args); err != nil {
				t.Fatal(err)
			}
			j := w.complete(l.Token, fmt.Sprintf(`{"twice":%d}`, 2*args.I))
			if j.State != "done" || string(j.Result) != fmt.Sprintf(`{"twice":%d}`, 2*args.I) ||
				len(j.Attempts) != 1 || j.Attempts[0].Node != "go-worker-1" {
				t.Errorf("completed job %+v", j)
			}
			doneIDs[j.ID] = true
		}
	}

	// 2. A worker vanishes mid-job: its lease expires, the job is leased
	// again and ends done; the vanished worker's token is refused.
	var job e2eJob
	s.must("/v1/jobs", `{"kind":"remote.vanish"}`, &job)
	gone := worker{s: s, name: "doomed"}.lease("remote.vanish", 1, "0s", "1s")
	if len(gone) != 1 || gone[0].Job.ID != job.ID {
		t.Fatalf("the doomed worker leased %+v", gone)
	}
	w2 := worker{s: s, name: "go-worker-2"}
	var again []e2eLease
	waitFor(t, 60*time.Second, "the expired lease's job to be leased again", func() bool {
		again = w2.lease("remote.vanish", 1, "5s", "30s")
		return len(again) == 1
	})
	if again[0].Job.ID != job.ID || again[0].Job.Attempt != 2 {
		t.Fatalf("leased again %+v, want job %d attempt 2", again[0].Job, job.ID)
	}
	if code, b := s.post("POST", "/v1/leases/complete", tokenJSON(gone[0].Token, `"result":"late"`), nil); code != http.StatusConflict ||
		!bytes.Contains(b, []byte(`"lease_lost"`)) {
		t.Errorf("the vanished worker's late complete: %d %s, want 409 lease_lost", code, b)
	}
	j := w2.complete(again[0].Token, `"ok"`)
	if j.State != "done" || len(j.Attempts) != 2 || j.Attempts[0].Outcome != "lost" || j.Attempts[1].Outcome != "done" {
		t.Errorf("job after a lost lease: %+v", j)
	}

	// 3. rota serve restarts while a job is leased: the worker completes it
	// after the restart with its old token.
	s.must("/v1/jobs", `{"kind":"remote.restart"}`, &job)
	held := worker{s: s, name: "patient"}.lease("remote.restart", 1, "0s", "1m")
	if len(held) != 1 {
		t.Fatalf("leased %+v", held)
	}
	s.stop(t)
	s2 := serveHTTP(t, e)
	p := worker{s: s2, name: "patient"}
	var after e2eJob
	if code, b := s2.post("GET", fmt.Sprintf("/v1/jobs/%d", job.ID), "", &after); code != http.StatusOK ||
		after.State != "running" || after.Attempt != 1 || len(after.Attempts) != 0 {
		t.Fatalf("after the restart: %d %s, want the job still running its first attempt", code, b)
	}
	if p.heartbeat(held[0].Token) {
		t.Error("abort reported after a restart")
	}
	j = p.complete(held[0].Token, `{"after":"restart"}`)
	if j.State != "done" || len(j.Attempts) != 1 || j.Attempts[0].Outcome != "done" {
		t.Errorf("job completed after the restart: %+v", j)
	}
	s2.stop(t)
}
