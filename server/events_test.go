package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/sqlite"
)

// sseMessage is one dispatched server-sent event, or a comment.
type sseMessage struct {
	id      string // the stream's last event id after it (as EventSource keeps it)
	typ     string
	data    string
	comment string
}

// sseStream reads a GET /v1/events response.
type sseStream struct {
	t      testing.TB
	resp   *http.Response
	msgs   chan sseMessage
	cancel context.CancelFunc
	lastID string
}

// openStream opens path on base with the read token; lastID, when not
// empty, is sent as Last-Event-ID. A status other than 200 is returned
// with a nil stream.
func openStream(t testing.TB, base, path, lastID string) (*sseStream, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readSecret)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	s := &sseStream{t: t, resp: resp, msgs: make(chan sseMessage, 1024), cancel: cancel}
	t.Cleanup(s.close)
	go s.read()
	return s, resp.StatusCode
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// read parses the stream as EventSource does and sends messages (and
// comments) to msgs; it closes msgs at the end of the stream.
func (s *sseStream) read() {
	defer close(s.msgs)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var typ string
	var data []string
	id := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				s.msgs <- sseMessage{id: id, typ: typ, data: strings.Join(data, "\n")}
			} else {
				s.msgs <- sseMessage{id: id} // an id alone moves the last event id
			}
			typ, data = "", nil
		case strings.HasPrefix(line, ":"):
			s.msgs <- sseMessage{comment: strings.TrimSpace(line[1:])}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				typ = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

// next returns the next dispatched event (skipping comments, retry and
// id-only messages), failing the test if none comes in time.
func (s *sseStream) next() sseMessage {
	s.t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				s.t.Fatal("the event stream ended")
			}
			if m.comment != "" {
				continue
			}
			s.lastID = m.id
			if m.data == "" {
				continue
			}
			return m
		case <-timeout:
			s.t.Fatal("timed out waiting for an event")
		}
	}
}

// job returns the next event, which must be a job event.
func (s *sseStream) job() eventData {
	s.t.Helper()
	m := s.next()
	if m.typ != SSEJob {
		s.t.Fatalf("event %s %q: %s; want a job event", m.id, m.typ, m.data)
	}
	var d eventData
	if err := json.Unmarshal([]byte(m.data), &d); err != nil {
		s.t.Fatalf("job event data %s: %v", m.data, err)
	}
	if strconv.FormatInt(d.ID, 10) != m.id {
		s.t.Fatalf("job event id: line %s, data id %d", m.id, d.ID)
	}
	return d
}

// gap returns the next event, which must be a gap.
func (s *sseStream) gap() gapData {
	s.t.Helper()
	m := s.next()
	if m.typ != SSEGap {
		s.t.Fatalf("event %s %q: %s; want a gap", m.id, m.typ, m.data)
	}
	var g gapData
	if err := json.Unmarshal([]byte(m.data), &g); err != nil {
		s.t.Fatalf("gap data %s: %v", m.data, err)
	}
	if strconv.FormatInt(g.ID, 10) != m.id {
		s.t.Fatalf("gap id: line %s, data id %d", m.id, g.ID)
	}
	return g
}

// enqueue enqueues a job of kind (not registered: it stays queued, one
// event) on queue "work" with metadata kv.
func enqueue(t testing.TB, c *rota.Client, kind string, kv ...string) *rota.Job {
	t.Helper()
	md := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		md[kv[i]] = kv[i+1]
	}
	j, err := c.Enqueue(t.Context(), kind, nil, rota.Queue("idle"), rota.Metadata(md))
	if err != nil {
		t.Fatalf("enqueue %s: %v", kind, err)
	}
	return j
}

