package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
)

func TestEnqueueWithEveryOption(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	runAt := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var j apiwire.Job
	e.ok("POST", "/v1/jobs", "", mustJSON(t, map[string]any{
		"kind": "report.build", "args": map[string]int{"week": 47}, "queue": "reports", "priority": 7,
		"run_at": runAt.Format(time.RFC3339), "key": "w47", "on_conflict": "reject",
		"metadata": map[string]string{"org": "acme"}, "max_attempts": 3, "timeout": "90s",
	}), &j)
	if j.ID == 0 || j.Kind != "report.build" || j.Queue != "reports" || j.Priority != 7 || !j.RunAt.Equal(runAt) ||
		j.State != rota.StateScheduled || j.Key != "w47" || j.Metadata["org"] != "acme" || j.MaxAttempts != 3 ||
		j.Timeout != "1m30s" || string(j.Args) != `{"week":47}` || j.Duplicate {
		t.Errorf("enqueued %+v", j)
	}
	// delay in seconds, hold, and the return policy giving back the active job.
	var h apiwire.Job
	e.ok("POST", "/v1/jobs", "", `{"kind":"report.build","delay":3600,"hold":true}`, &h)
	if h.State != rota.StateReady || time.Until(h.RunAt) < 59*time.Minute {
		t.Errorf("held delayed job %+v", h)
	}
	var dup apiwire.Job
	e.ok("POST", "/v1/jobs", "", `{"kind":"report.build","key":"w47","args":{"week":48}}`, &dup)
	if dup.ID != j.ID || string(dup.Args) != `{"week":47}` || !dup.Duplicate {
		t.Errorf("duplicate key gave %+v, want job %d unchanged, marked duplicate", dup, j.ID)
	}
	var upd apiwire.Job
	e.ok("POST", "/v1/jobs", "", `{"kind":"report.build","key":"w47","priority":3,"on_conflict":"update_priority"}`, &upd)
	if upd.ID != j.ID || upd.Priority != 3 || !upd.Duplicate {
		t.Errorf("update_priority gave %+v, want job %d with priority 3, marked duplicate", upd, j.ID)
	}
	// Reading the job again does not say duplicate: only an enqueue's answer does.
	var got apiwire.JobDetail
	e.ok("GET", fmt.Sprintf("/v1/jobs/%d", j.ID), "", "", &got)
	if got.Duplicate {
		t.Errorf("GET of job %d says duplicate", j.ID)
	}
	// A reject of an active key is 409 and stores nothing.
	r := e.do("POST", "/v1/jobs", "", `{"kind":"report.build","key":"w47","on_conflict":"reject"}`)
	wantMsg := fmt.Sprintf(`job %d, of kind "report.build", is active with the key "w47" (on_conflict reject)`, j.ID)
	// Its existing names the active job, for clients to read without the message.
	wantExisting := apiwire.ExistingJob{ID: j.ID, Kind: "report.build", Key: "w47"}
	if ae := r.errorOf(t); r.status != http.StatusConflict || ae.Code != CodeDuplicate || ae.Field != "key" || ae.Message != wantMsg ||
		ae.Existing == nil || *ae.Existing != wantExisting {
		t.Errorf("reject: %d %+v (existing %+v), want 409 on key saying %q, existing %+v", r.status, ae, ae.Existing, wantMsg, wantExisting)
	}
	// In a batch, the field names the job refused.
	r = e.do("POST", "/v1/jobs/batch", "", `{"jobs":[{"kind":"report.build"},{"kind":"report.build","key":"w47","on_conflict":"reject"}]}`)
	if ae := r.errorOf(t); r.status != http.StatusConflict || ae.Code != CodeDuplicate || ae.Field != "jobs[1].key" || ae.Message != wantMsg ||
		ae.Existing == nil || *ae.Existing != wantExisting {
		t.Errorf("reject in a batch: %d %+v (existing %+v), want 409 on jobs[1].key saying %q, existing %+v",
			r.status, ae, ae.Existing, wantMsg, wantExisting)
	}
	// Push puts it in the path's queue.
	var p apiwire.Job
	e.ok("POST", "/v1/queues/mail/push", "", `{"kind":"mail.send"}`, &p)
	if p.Queue != "mail" || p.State != rota.StateQueued {
		t.Errorf("pushed %+v", p)
	}
}

func TestBatchAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var b apiwire.JobList
	e.ok("POST", "/v1/jobs/batch", "", `{"jobs":[{"kind":"a.one","queue":"q"},{"kind":"a.two","queue":"q","priority":1}]}`, &b)
	if len(b.Jobs) != 2 || b.Jobs[0].Kind != "a.one" || b.Jobs[1].Priority != 1 {
		t.Fatalf("batch %+v", b)
	}
	e.ok("PATCH", "/v1/queues/q", "", `{"max_size":3}`, nil)
	// The second job fills the queue, the third does not fit: nothing is stored.
	r := e.do("POST", "/v1/jobs/batch", "", `{"jobs":[{"kind":"a.three","queue":"q"},{"kind":"a.four","queue":"q"}]}`)
	const want = `queue "q" is full (3 waiting jobs, max size 3)` // the reason, not the store's call chain
	if ae := r.errorOf(t); r.status != http.StatusTooManyRequests || ae.Code != CodeQueueFull || ae.Message != want {
		t.Errorf("batch into a full queue: %d %+v, want 429 %s %q", r.status, ae, CodeQueueFull, want)
	}
	var l apiwire.JobList
	e.ok("GET", "/v1/jobs?queue=q", "", "", &l)
	if len(l.Jobs) != 2 {
		t.Errorf("after a refused batch the queue has %d jobs, want 2", len(l.Jobs))
	}
}

func TestListFiltersAndCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	var ids []int64
	for i := range 5 {
		j, err := e.client.Enqueue(ctx, fmt.Sprintf("k.%d", i%2), nil, rota.Queue(fmt.Sprintf("q%d", i%2)),
			rota.Metadata(map[string]string{"n": fmt.Sprint(i)}), rota.Key(fmt.Sprintf("key%d", i), ""), rota.Hold())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	later, err := e.client.Enqueue(ctx, "k.late", nil, rota.Delay(48*time.Hour), rota.Queue("later"))
	if err != nil {
		t.Fatal(err)
	}
	// Pages of 2, newest first, then oldest first.
	var got []int64
	path := "/v1/jobs?limit=2&state=ready"
	for range 10 {
		var pg apiwire.JobList
		e.ok("GET", path, "", "", &pg)
		for _, j := range pg.Jobs {
			got = append(got, j.ID)
		}
		if pg.Next == "" {
			break
		}
		path = "/v1/jobs?limit=2&state=ready&cursor=" + url.QueryEscape(pg.Next)
	}
	if fmt.Sprint(got) != fmt.Sprint([]int64{ids[4], ids[3], ids[2], ids[1], ids[0]}) {
		t.Errorf("pages gave %v, want %v newest first", got, ids)
	}
	var asc apiwire.JobList
	e.ok("GET", "/v1/jobs?order=asc&limit=2", "", "", &asc)
	if len(asc.Jobs) != 2 || asc.Jobs[0].ID != ids[0] || asc.Next == "" {
		t.Errorf("asc page %+v", asc)
	}
	var asc2 apiwire.JobList
	e.ok("GET", "/v1/jobs?limit=2&cursor="+asc.Next, "", "", &asc2)
	if len(asc2.Jobs) != 2 || asc2.Jobs[0].ID != ids[2] {
		t.Errorf("second asc page (order from the cursor) %+v", asc2)
	}
	future := url.QueryEscape(time.Now().Add(24 * time.Hour).Format(time.RFC3339))
	past := url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))
	tests := []struct {
		query string
		want  []int64
	}{
		{"kind=k.1", []int64{ids[3], ids[1]}},
		{"kind=k.0&queue=q0&metadata=n=2", []int64{ids[2]}},
		{"queue=q1,later", []int64{later.ID, ids[3], ids[1]}},
		{"key=key4", []int64{ids[4]}},
		{"state=scheduled", []int64{later.ID}},
		{"state=ready&state=scheduled&kind=k.late", []int64{later.ID}},
		{"run_at_from=" + future, []int64{later.ID}},
		{"created_from=" + past + "&created_to=" + future + "&kind=k.late", []int64{later.ID}},
		{"created_from=" + future, nil},
	}
	for _, tt := range tests {
		var pg apiwire.JobList
		e.ok("GET", "/v1/jobs?"+tt.query, "", "", &pg)
		var g []int64
		for _, j := range pg.Jobs {
			g = append(g, j.ID)
		}
		if fmt.Sprint(g) != fmt.Sprint(tt.want) {
			t.Errorf("?%s: %v, want %v", tt.query, g, tt.want)
		}
	}
}

func TestJobActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{register: func(c *rota.Client) {
		_ = c.Register("test.echo", rota.WorkFunc(func(ctx context.Context, j *rota.Job) error {
			return j.SetResult(map[string]json.RawMessage{"echo": j.Args})
		}))
	}})
	var done apiwire.Job
	e.ok("POST", "/v1/jobs", "", `{"kind":"test.echo","args":{"x":1}}`, &done)
	var d apiwire.JobDetail
	waitFor(t, "the job to be done", func() bool {
		e.ok("GET", fmt.Sprintf("/v1/jobs/%d", done.ID), "", "", &d)
		return d.State == rota.StateDone
	})
	if string(d.Result) != `{"echo":{"x":1}}` || len(d.Attempts) != 1 || d.Attempts[0].Outcome != "done" || d.Attempts[0].Node != "test-node" {
		t.Errorf("done job %+v", d)
	}

	var held apiwire.Job
	e.ok("POST", "/v1/jobs", "", `{"kind":"test.other","hold":true,"key":"h1"}`, &held)
	id := fmt.Sprint(held.ID)
	var j apiwire.Job
	e.ok("POST", "/v1/jobs/"+id+"/release", "", "", &j)
	if j.State != rota.StateQueued {
		t.Errorf("released: %s", j.State)
	}
	e.ok("POST", "/v1/jobs/"+id+"/abort", "", `{"reason":"not needed"}`, &j)
	if j.State != rota.StateAborted || j.LastError != "not needed" {
		t.Errorf("aborted: %+v", j)
	}
	r := e.do("POST", "/v1/jobs/"+id+"/abort", "", "")
	if ae := r.errorOf(t); r.status != http.StatusConflict || ae.Code != CodeConflict || !strings.Contains(ae.Message, "it is aborted") {
		t.Errorf("second abort: %d %+v", r.status, ae)
	}
	e.ok("POST", "/v1/jobs/"+id+"/retry", "", "{}", &j)
	if j.State != rota.StateQueued {
		t.Errorf("retried: %s", j.State)
	}
	e.ok("POST", "/v1/jobs/abort", "", `{"kind":"test.other","key":"h1","reason":"by key"}`, &j)
	if j.ID != held.ID || j.State != rota.StateAborted {
		t.Errorf("aborted by key: %+v", j)
	}
	r = e.do("POST", "/v1/jobs/abort", "", `{"kind":"test.other","key":"h1"}`)
	want := fmt.Sprintf(`cannot abort job %d (kind test.other, key "h1"): it is already aborted`, held.ID)
	if ae := r.errorOf(t); r.status != http.StatusConflict || ae.Code != CodeConflict || ae.Message != want || ae.Field != "" {
		t.Errorf("second abort by key: %d %+v, want 409 conflict %q", r.status, ae, want)
	}
	e.ok("DELETE", "/v1/jobs/"+id, "", "", &j)
	if r := e.do("GET", "/v1/jobs/"+id, "", ""); r.status != http.StatusNotFound {
		t.Errorf("deleted job: GET %d", r.status)
	}
}

func TestPopCompleteAndFail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	mk := func(kind string, md map[string]string, args any) int64 {
		j, err := e.client.Enqueue(ctx, kind, args, rota.Queue("scans"), rota.Metadata(md))
		if err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	a := mk("scan.boefje", map[string]string{"org": "a"}, map[string]any{"host": "x.org", "port": 443})
	b := mk("scan.boefje", map[string]string{"org": "b"}, map[string]any{"host": "y.org", "port": 80})
	n := mk("scan.normalizer", map[string]string{"org": "a"}, nil)
	tests := []struct {
		body string
		want int64
	}{
		{`{"kinds":["scan.normalizer"]}`, n},
		{`{"metadata":{"org":"b"}}`, b},
		{`{"args":{"port":443}}`, a},
	}
	popped := map[int64]apiwire.Job{}
	for _, tt := range tests {
		var j apiwire.Job
		e.ok("POST", "/v1/queues/scans/pop", "", tt.body, &j)
		if j.ID != tt.want || j.State != rota.StateRunning || j.Attempt != 1 || j.LeaseUntil.IsZero() {
			t.Errorf("pop %s: %+v, want job %d running", tt.body, j, tt.want)
		}
		popped[j.ID] = j
	}
	if r := e.do("POST", "/v1/queues/scans/pop", "", ""); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("pop of an empty queue: %d %s", r.status, r.body)
	}
	var j apiwire.Job
	e.ok("POST", fmt.Sprintf("/v1/jobs/%d/complete", n), "", `{"attempt":1,"result":{"findings":3}}`, &j)
	if j.State != rota.StateDone || string(j.Result) != `{"findings":3}` {
		t.Errorf("completed %+v", j)
	}
	r := e.do("POST", fmt.Sprintf("/v1/jobs/%d/complete", n), "", `{"attempt":1}`)
	if ae := r.errorOf(t); r.status != http.StatusConflict || ae.Field != "attempt" {
		t.Errorf("second complete: %d %+v", r.status, ae)
	}
	e.ok("POST", fmt.Sprintf("/v1/jobs/%d/fail", b), "", `{"attempt":1,"retry_after":"1h"}`, &j)
	if j.State != rota.StateScheduled || j.Attempt != 0 {
		t.Errorf("retry-after: %+v", j)
	}
	e.ok("POST", fmt.Sprintf("/v1/jobs/%d/fail", a), "", `{"attempt":1,"error":"refused","permanent":true}`, &j)
	if j.State != rota.StateError || j.LastError != "refused" {
		t.Errorf("permanent failure: %+v", j)
	}
}

