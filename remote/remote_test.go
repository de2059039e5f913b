package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/remote"
	"github.com/rotahq/rota/server"
	"github.com/rotahq/rota/store/sqlite"
)

const (
	adminSecret = "admin-secret-0123456789"
	writeSecret = "write-secret-0123456789"
	readSecret  = "read-secret-0123456789"
)

// env is a rota server (not started: nothing runs the jobs) on a fresh
// SQLite store, served by httptest, and the client it serves.
type env struct {
	client *rota.Client
	url    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "rota.db"), sqlite.Options{Synchronous: "OFF", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := rota.New(st, rota.Options{NodeID: "n1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(c, server.Options{Logger: slog.New(slog.DiscardHandler), Tokens: []server.Token{
		{Name: "boss", Role: server.RoleAdmin, Secret: adminSecret},
		{Name: "ci", Role: server.RoleWrite, Secret: writeSecret},
		{Name: "dash", Role: server.RoleRead, Secret: readSecret},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{client: c, url: ts.URL}
}

func (e *env) remote(t *testing.T, token string) *remote.Client {
	t.Helper()
	rc, err := remote.New(e.url, remote.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestJobsMatchTheClient: what the remote client returns is what the
// in-process client returns for the same jobs and pages.
func TestJobsMatchTheClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rc := e.remote(t, adminSecret)
	prio := 3
	for i := range 7 {
		p := rota.EnqueueParams{Kind: "a.b", Args: map[string]int{"i": i}, Metadata: map[string]string{"n": "x"},
			Timeout: 90 * time.Second, MaxAttempts: 4, Queue: "scans/deep"}
		if i%2 == 0 {
			p.Priority, p.Delay, p.Key = &prio, time.Hour, "k"+string(rune('a'+i))
		}
		if _, err := rc.EnqueueParams(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int64{1, 2, 7} {
		got, err := rc.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.client.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if jsonOf(t, got) != jsonOf(t, want) {
			t.Errorf("job %d:\nremote %s\nlocal  %s", id, jsonOf(t, got), jsonOf(t, want))
		}
	}
	for _, p := range []rota.ListParams{
		{Limit: 3, Desc: true}, {Limit: 3, Desc: true, AfterID: 5}, {Limit: 2, AfterID: 2},
		{Kinds: []string{"a.b"}, Queues: []string{"scans/deep"}, Metadata: map[string]string{"n": "x"}, States: []rota.State{rota.StateScheduled}},
		{Key: "kc"}, {CreatedFrom: time.Now().Add(-time.Hour), RunAtTo: time.Now().Add(time.Minute)},
	} {
		got, err := rc.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.client.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if jsonOf(t, got) != jsonOf(t, want) {
			t.Errorf("list %+v:\nremote %s\nlocal  %s", p, jsonOf(t, got), jsonOf(t, want))
		}
	}
	// Actions, and their errors as the rota package's.
	if j, err := rc.Abort(ctx, 2, "no"); err != nil || j.State != rota.StateAborted {
		t.Errorf("abort: %+v %v", j, err)
	}
	if _, err := rc.Abort(ctx, 2, "again"); !errors.Is(err, rota.ErrConflict) {
		t.Errorf("abort an aborted job: %v", err)
	}
	if j, err := rc.Retry(ctx, 2); err != nil || j.State != rota.StateQueued {
		t.Errorf("retry: %+v %v", j, err)
	}
	if _, err := rc.Release(ctx, 2); !errors.Is(err, rota.ErrConflict) || errors.Is(err, rota.ErrNotFound) {
		t.Errorf("release a queued job: %v", err)
	}
	if j, err := rc.AbortKey(ctx, "a.b", "ka", ""); err != nil || j.ID != 1 {
		t.Errorf("abort by key: %+v %v", j, err)
	}
	if _, err := rc.Delete(ctx, 999); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("delete a missing job: %v", err)
	}
	// A refused duplicate names the active job (job 3 has the key kc), as
	// the in-process client's error does.
	dupParams := rota.EnqueueParams{Kind: "a.b", Key: "kc", OnConflict: rota.OnConflictReject}
	_, err := rc.EnqueueParams(ctx, dupParams)
	var de, localDE *rota.DuplicateKeyError
	if !errors.Is(err, rota.ErrDuplicate) || errors.Is(err, rota.ErrConflict) || !errors.As(err, &de) {
		t.Fatalf("duplicate key: %v, want a *rota.DuplicateKeyError", err)
	}
	if _, lerr := e.client.EnqueueParams(ctx, dupParams); !errors.As(lerr, &localDE) || *de != *localDE || de.Existing != 3 {
		t.Errorf("duplicate key: remote %+v, local %+v (%v), want both naming job 3", de, localDE, lerr)
	}
	if want := de.Reason() + " (on_conflict reject)"; err.Error() != want {
		t.Errorf("duplicate key: %q, want the server's message %q", err, want)
	}
	var fe *rota.FieldError
	if _, err := rc.EnqueueParams(ctx, rota.EnqueueParams{Kind: "a.b", Priority: new(40000)}); !errors.As(err, &fe) || fe.Field != "priority" ||
		fe.Error() != err.Error() {
		t.Errorf("bad priority: %v (%+v)", err, fe)
	}
	if _, err := rc.EnqueueParams(ctx, rota.EnqueueParams{Kind: "a.b", Args: json.RawMessage(`{"x":`)}); !errors.As(err, &fe) || fe.Field != "args" {
		t.Errorf("bad args: %v", err)
	}
}

// TestQueuesStatsNodes: queues, stats (per hour over more than one
// request's range) and nodes as the in-process client reports them.
func TestQueuesStatsNodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	w := e.remote(t, writeSecret)
	for _, q := range []string{"default", "scans/deep", "scans/deep"} {
		if _, err := w.EnqueueParams(ctx, rota.EnqueueParams{Kind: "q.a", Queue: q}); err != nil {
			t.Fatal(err)
		}
	}
	// Pause and resume need a write token only; limits need admin.
	if q, err := w.UpdateQueue(ctx, "scans/deep", rota.QueueUpdate{Paused: new(true)}); err != nil || !q.Paused || q.Name != "scans/deep" {
		t.Errorf("pause: %+v %v", q, err)
	}
	var re *remote.Error
	if _, err := w.UpdateQueue(ctx, "default", rota.QueueUpdate{MaxSize: new(5)}); !errors.As(err, &re) || re.Status != http.StatusForbidden || !re.BadInput() {
		t.Errorf("limits with a write token: %v", err)
	}
	a := e.remote(t, adminSecret)
	if q, err := a.UpdateQueue(ctx, "default", rota.QueueUpdate{MaxSize: new(5), UrgentPriority: new(1)}); err != nil || q.MaxSize != 5 || q.UrgentPriority != 1 {
		t.Errorf("limits: %+v %v", q, err)
	}
	r := e.remote(t, readSecret)
	gotQ, err := r.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantQ, err := e.client.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, gotQ) != jsonOf(t, wantQ) {
		t.Errorf("queues:\nremote %s\nlocal  %s", jsonOf(t, gotQ), jsonOf(t, wantQ))
	}
	gotS, err := r.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantS, err := e.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, gotS) != jsonOf(t, wantS) {
		t.Errorf("stats:\nremote %s\nlocal  %s", jsonOf(t, gotS), jsonOf(t, wantS))
	}
	to := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-2000 * time.Hour) // three requests of at most 744 hours
	gotH, err := r.CountsByHour(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	wantH, err := e.client.CountsByHour(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(wantH) == 0 || jsonOf(t, gotH) != jsonOf(t, wantH) {
		t.Errorf("per hour:\nremote %s\nlocal  %s", jsonOf(t, gotH), jsonOf(t, wantH))
	}
	gotN, err := r.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantN, err := e.client.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, gotN) != jsonOf(t, wantN) {
		t.Errorf("nodes:\nremote %s\nlocal  %s", jsonOf(t, gotN), jsonOf(t, wantN))
	}
}

// TestSchedules: create, update (a full replace, as the client's), get,
// list, search, enable, disable, delete and preview.
func TestSchedules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rc := e.remote(t, adminSecret)
	p := rota.ScheduleParams{Key: "reports/nightly", Kind: "report.build", Spec: "daily at 02:00", Zone: "Europe/Amsterdam",
		Args: map[string]bool{"full": true}, Metadata: map[string]string{"team": "ops"}, Jitter: 30 * time.Second,
		Misfire: rota.MisfireAll, MisfireCap: 5, MisfireGrace: 2 * time.Minute, Overlap: rota.OverlapQueueOne, Priority: new(4)}
	created, err := rc.CreateSchedule(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.client.GetSchedule(ctx, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, created) != jsonOf(t, stored) {
		t.Errorf("created:\nremote %s\nlocal  %s", jsonOf(t, created), jsonOf(t, stored))
	}
	if _, err := rc.CreateSchedule(ctx, p); !errors.Is(err, rota.ErrDuplicate) || errors.As(err, new(*rota.DuplicateKeyError)) {
		t.Errorf("second create: %v, want rota.ErrDuplicate naming no job (a schedule is not one)", err)
	}
	// An update replaces: metadata and jitter not given are cleared.
	up := rota.ScheduleParamsOf(created)
	up.Metadata, up.Jitter, up.Spec = nil, 0, "daily at 03:00"
	updated, err := rc.UpdateSchedule(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	if len(updated.Metadata) != 0 || updated.Jitter != 0 || updated.Spec != "daily at 03:00" || updated.Priority != 4 ||
		updated.Overlap != rota.OverlapQueueOne || updated.NextFire.Equal(created.NextFire) {
		t.Errorf("updated: %+v", updated)
	}
	if _, err := rc.UpdateSchedule(ctx, rota.ScheduleParams{Key: "nope", Kind: "a.b", Spec: "hourly"}); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("update a missing schedule: %v", err)
	}
	var fe *rota.FieldError
	if _, err := rc.CreateSchedule(ctx, rota.ScheduleParams{Key: "z", Kind: "a.b", Spec: "hourly", Zone: "Mars/Base"}); !errors.As(err, &fe) || fe.Field != "zone" {
		t.Errorf("bad zone: %v", err)
	}
	if s, err := rc.DisableSchedule(ctx, p.Key, "maintenance"); err != nil || s.Enabled || s.DisabledReason != "maintenance" {
		t.Errorf("disable: %+v %v", s, err)
	}
	if s, err := rc.EnableSchedule(ctx, p.Key); err != nil || !s.Enabled {
		t.Errorf("enable: %+v %v", s, err)
	}
	for _, k := range []string{"a1", "a2", "b1"} {
		if _, err := e.client.CreateSchedule(ctx, rota.ScheduleParams{Key: k, Kind: "scan.host", Spec: "hourly"}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := rc.ListSchedules(ctx, rota.ScheduleListParams{Limit: 2})
	if err != nil || len(page.Schedules) != 2 || page.NextAfterKey != "a2" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	page, err = rc.ListSchedules(ctx, rota.ScheduleListParams{Limit: 2, AfterKey: page.NextAfterKey})
	if err != nil || len(page.Schedules) != 2 || page.Schedules[1].Key != p.Key || page.NextAfterKey != "" {
		t.Errorf("second page: %+v %v", page, err)
	}
	for search, want := range map[string]string{"1": "a1 b1", "REPORT": p.Key, "scan": "a1 a2 b1", "zzz": ""} {
		found, err := rc.SearchSchedules(ctx, rota.ScheduleListParams{}, search)
		var keys []string
		for _, s := range found.Schedules {
			keys = append(keys, s.Key)
		}
		if err != nil || strings.Join(keys, " ") != want {
			t.Errorf("search %q: %v %v, want %s", search, keys, err, want)
		}
	}
	if err := rc.DeleteSchedule(ctx, "a1"); err != nil {
		t.Errorf("delete: %v", err)
	}
	if err := rc.DeleteSchedule(ctx, "a1"); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("delete again: %v", err)
	}
	pv, err := rc.PreviewSchedule(ctx, "daily at 10:00", "Europe/Amsterdam", time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), 2)
	if err != nil || len(pv.Fires) != 2 || pv.Fires[0].Format(time.RFC3339) != "2026-03-29T10:00:00+02:00" || pv.Zone != "Europe/Amsterdam" {
		t.Errorf("preview: %+v %v", pv, err)
	}
	if _, err := rc.PreviewSchedule(ctx, "every 10 parsecs", "", time.Time{}, 0); !errors.As(err, &fe) || fe.Field != "spec" ||
		!strings.Contains(fe.Reason, `"parsecs"`) {
		t.Errorf("bad preview spec: %v", err)
	}
}

// TestAuthErrors: a missing or wrong token and a too low role keep the
// server's status, code and message; the token is in no error.
func TestAuthErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		token  string
		call   func(*remote.Client) error
		status int
		code   string
	}{
		{"", func(c *remote.Client) error { _, err := c.Queues(ctx); return err }, 401, "unauthorized"},
		{"wrong-secret-0123456789", func(c *remote.Client) error { _, err := c.Get(ctx, 1); return err }, 401, "unauthorized"},
		{readSecret, func(c *remote.Client) error { return c.DeleteSchedule(ctx, "x") }, 403, "forbidden"},
	} {
		err := tc.call(e.remote(t, tc.token))
		var re *remote.Error
		if !errors.As(err, &re) || re.Status != tc.status || re.Code != tc.code || re.Message == "" || !re.BadInput() {
			t.Errorf("token %q: %v (%+v)", tc.token, err, re)
		}
		if errors.Is(err, rota.ErrNotFound) || (tc.token != "" && strings.Contains(err.Error(), tc.token)) {
			t.Errorf("token %q: error %v", tc.token, err)
		}
	}
	// A server that does not answer: the error names it, not the token.
	down, err := remote.New("http://127.0.0.1:1", remote.Options{Token: adminSecret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Queues(ctx); err == nil || strings.Contains(err.Error(), adminSecret) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("server down: %v", err)
	}
	for _, bad := range []string{"127.0.0.1:7700", "ftp://h", "http://", "http://h/?x=1", "::"} {
		if _, err := remote.New(bad, remote.Options{}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

// TestNewChecksTheBaseURL: New takes a server's base URL and refuses what
// cannot be one, naming the field server; a URL ending in /v1 (the API's
// prefix, which the client adds) would have asked for /v1/v1/jobs.
func TestNewChecksTheBaseURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		url, want string
	}{
		{"http://127.0.0.1:7700", ""},
		{"https://rota.example.com/", ""},
		{"http://proxy.example.com/rota", ""},
		{"http://127.0.0.1:7700/v1", "give the server's base URL, such as http://127.0.0.1:7700"},
		{"http://proxy.example.com/rota/v1/", "such as http://proxy.example.com/rota"},
		{"127.0.0.1:7700", "not a server URL"},
		{"ftp://host", "not a server URL"},
		{"http://host/?x=1", "not a server URL"},
	} {
		_, err := remote.New(c.url, remote.Options{})
		var fe *rota.FieldError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("New(%q): %v", c.url, err)
		case c.want != "" && (!errors.As(err, &fe) || fe.Field != "server" || !strings.Contains(fe.Reason, c.want)):
			t.Errorf("New(%q) = %v, want a FieldError of server saying %q", c.url, err, c.want)
		}
	}
}