func newEventsEnv(t testing.TB, o Options) (*env, *httptest.Server) {
	t.Helper()
	o.Tokens = testTokens()
	e := newEnv(t, envOptions{server: o})
	hs := httptest.NewServer(e.srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(e.srv.Close) // before hs.Close: streams end, so hs.Close does not wait for them
	return e, hs
}

func TestEventsStreamAndFilter(t *testing.T) {
	t.Parallel()
	e, hs := newEventsEnv(t, Options{})
	all, _ := openStream(t, hs.URL, "/v1/events", "")
	if ct := all.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	filtered, _ := openStream(t, hs.URL, "/v1/events?kind=t.b,t.c&metadata=org=x&queue=idle", "")
	keyed, _ := openStream(t, hs.URL, "/v1/events?key=k2", "")

	a := enqueue(t, e.client, "t.a", "org", "x")
	b1 := enqueue(t, e.client, "t.b")
	b2 := enqueue(t, e.client, "t.b", "org", "x", "team", "y")
	k, err := e.client.Enqueue(t.Context(), "t.a", nil, rota.Queue("idle"), rota.Key("k2", rota.OnConflictReturn))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, want := range []*rota.Job{a, b1, b2, k} {
		d := all.job()
		if d.JobID != want.ID || d.Kind != want.Kind || d.To != rota.StateQueued || d.From != "" || d.Node != "test-node" || d.Queue != "idle" {
			t.Fatalf("event %+v, want job %d (%s) queued", d, want.ID, want.Kind)
		}
		ids = append(ids, d.ID)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Errorf("event ids %v are not consecutive", ids)
		}
	}
	// The filtered stream skips a and b1: its first event is b2's.
	if d := filtered.job(); d.JobID != b2.ID || d.Metadata["team"] != "y" {
		t.Errorf("filtered stream: first event %+v, want job %d", d, b2.ID)
	}
	if d := keyed.job(); d.JobID != k.ID || d.Key != "k2" {
		t.Errorf("keyed stream: first event %+v, want job %d", d, k.ID)
	}
	// A later change of b2 reaches the filtered stream too.
	if _, err := e.client.Abort(t.Context(), b2.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if d := filtered.job(); d.JobID != b2.ID || d.To != rota.StateAborted || d.From != rota.StateQueued {
		t.Errorf("filtered stream: second event %+v, want job %d aborted", d, b2.ID)
	}
}

func TestEventsResume(t *testing.T) {
	t.Parallel()
	e, hs := newEventsEnv(t, Options{})
	first, _ := openStream(t, hs.URL, "/v1/events", "")
	var before []int64
	for range 3 {
		before = append(before, enqueue(t, e.client, "t.a").ID)
	}
	var last int64
	for _, id := range before {
		d := first.job()
		if d.JobID != id {
			t.Fatalf("event of job %d, want %d", d.JobID, id)
		}
		last = d.ID
	}
	first.close()
	// Missed while away.
	var missed []int64
	for range 5 {
		missed = append(missed, enqueue(t, e.client, "t.a").ID)
	}
	for _, how := range []string{"header", "query"} {
		t.Run(how, func(t *testing.T) {
			var again *sseStream
			if how == "header" {
				again, _ = openStream(t, hs.URL, "/v1/events", strconv.FormatInt(last, 10))
			} else {
				// The header wins over the parameter: a stale parameter
				// (EventSource keeps its URL) is ignored on reconnect.
				again, _ = openStream(t, hs.URL, fmt.Sprintf("/v1/events?last_event_id=%d", last), "")
			}
			var got []int64
			for i := range missed {
				d := again.job()
				if d.ID != last+int64(i)+1 {
					t.Fatalf("resumed event id %d, want %d", d.ID, last+int64(i)+1)
				}
				got = append(got, d.JobID)
			}
			if !slices.Equal(got, missed) {
				t.Fatalf("resumed with job events %v, want the missed %v", got, missed)
			}
			// Nothing more (no duplicates): the next event is a new job's.
			marker := enqueue(t, e.client, "t.marker")
			if d := again.job(); d.JobID != marker.ID {
				t.Fatalf("after the missed events: job %d, want the marker %d", d.JobID, marker.ID)
			}
			missed = append(missed, marker.ID)
		})
	}
	// The header wins over the query parameter.
	s, _ := openStream(t, hs.URL, "/v1/events?last_event_id=1", strconv.FormatInt(last+5, 10))
	if d := s.job(); d.ID != last+6 {
		t.Errorf("with header %d and parameter 1: first event %d, want %d", last+5, d.ID, last+6)
	}
}

// TestEventsFromNowSaysWhere: a stream opened without an id starts with
// an id alone, the log's end, so that a client dropped before its first
// event resumes there and loses nothing changed while it was away.
func TestEventsFromNowSaysWhere(t *testing.T) {
	t.Parallel()
	e, hs := newEventsEnv(t, Options{})
	for range 3 {
		enqueue(t, e.client, "t.before")
	}
	var last int64
	waitFor(t, "the events logged", func() bool {
		last, _ = e.client.Store().LastEventID(t.Context())
		return last >= 3
	})
	s, _ := openStream(t, hs.URL, "/v1/events?kind=t.away", "")
	var first sseMessage
	timeout := time.After(waitTimeout)
	for first.id == "" {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if m.data != "" {
				t.Fatalf("an event %s %q before the stream's position", m.id, m.typ)
			}
			first = m
		case <-timeout:
			t.Fatal("timed out waiting for the stream's position")
		}
	}
	if first.id != strconv.FormatInt(last, 10) {
		t.Fatalf("first id %s, want the log's end %d", first.id, last)
	}
	s.close() // dropped before any event
	away := []int64{enqueue(t, e.client, "t.away").ID, enqueue(t, e.client, "t.away").ID}
	again, _ := openStream(t, hs.URL, "/v1/events?kind=t.away", first.id)
	for _, id := range away {
		if d := again.job(); d.JobID != id {
			t.Fatalf("resumed with job %d, want %d (changed while away)", d.JobID, id)
		}
	}
}