func TestLongPollPop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: Options{MaxLongPolls: 1}})
	got := make(chan response, 1)
	go func() { got <- e.do("POST", "/v1/queues/ext/pop", "", `{"wait":"10s","kinds":["ext.work"]}`) }()
	waitFor(t, "the pop to wait", func() bool { return len(e.srv.polls.slots) == 1 })
	// The only slot is taken: another waiting pop is refused, one that does not wait is not.
	r := e.do("POST", "/v1/queues/ext/pop", "", `{"wait":"1s"}`)
	if ae := r.errorOf(t); r.status != http.StatusTooManyRequests || ae.Code != CodeTooManyLongPolls {
		t.Errorf("second long poll: %d %+v", r.status, ae)
	}
	if r := e.do("POST", "/v1/queues/ext/pop", "", `{}`); r.status != http.StatusNoContent {
		t.Errorf("pop without wait: %d", r.status)
	}
	start := time.Now()
	var j apiwire.Job
	e.ok("POST", "/v1/jobs", "", `{"kind":"ext.work","queue":"ext"}`, &j)
	select {
	case r := <-got:
		var p apiwire.Job
		if r.status != http.StatusOK || json.Unmarshal(r.body, &p) != nil || p.ID != j.ID {
			t.Fatalf("long poll: %d %s, want job %d", r.status, r.body, j.ID)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the long poll took %s after the enqueue", d)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the long poll did not return the job")
	}
	waitFor(t, "the slot to be free", func() bool { return len(e.srv.polls.slots) == 0 })

	// Shutting down ends a waiting poll with 503.
	go func() { got <- e.do("POST", "/v1/queues/ext/pop", "", `{"wait":"30s"}`) }()
	waitFor(t, "the pop to wait", func() bool { return len(e.srv.polls.slots) == 1 })
	e.srv.Close()
	select {
	case r := <-got:
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("long poll at shutdown: %d %s", r.status, r.body)
		}
	case <-time.After(waitTimeout):
		t.Fatal("shutdown did not end the long poll")
	}
}

// TestCompleteOnlyPoppedAttempts: /complete and /fail end only attempts this
// server popped; a job a worker is running cannot be ended (or given a
// forged result) through them.
func TestCompleteOnlyPoppedAttempts(t *testing.T) {
	t.Parallel()
	started, release := make(chan int64, 1), make(chan struct{})
	e := newEnv(t, envOptions{register: func(c *rota.Client) {
		if err := c.Register("test.block", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
			started <- job.ID
			<-release
			return nil
		})); err != nil {
			t.Fatal(err)
		}
	}})
	var j apiwire.Job
	e.ok("POST", "/v1/jobs", "", `{"kind":"test.block"}`, &j)
	if id := <-started; id != j.ID {
		t.Fatalf("started %d, want %d", id, j.ID)
	}
	for _, path := range []string{"complete", "fail"} {
		r := e.do("POST", fmt.Sprintf("/v1/jobs/%d/%s", j.ID, path), "", `{"attempt":1}`)
		if ae := r.errorOf(t); r.status != http.StatusConflict || ae.Field != "attempt" {
			t.Errorf("%s of a job a worker runs: %d %+v, want 409 naming attempt", path, r.status, ae)
		}
	}
	close(release)
	waitFor(t, "the worker's finish", func() bool {
		got, err := e.client.Get(context.Background(), j.ID)
		return err == nil && got.State == rota.StateDone && got.Result == nil
	})
}