// TestReadsDurationsAsTheServer: the client reads a duration in an answer
// as the server reads one in a request, days included ("7d", which the
// server already writes for a kind's retention in GET /v1/kinds), and
// names the field of one it cannot read.
func TestReadsDurationsAsTheServer(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeout := map[string]string{"/v1/jobs/1": "7d", "/v1/jobs/2": "1d12h", "/v1/jobs/3": "90s", "/v1/jobs/4": "soon"}[r.URL.Path]
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":1,"kind":"t.a","queue":"default","state":"queued","args":{},"priority":100,` +
			`"run_at":"2026-12-01T10:00:00Z","attempt":0,"max_attempts":25,"timeout":"` + timeout + `",` +
			`"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:00Z"}`))
	}))
	t.Cleanup(ts.Close)
	c, err := remote.New(ts.URL, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for id, want := range map[int64]time.Duration{1: 7 * 24 * time.Hour, 2: 36 * time.Hour, 3: 90 * time.Second} {
		if j, err := c.Get(ctx, id); err != nil || j.Timeout != want {
			t.Errorf("Get(%d): %v; want timeout %s", id, err, want)
		}
	}
	const want = `rota remote: the server's timeout: "soon" is not a duration (like 90s, 1h30m or 7d)`
	if j, err := c.Get(ctx, 4); err == nil || err.Error() != want {
		t.Errorf("Get(4) = %v, %v; want error %q", j, err, want)
	}
}