func TestEventsGaps(t *testing.T) {
	t.Parallel()
	e, hs := newEventsEnv(t, Options{})
	var jobs []*rota.Job
	for range 6 {
		jobs = append(jobs, enqueue(t, e.client, "t.a"))
	}
	st := e.client.Store()
	var last int64
	waitFor(t, "the events logged", func() bool {
		last, _ = st.LastEventID(t.Context())
		return last >= 6
	})
	if _, err := st.PruneEvents(t.Context(), store.EventPruneParams{Keep: 2}); err != nil {
		t.Fatal(err)
	}
	// Id 1 is older than the backlog (last-1 and last remain).
	s, _ := openStream(t, hs.URL, "/v1/events?last_event_id=1", "")
	g := s.gap()
	if g.Reason != GapPruned || g.After != 1 || g.ID != last-2 {
		t.Errorf("gap %+v, want pruned after 1 with id %d", g, last-2)
	}
	if d := s.job(); d.ID != last-1 || d.JobID != jobs[4].ID {
		t.Errorf("after the gap: event %d of job %d, want %d of job %d", d.ID, d.JobID, last-1, jobs[4].ID)
	}
	// An id newer than the log: a reset, then the stream goes on from the
	// log's end.
	u, _ := openStream(t, hs.URL, "/v1/events", "999999")
	if g := u.gap(); g.Reason != GapUnknown || g.After != 999999 || g.ID != last {
		t.Errorf("gap %+v, want unknown_id after 999999 with id %d", g, last)
	}
	j := enqueue(t, e.client, "t.after")
	if d := u.job(); d.JobID != j.ID || d.ID != last+1 {
		t.Errorf("after the reset: event %d of job %d, want %d of job %d", d.ID, d.JobID, last+1, j.ID)
	}
	// A bad header is a 400 naming it.
	req := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+readSecret)
	req.Header.Set("Last-Event-ID", "abc")
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	r := response{status: rec.Code, body: rec.Body.Bytes()}
	if ae := r.errorOf(t); r.status != http.StatusBadRequest || ae.Field != "Last-Event-ID" {
		t.Errorf("bad Last-Event-ID: %d %+v", r.status, ae)
	}
}

