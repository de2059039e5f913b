package server

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

func TestLeaseCompleteBatch(t *testing.T) {
	t.Parallel()
	testLeaseCompleteBatch(t, leaseEnv(t, openSQLiteAt(t, filepath.Join(t.TempDir(), "rota.db")), "n1"))
}

func TestLeaseCompleteBatchPostgres(t *testing.T) {
	t.Parallel()
	testLeaseCompleteBatch(t, leaseEnv(t, openPG(t), "n1"))
}

// batchBody is a complete/batch body of the given items (JSON objects).
func batchBody(items ...string) string { return `{"items":[` + strings.Join(items, ",") + `]}` }

func testLeaseCompleteBatch(t *testing.T, e *env) {
	w := writeSecret
	sub := e.client.Subscribe(64, rota.EventFilter{Kinds: []string{"remote.b"}})
	defer sub.Close()
	for i := range 5 {
		e.ok("POST", "/v1/jobs", w, fmt.Sprintf(`{"kind":"remote.b","args":{"n":%d}}`, i), nil)
	}
	var resp leasesResponse
	e.ok("POST", "/v1/leases", w, `{"kinds":["remote.b"],"max":5,"worker":"batcher"}`, &resp)
	if len(resp.Leases) != 5 {
		t.Fatalf("leased %d jobs, want 5", len(resp.Leases))
	}
	l := resp.Leases
	e.ok("POST", "/v1/leases/complete", w, tokenBody(l[1].Token, ""), nil) // l[1] is spent
	forged := fmt.Sprintf("rl1.%d.%d.30000.%s", l[4].Job.ID, l[4].Job.Attempt, strings.Repeat("0", 32))

	// Only refused items: 200, and nothing changes.
	before := e.snapshot()
	var refused leaseCompleteBatchResponse
	e.ok("POST", "/v1/leases/complete/batch", w, batchBody(tokenBody(l[1].Token, ""), tokenBody(forged, `"result":1`)), &refused)
	if len(refused.Results) != 2 || refused.Results[0].Error == nil || refused.Results[1].Error == nil {
		t.Fatalf("refused batch: %+v", refused)
	}
	if after := e.snapshot(); after != before {
		t.Errorf("a batch of refused items changed the store:\nbefore %s\nafter  %s", before, after)
	}

	var got leaseCompleteBatchResponse
	e.ok("POST", "/v1/leases/complete/batch", w, batchBody(
		tokenBody(l[0].Token, `"result":{"rows":1}`),
		tokenBody(l[1].Token, ""), // spent
		tokenBody(forged, ""),     // never issued
		`{"token":"abc"}`,         // not a token
		tokenBody(l[2].Token, `"result":[2]`),
		tokenBody(l[2].Token, ""), // the same lease twice: the second is lost
		tokenBody(l[3].Token, `"result":null`),
	), &got)
	type want struct {
		id    int64
		state rota.State
		code  string
		field string
	}
	wants := []want{
		{l[0].Job.ID, rota.StateDone, "", ""},
		{l[1].Job.ID, "", CodeLeaseLost, "items[1].token"},
		{l[4].Job.ID, "", CodeLeaseLost, "items[2].token"},
		{0, "", CodeInvalid, "items[3].token"},
		{l[2].Job.ID, rota.StateDone, "", ""},
		{l[2].Job.ID, "", CodeLeaseLost, "items[5].token"},
		{l[3].Job.ID, rota.StateDone, "", ""},
	}
	if len(got.Results) != len(wants) {
		t.Fatalf("%d results for %d items: %+v", len(got.Results), len(wants), got.Results)
	}
	for i, w := range wants {
		r := got.Results[i]
		if r.ID != w.id || r.State != w.state {
			t.Errorf("item %d: id %d state %q, want %d %q", i, r.ID, r.State, w.id, w.state)
		}
		switch {
		case w.code == "" && r.Error != nil:
			t.Errorf("item %d: error %+v, want none", i, r.Error)
		case w.code != "" && (r.Error == nil || r.Error.Code != w.code || r.Error.Field != w.field || r.Error.Message == ""):
			t.Errorf("item %d: error %+v, want %s on %s", i, r.Error, w.code, w.field)
		}
	}
	for i, res := range map[int]string{0: `{"rows":1}`, 2: `[2]`, 3: ``} {
		j := e.getJob(l[i].Job.ID)
		if j.State != rota.StateDone || string(j.Result) != res || len(j.Attempts) != 1 ||
			j.Attempts[0].Node != "batcher" || j.Attempts[0].Outcome != store.OutcomeDone || j.Attempts[0].StartedAt.IsZero() {
			t.Errorf("job %d after the batch: %+v; want done with result %s and its attempt", l[i].Job.ID, j, res)
		}
	}
	if j := e.getJob(l[4].Job.ID); j.State != rota.StateRunning {
		t.Errorf("job %d, whose token was forged, is %s; want it still running", l[4].Job.ID, j.State)
	}

	// The single complete answers the job as a GET then reads it.
	var single leaseJobResponse
	e.ok("POST", "/v1/leases/complete", w, tokenBody(l[4].Token, `"result":{"last":true}`), &single)
	if stored := e.getJob(l[4].Job.ID); !reflect.DeepEqual(mustJSON(t, single.Job), mustJSON(t, stored)) {
		t.Errorf("complete answered\n%s\nGET reads\n%s", mustJSON(t, single.Job), mustJSON(t, stored))
	}

	// Each completion publishes running > done with its outcome and run time.
	want5 := map[int64]bool{l[0].Job.ID: true, l[1].Job.ID: true, l[2].Job.ID: true, l[3].Job.ID: true, l[4].Job.ID: true}
	for len(want5) > 0 {
		select {
		case ev := <-sub.C:
			if ev.From != rota.StateRunning {
				continue
			}
			if ev.To != rota.StateDone || ev.Outcome != store.OutcomeDone || ev.RunTime < 0 || !want5[ev.JobID] {
				t.Errorf("event %+v", ev)
			}
			delete(want5, ev.JobID)
		case <-time.After(waitTimeout):
			t.Fatalf("no done event for jobs %v", want5)
		}
	}
	select {
	case ev := <-sub.C:
		t.Errorf("unexpected event %+v", ev)
	default:
	}
}