func TestEventsDroppedGap(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "rota.db"), sqlite.Options{Synchronous: "OFF", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, err := rota.New(st, rota.Options{NodeID: "test-node", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// A writer with a buffer of 1: a batch of 200 events published at once
	// cannot fit, so it records a gap.
	l, err := rota.NewEventLog(c, rota.EventLogOptions{Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	srv, err := New(c, Options{EventLog: l, Tokens: testTokens(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	ps := make([]rota.EnqueueParams, 200)
	for i := range ps {
		ps[i] = rota.EnqueueParams{Kind: "t.a", Queue: "idle"}
	}
	if _, err := c.EnqueueMany(t.Context(), ps); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a gap logged", func() bool { return l.Gaps() > 0 })
	s, _ := openStream(t, hs.URL, "/v1/events?last_event_id=0", "")
	jobs := 0
	for {
		m := s.next()
		if m.typ == SSEGap {
			var g gapData
			if err := json.Unmarshal([]byte(m.data), &g); err != nil || g.Reason != GapDropped || g.Dropped <= 0 || g.Node != "test-node" {
				t.Fatalf("gap %s (%v), want dropped with a count", m.data, err)
			}
			if jobs+int(g.Dropped) > 200 {
				t.Errorf("%d job events and %d dropped: more than the 200 published", jobs, g.Dropped)
			}
			return
		}
		jobs++
	}
}

func TestEventsLimitHeartbeatShutdown(t *testing.T) {
	t.Parallel()
	e, hs := newEventsEnv(t, Options{MaxEventStreams: 1, EventHeartbeat: 5 * time.Millisecond})
	s, _ := openStream(t, hs.URL, "/v1/events", "")
	if _, status := openStream(t, hs.URL, "/v1/events", ""); status != http.StatusTooManyRequests {
		t.Errorf("a second stream with one slot: status %d, want 429", status)
	}
	// Heartbeats: a comment comes while nothing happens.
	for m := range s.msgs {
		if m.comment == "heartbeat" {
			break
		}
	}
	// Shutdown ends the stream.
	e.srv.Close()
	timeout := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-s.msgs:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the stream did not end at shutdown")
		}
	}
}

// TestEventsOutliveReadTimeout: a stream served by Serve (the server's
// timeouts) stays open past ReadTimeout and WriteTimeout and still
// delivers events.
func TestEventsOutliveReadTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: Options{Tokens: testTokens(), ReadTimeout: 100 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond, EventHeartbeat: 20 * time.Millisecond}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = e.srv.Shutdown(context.Background())
		<-served
	})
	s, _ := openStream(t, "http://"+ln.Addr().String(), "/v1/events", "")
	// 20 heartbeats: at least 400 ms, four read timeouts.
	for n := 0; n < 20; {
		m, ok := <-s.msgs
		if !ok {
			t.Fatalf("the stream ended after %d heartbeats", n)
		}
		if m.comment == "heartbeat" {
			n++
		}
	}
	j := enqueue(t, e.client, "t.late")
	if d := s.job(); d.JobID != j.ID {
		t.Errorf("event of job %d, want %d", d.JobID, j.ID)
	}
}

// TestEventsWithoutLogWriter: with NoEventLog the server logs none of its
// client's events, and its streams still show what another writer of the
// store's log appends (found by polling).
func TestEventsWithoutLogWriter(t *testing.T) {
	t.Parallel()
	e, hs := newEventsEnv(t, Options{NoEventLog: true, LongPollInterval: 20 * time.Millisecond})
	st := e.client.Store()
	before := enqueue(t, e.client, "t.quiet")
	stream, _ := openStream(t, hs.URL, "/v1/events?last_event_id=0", "")
	// Another writer of the same store (as another node's would be) logs
	// from now on.
	other, err := rota.NewEventLog(e.client, rota.EventLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close(context.Background()) })
	after := enqueue(t, e.client, "t.loud")
	if d := stream.job(); d.JobID != after.ID {
		t.Errorf("first streamed event %+v, want job %d's (job %d's was logged by no one)", d, after.ID, before.ID)
	}
	if err := other.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	last, err := st.LastEventID(t.Context())
	if err != nil || last != 1 {
		t.Errorf("the log holds %d events (%v), want only the other writer's 1", last, err)
	}
	if _, err := New(e.client, Options{NoEventLog: true, EventLog: other}); err == nil {
		t.Error("NoEventLog with an EventLog: no error")
	}
}
