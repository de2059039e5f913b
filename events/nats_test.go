package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/events"
	"github.com/rotahq/rota/internal/natstest"
	"github.com/rotahq/rota/internal/tlstest"
	"github.com/rotahq/rota/store"
)

func natsMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// natsNode is a started client on a new SQLite store, with its event log.
type natsNode struct {
	c   *rota.Client
	log *rota.EventLog
}

// newNATSNode opens a store, registers with register, starts a client
// that logs its events, and stops it when the test ends.
func newNATSNode(t testing.TB, register func(c *rota.Client)) *natsNode {
	t.Helper()
	c := newClient(t, openSQLite(t), rota.Options{PollInterval: 50 * time.Millisecond})
	if register != nil {
		register(c)
	}
	n := startNode(t, c, nil)
	return &natsNode{c: n.c, log: n.log}
}

// relay runs a relay of the node's log to sink (from the log's start)
// until the test ends.
func (n *natsNode) relay(t testing.TB, sink events.Sink) *events.Relay {
	t.Helper()
	r, err := events.NewRelay(n.c.Store(), events.RelayOptions{
		Name: "nats", Sink: sink, FromStart: true, Changed: n.log.Changed,
		Poll: 20 * time.Millisecond, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		Logger: quiet,
	})
	natsMust(t, err)
	runRelay(t, r)
	return r
}

// records reads the whole event log.
func (n *natsNode) records(t testing.TB) []store.EventRecord {
	t.Helper()
	recs, err := n.c.Store().ReadEvents(context.Background(), 0, store.MaxEventRead)
	natsMust(t, err)
	return recs
}

// waitRelayed waits until the log holds the final event of every job of
// ids and the relay has handled the log's last record, and returns the
// log.
func (n *natsNode) waitRelayed(t testing.TB, r *events.Relay, ids []int64) []store.EventRecord {
	t.Helper()
	var recs []store.EventRecord
	waitFor(t, "the jobs to end and the relay to deliver the whole log", func() bool {
		recs = n.records(t)
		ended := map[int64]bool{}
		for _, sr := range recs {
			if rec := natsDecode(t, sr); rec.Type == events.TypeJob && rec.Event.To.Final() {
				ended[rec.Event.JobID] = true
			}
		}
		for _, id := range ids {
			if !ended[id] {
				return false
			}
		}
		return r.Position() == recs[len(recs)-1].ID
	})
	return recs
}

// natsDecode is the record as the relay hands it to a sink.
func natsDecode(t testing.TB, r store.EventRecord) events.Record {
	t.Helper()
	rec := events.Record{ID: r.ID, Type: r.Type, Node: r.Node}
	if r.Type == store.EventTypeJob {
		natsMust(t, json.Unmarshal(r.Data, &rec.Event))
	}
	return rec
}

// natsConnect is a test's own connection.
func natsConnect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("rota test"), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	natsMust(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func newNATSSink(t testing.TB, opts events.NATSSinkOptions) *events.NATSSink {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := events.NewNATSSink(opts)
	natsMust(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// natsCheckMessage checks one delivered message against the log record.
func natsCheckMessage(t testing.TB, prefix string, sr store.EventRecord, subject string, h nats.Header, data []byte) {
	t.Helper()
	rec := natsDecode(t, sr)
	if want := events.NATSSubject(prefix, rec); subject != want {
		t.Fatalf("record %d: subject %q, want %q", sr.ID, subject, want)
	}
	jobID := ""
	if rec.Type == events.TypeJob {
		jobID = strconv.FormatInt(rec.Event.JobID, 10)
	}
	if h.Get(events.NATSEventIDHeader) != strconv.FormatInt(sr.ID, 10) || h.Get(events.NATSJobIDHeader) != jobID ||
		h.Get("Content-Type") != "application/json" || h.Get(events.NATSMsgIDHeader) != "rota-"+strconv.FormatInt(sr.ID, 10) {
		t.Fatalf("record %d: headers %v", sr.ID, h)
	}
	var p struct {
		Type  string `json:"type"`
		ID    int64  `json:"id"`
		JobID int64  `json:"job_id"`
		To    string `json:"to"`
	}
	natsMust(t, json.Unmarshal(data, &p))
	if p.Type != rec.Type || p.ID != sr.ID || p.JobID != rec.Event.JobID || p.To != string(rec.Event.To) {
		t.Fatalf("record %d: payload %s", sr.ID, data)
	}
}

// natsEnqueue enqueues n jobs of each kind.
func natsEnqueue(t testing.TB, c *rota.Client, n int, kinds ...string) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		for _, k := range kinds {
			j, err := c.Enqueue(context.Background(), k, map[string]int{"i": i}, rota.MaxAttempts(1))
			natsMust(t, err)
			ids = append(ids, j.ID)
		}
	}
	return ids
}

// natsRegister registers "scan" (succeeds) and "report.build"
// (fails).
func natsRegister(c *rota.Client) {
	_ = c.Register("scan", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil }))
	_ = c.Register("report.build", rota.WorkFunc(func(context.Context, *rota.Job) error { return errors.New("no") }))
}

func TestNATSSubject(t *testing.T) {
	t.Parallel()
	job := func(kind string, to rota.State) events.Record {
		return events.Record{ID: 1, Type: events.TypeJob, Event: rota.Event{Kind: kind, To: to}}
	}
	for _, c := range []struct {
		rec  events.Record
		want string
	}{
		{job("scan", rota.StateDone), "p.scan.done"},
		{job("report.build", rota.StateRunning), "p.report.build.running"},
		{job("a:b/c-d_e", rota.StateError), "p.a:b/c-d_e.error"},
		{job("a..b.", rota.StateQueued), "p.a._.b._.queued"},
		{job(".x", rota.StateAborted), "p._.x.aborted"},
		{job("sp ace*\t>", rota.StateDone), "p.sp_ace___.done"},
		{job("", rota.StateDone), "p._.done"},
		{events.Record{ID: 2, Type: events.TypeGap}, "p.gap"},
	} {
		if got := events.NATSSubject("p", c.rec); got != c.want {
			t.Errorf("NATSSubject(%q, %q) = %q, want %q", c.rec.Event.Kind, c.rec.Event.To, got, c.want)
		}
	}
}

func TestNATSOptionsChecked(t *testing.T) {
	t.Parallel()
	for _, o := range []events.NATSSinkOptions{
		{Prefix: "a..b"},
		{Prefix: "a.*"},
		{Prefix: "a.>"},
		{Prefix: "a b"},
		{Prefix: ".a"},
		{Stream: "s"},
		{JetStream: true, CreateStream: true},
		{JetStream: true, Stream: "a.b"},
		{Timeout: -time.Second},
		{NATSConnOptions: events.NATSConnOptions{ReconnectWait: -time.Second}},
	} {
		if s, err := events.NewNATSSink(o); err == nil {
			_ = s.Close()
			t.Errorf("NewNATSSink(%+v) accepted", o)
		}
	}
	a, err := events.NewAborter(nil, "", nil)
	if err == nil || a != nil {
		t.Fatal("NewAborter(nil) accepted")
	}
	if _, err := events.NewNATSAbortListener(nil, events.NATSAbortOptions{}); err == nil {
		t.Error("NewNATSAbortListener(nil) accepted")
	}
}

// TestNATSSinkRelay: a relay with a core NATS sink delivers every event of
// the log once, in order, with its subject and headers.
func TestNATSSinkRelay(t *testing.T) {
	t.Parallel()
	url := natstest.URL(t)
	prefix := natstest.Prefix(t)
	nc := natsConnect(t, url)
	sub, err := nc.SubscribeSync(prefix + ".>")
	natsMust(t, err)
	natsMust(t, sub.SetPendingLimits(-1, -1))
	natsMust(t, nc.Flush())

	n := newNATSNode(t, natsRegister)
	sink := newNATSSink(t, events.NATSSinkOptions{NATSConnOptions: events.NATSConnOptions{URL: url, Name: "rota test"}, Prefix: prefix})
	r := n.relay(t, sink)
	ids := natsEnqueue(t, n.c, 10, "scan", "report.build")
	recs := n.waitRelayed(t, r, ids)
	if len(recs) < 3*len(ids) {
		t.Fatalf("the log has %d records for %d jobs", len(recs), len(ids))
	}
	// A marker from the sink's connection comes after all it sent.
	natsMust(t, sink.Conn().Publish(prefix+".end", nil))
	seen := map[string]bool{}
	for _, sr := range recs {
		m, err := sub.NextMsg(waitTimeout)
		natsMust(t, err)
		natsCheckMessage(t, prefix, sr, m.Subject, m.Header, m.Data)
		seen[m.Subject] = true
	}
	for _, want := range []string{".scan.queued", ".scan.running", ".scan.done", ".report.build.running", ".report.build.error"} {
		if !seen[prefix+want] {
			t.Errorf("no message on %s%s", prefix, want)
		}
	}
	m, err := sub.NextMsg(waitTimeout)
	natsMust(t, err)
	if m.Subject != prefix+".end" {
		t.Fatalf("after the %d records: %s %s", len(recs), m.Subject, m.Data)
	}
	if r.Failures() != 0 || r.Delivered() != uint64(len(recs)) {
		t.Fatalf("relay: %d failures, %d delivered, want 0 and %d", r.Failures(), r.Delivered(), len(recs))
	}
}

// natsStream makes a stream over prefix.> on the server of nc, deleted
// when the test ends.
func natsStream(t testing.TB, nc *nats.Conn, prefix string, storage jetstream.StorageType) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	js, err := jetstream.New(nc)
	natsMust(t, err)
	name := natstest.Token(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{prefix + ".>"}, Storage: storage})
	natsMust(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Logf("delete stream %s: %v", name, err)
		}
	})
	return js, s
}

// natsStreamMsgs is the stream's count of messages.
func natsStreamMsgs(t testing.TB, s jetstream.Stream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	info, err := s.Info(ctx)
	natsMust(t, err)
	return info.State.Msgs
}

// natsCheckStream checks that the stream holds the records, each once, in
// order.
func natsCheckStream(t testing.TB, s jetstream.Stream, prefix string, recs []store.EventRecord) {
	t.Helper()
	if got := natsStreamMsgs(t, s); got != uint64(len(recs)) {
		t.Fatalf("the stream holds %d messages, want the log's %d records", got, len(recs))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i, sr := range recs {
		m, err := s.GetMsg(ctx, uint64(i)+1)
		natsMust(t, err)
		natsCheckMessage(t, prefix, sr, m.Subject, m.Header, m.Data)
	}
}

// TestNATSSinkJetStream: with JetStream, the stream holds every event
// once, in order; a batch sent again is dropped as duplicates.
func TestNATSSinkJetStream(t *testing.T) {
	t.Parallel()
	url := natstest.URL(t)
	prefix := natstest.Prefix(t)
	nc := natsConnect(t, url)
	_, stream := natsStream(t, nc, prefix, jetstream.MemoryStorage)

	n := newNATSNode(t, natsRegister)
	sink := newNATSSink(t, events.NATSSinkOptions{
		NATSConnOptions: events.NATSConnOptions{URL: url},
		Prefix:          prefix, JetStream: true, Stream: stream.CachedInfo().Config.Name,
	})
	r := n.relay(t, sink)
	ids := natsEnqueue(t, n.c, 10, "scan", "report.build")
	recs := n.waitRelayed(t, r, ids)
	natsCheckStream(t, stream, prefix, recs)

	// The whole log again, in two batches: all duplicates.
	var again []events.Message
	for _, sr := range recs {
		rec := natsDecode(t, sr)
		b, _, err := events.FormatJSON(rec)
		natsMust(t, err)
		again = append(again, events.Message{Record: rec, Payload: b})
	}
	ctx := context.Background()
	natsMust(t, sink.Send(ctx, again[:len(again)/2]))
	natsMust(t, sink.Send(ctx, again))
	natsCheckStream(t, stream, prefix, recs)

	// New messages, a gap among them, sent twice: stored once.
	last := recs[len(recs)-1].ID
	gap := events.Record{ID: last + 1, Type: events.TypeGap, Gap: events.Gap{Reason: events.GapDropped, After: last, Dropped: 3}}
	job := events.Record{ID: last + 2, Type: events.TypeJob, Node: "x", Event: rota.Event{JobID: 99, Kind: "k.a", To: rota.StateDone}}
	var more []events.Message
	for _, rec := range []events.Record{gap, job} {
		b, _, err := events.FormatJSON(rec)
		natsMust(t, err)
		more = append(more, events.Message{Record: rec, Payload: b})
	}
	natsMust(t, sink.Send(ctx, more))
	natsMust(t, sink.Send(ctx, more))
	if got, want := natsStreamMsgs(t, stream), uint64(len(recs)+2); got != want {
		t.Fatalf("after sending 2 new messages twice: %d messages, want %d", got, want)
	}
	m, err := stream.GetMsg(ctx, uint64(len(recs))+1)
	natsMust(t, err)
	if m.Subject != prefix+".gap" || m.Header.Get(events.NATSJobIDHeader) != "" || m.Header.Get(events.NATSEventIDHeader) != strconv.FormatInt(gap.ID, 10) {
		t.Fatalf("gap: %s %v %s", m.Subject, m.Header, m.Data)
	}
	m, err = stream.GetMsg(ctx, uint64(len(recs))+2)
	natsMust(t, err)
	if m.Subject != prefix+".k.a.done" || m.Header.Get(events.NATSJobIDHeader) != "99" {
		t.Fatalf("job: %s %v %s", m.Subject, m.Header, m.Data)
	}

	// A sink that expects another stream is refused.
	other := newNATSSink(t, events.NATSSinkOptions{
		NATSConnOptions: events.NATSConnOptions{URL: url},
		Prefix:          prefix, JetStream: true, Stream: "not" + stream.CachedInfo().Config.Name,
	})
	if err := other.Send(ctx, more); err == nil {
		t.Fatal("a send to another stream than the expected one succeeded")
	}
}

// TestNATSSinkJetStreamStream: without a stream, a JetStream send fails;
// CreateStream makes one.
func TestNATSSinkJetStreamStream(t *testing.T) {
	t.Parallel()
	url := natstest.URL(t)
	prefix := natstest.Prefix(t)
	ctx := context.Background()
	rec := events.Record{ID: 1, Type: events.TypeJob, Event: rota.Event{JobID: 1, Kind: "scan", To: rota.StateQueued}}
	b, _, err := events.FormatJSON(rec)
	natsMust(t, err)
	msgs := []events.Message{{Record: rec, Payload: b}}

	sink := newNATSSink(t, events.NATSSinkOptions{NATSConnOptions: events.NATSConnOptions{URL: url}, Prefix: prefix, JetStream: true})
	err = sink.Send(ctx, msgs)
	if err == nil || !strings.Contains(err.Error(), "no stream captures "+prefix+".scan.queued") {
		t.Fatalf("send without a stream: %v", err)
	}

	name := natstest.Token(t)
	nc := natsConnect(t, url)
	js, err := jetstream.New(nc)
	natsMust(t, err)
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	sink = newNATSSink(t, events.NATSSinkOptions{NATSConnOptions: events.NATSConnOptions{URL: url}, Prefix: prefix, JetStream: true, Stream: name, CreateStream: true})
	natsMust(t, sink.Send(ctx, msgs))
	natsMust(t, sink.Send(ctx, msgs))
	s, err := js.Stream(ctx, name)
	natsMust(t, err)
	if cfg := s.CachedInfo().Config; len(cfg.Subjects) != 1 || cfg.Subjects[0] != prefix+".>" || cfg.Storage != jetstream.FileStorage || s.CachedInfo().State.Msgs != 1 {
		t.Fatalf("created stream: %+v, %d messages", cfg, s.CachedInfo().State.Msgs)
	}
}

// TestNATSSinkServerDown: while the server is down the relay's sends fail
// and are tried again; once it is back the stream holds every event once,
// in order. The sink is made while the server is down.
func TestNATSSinkServerDown(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	prefix := natstest.Prefix(t)
	nc := natsConnect(t, srv.URL)
	_, stream := natsStream(t, nc, prefix, jetstream.FileStorage)
	srv.Stop()

	n := newNATSNode(t, natsRegister)
	sink := newNATSSink(t, events.NATSSinkOptions{
		NATSConnOptions: events.NATSConnOptions{URL: srv.URL, ReconnectWait: 20 * time.Millisecond},
		Prefix:          prefix, JetStream: true, Stream: stream.CachedInfo().Config.Name,
	})
	r := n.relay(t, sink)
	ids := natsEnqueue(t, n.c, 5, "scan")
	waitFor(t, "a failed send", func() bool { return r.Failures() > 0 })
	srv.Restart()
	recs := n.waitRelayed(t, r, ids)
	natsCheckStream(t, stream, prefix, recs)

	srv.Stop()
	failures := r.Failures()
	ids = natsEnqueue(t, n.c, 5, "scan", "report.build")
	waitFor(t, "a failed send", func() bool { return r.Failures() > failures })
	srv.Restart()
	recs = n.waitRelayed(t, r, ids)
	natsCheckStream(t, stream, prefix, recs)
}

// TestNATSAuth: credentials in the URL or the options.
func TestNATSAuth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := events.Record{ID: 1, Type: events.TypeGap}
	msgs := []events.Message{{Record: rec, Payload: []byte(`{}`)}}
	send := func(o events.NATSConnOptions) error {
		o.ReconnectWait = 20 * time.Millisecond
		s := newNATSSink(t, events.NATSSinkOptions{NATSConnOptions: o})
		return s.Send(ctx, msgs)
	}
	ok := func(o events.NATSConnOptions) {
		t.Helper()
		var err error
		waitFor(t, "a send with "+o.URL, func() bool { err = send(o); return err == nil })
	}

	tok := natstest.Start(t, "--auth", "s3cret")
	host := strings.TrimPrefix(tok.URL, "nats://")
	ok(events.NATSConnOptions{URL: "nats://s3cret@" + host})
	ok(events.NATSConnOptions{URL: tok.URL, Token: "s3cret"})
	if err := send(events.NATSConnOptions{URL: tok.URL, Token: "wrong"}); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("send with a wrong token: %v", err)
	}

	up := natstest.Start(t, "--user", "ro", "--pass", "ta")
	host = strings.TrimPrefix(up.URL, "nats://")
	ok(events.NATSConnOptions{URL: "nats://ro:ta@" + host})
	ok(events.NATSConnOptions{URL: up.URL, User: "ro", Password: "ta"})
	if err := send(events.NATSConnOptions{URL: up.URL, User: "ro", Password: "wrong"}); err == nil {
		t.Error("send with a wrong password succeeded")
	}
}

// natsAbortNode is a node whose "analysis" jobs block until aborted.
func natsAbortNode(t testing.TB) *natsNode {
	t.Helper()
	return newNATSNode(t, func(c *rota.Client) {
		natsMust(t, c.Register("analysis", rota.WorkFunc(func(ctx context.Context, _ *rota.Job) error {
			<-ctx.Done()
			return ctx.Err()
		})))
	})
}

// natsRunListener runs l until the test ends, and returns a function that
// stops it and returns what Run returned.
func natsRunListener(t testing.TB, l *events.NATSAbortListener) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once bool
	var res error
	stop := func() error {
		if !once {
			once = true
			cancel()
			res = <-done
		}
		return res
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// natsRequest sends a request to subject and decodes the answer; before
// a listener subscribed, a request finds no responders and is sent again.
func natsRequest(t testing.TB, nc *nats.Conn, subject, payload string) (aborted []int64, errMsg string) {
	t.Helper()
	var m *nats.Msg
	waitFor(t, "an answer to "+payload, func() bool {
		var err error
		m, err = nc.Request(subject, []byte(payload), waitTimeout)
		if errors.Is(err, nats.ErrNoResponders) {
			return false
		}
		natsMust(t, err)
		return true
	})
	var ans struct {
		Aborted *[]int64 `json:"aborted"`
		Error   string   `json:"error"`
	}
	natsMust(t, json.Unmarshal(m.Data, &ans))
	if ans.Aborted == nil && ans.Error == "" {
		t.Fatalf("answer %s has neither aborted nor error", m.Data)
	}
	if ans.Aborted != nil {
		aborted = *ans.Aborted
	}
	return aborted, ans.Error
}

func newNATSListener(t testing.TB, n *natsNode, keyField string, opts events.NATSAbortOptions) (*events.Aborter, *events.NATSAbortListener) {
	t.Helper()
	a, err := events.NewAborter(n.c, keyField, quiet)
	natsMust(t, err)
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	l, err := events.NewNATSAbortListener(a, opts)
	natsMust(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return a, l
}

func natsWaitState(t testing.TB, c *rota.Client, id int64, state rota.State) {
	t.Helper()
	waitFor(t, fmt.Sprintf("job %d to be %s", id, state), func() bool {
		j, err := c.Get(context.Background(), id)
		natsMust(t, err)
		return j.State == state
	})
}

// TestNATSAbortListener: messages naming running jobs abort them, by id
// or by a key under the key field; others are ignored and the jobs they do
// not name keep running; requests are answered.
func TestNATSAbortListener(t *testing.T) {
	t.Parallel()
	url := natstest.URL(t)
	subject := natstest.Prefix(t) + ".abort"
	n := natsAbortNode(t)
	a, l := newNATSListener(t, n, "analysis_id", events.NATSAbortOptions{NATSConnOptions: events.NATSConnOptions{URL: url}, Subject: subject})
	stop := natsRunListener(t, l)
	nc := natsConnect(t, url)

	var ids []int64
	for _, key := range []string{"a1", "a2", "a3"} {
		j, err := n.c.Enqueue(context.Background(), "analysis", nil, rota.Key(key, rota.OnConflictReturn))
		natsMust(t, err)
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		natsWaitState(t, n.c, id, rota.StateRunning)
	}
	// Requests that name no running job: answered with none, and the
	// listener is subscribed once one is answered.
	if got, e := natsRequest(t, nc, subject, `{"id": 999999}`); len(got) != 0 || e != "" {
		t.Fatalf("abort of no job: %v %q", got, e)
	}
	if got, e := natsRequest(t, nc, subject, `{"analysis_id": "nope"}`); len(got) != 0 || e != "" {
		t.Fatalf("abort of no key: %v %q", got, e)
	}
	if got, e := natsRequest(t, nc, subject, `{"key": "a1"}`); len(got) != 0 || e == "" {
		t.Fatalf(`"key" is not the key field: %v %q`, got, e)
	}
	// A plain message by id.
	natsMust(t, nc.Publish(subject, fmt.Appendf(nil, `{"id": %d, "reason": "by NATS"}`, ids[0])))
	natsWaitState(t, n.c, ids[0], rota.StateAborted)
	j, err := n.c.Get(context.Background(), ids[0])
	natsMust(t, err)
	if len(j.Attempts) == 0 || !strings.Contains(j.Attempts[len(j.Attempts)-1].Error, "by NATS") {
		t.Errorf("aborted job's attempts: %+v", j.Attempts)
	}
	// A plain message by key.
	natsMust(t, nc.Publish(subject, []byte(`{"analysis_id": "a2"}`)))
	natsWaitState(t, n.c, ids[1], rota.StateAborted)
	// A request by key, answered.
	if got, e := natsRequest(t, nc, subject, `{"analysis_id": "a3", "kind": "analysis"}`); len(got) != 1 || got[0] != ids[2] || e != "" {
		t.Fatalf("abort of a3: %v %q, want [%d]", got, e, ids[2])
	}
	natsWaitState(t, n.c, ids[2], rota.StateAborted)
	// Again: it is no longer running.
	if got, e := natsRequest(t, nc, subject, `{"analysis_id": "a3"}`); len(got) != 0 || e != "" {
		t.Fatalf("abort of an aborted job: %v %q", got, e)
	}
	if got, e := natsRequest(t, nc, subject, `not json`); len(got) != 0 || !strings.Contains(e, "not a JSON object") {
		t.Fatalf("unreadable message: %v %q", got, e)
	}
	if a.Aborted() != 3 || a.Ignored() != 3 || a.Invalid() != 2 {
		t.Errorf("aborter: %d aborted, %d ignored, %d invalid; want 3, 3, 2", a.Aborted(), a.Ignored(), a.Invalid())
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after its context ended: %v", err)
	}
}

// TestNATSAbortIgnoresOthers: a message naming no running job leaves the
// running ones alone.
func TestNATSAbortIgnoresOthers(t *testing.T) {
	t.Parallel()
	url := natstest.URL(t)
	subject := natstest.Prefix(t) + ".abort"
	n := natsAbortNode(t)
	a, l := newNATSListener(t, n, "analysis_id", events.NATSAbortOptions{NATSConnOptions: events.NATSConnOptions{URL: url}, Subject: subject})
	natsRunListener(t, l)
	nc := natsConnect(t, url)
	j, err := n.c.Enqueue(context.Background(), "analysis", nil, rota.Key("keep", rota.OnConflictReturn))
	natsMust(t, err)
	natsWaitState(t, n.c, j.ID, rota.StateRunning)
	done, err := n.c.Enqueue(context.Background(), "analysis", nil, rota.Key("gone", rota.OnConflictReturn), rota.Hold())
	natsMust(t, err)
	_, err = n.c.Abort(context.Background(), done.ID, "ended before")
	natsMust(t, err)
	natsRequest(t, nc, subject, `{"id": 999999}`) // subscribed
	for _, msg := range []string{
		`{"analysis_id": "other"}`,
		fmt.Sprintf(`{"id": %d}`, j.ID+1000),
		fmt.Sprintf(`{"id": %d}`, done.ID), // not running
		`{"analysis_id": "keep", "kind": "other.kind"}`,
		`{"analysis_id": "gone"}`,
	} {
		natsMust(t, nc.Publish(subject, []byte(msg)))
	}
	waitFor(t, "the messages handled", func() bool { return a.Ignored() == 6 })
	got, err := n.c.Get(context.Background(), j.ID)
	natsMust(t, err)
	if got.State != rota.StateRunning || a.Aborted() != 0 {
		t.Fatalf("job %d is %s after messages naming other jobs (%d aborted)", j.ID, got.State, a.Aborted())
	}
	_, err = n.c.Abort(context.Background(), j.ID, "test over")
	natsMust(t, err)
	natsWaitState(t, n.c, j.ID, rota.StateAborted)
}

// TestNATSAbortQueueGroup: of two listeners of one queue group, one
// handles each message.
func TestNATSAbortQueueGroup(t *testing.T) {
	t.Parallel()
	url := natstest.URL(t)
	subject := natstest.Prefix(t) + ".abort"
	n := natsAbortNode(t)
	opts := events.NATSAbortOptions{NATSConnOptions: events.NATSConnOptions{URL: url}, Subject: subject}
	a1, l1 := newNATSListener(t, n, "", opts)
	a2, l2 := newNATSListener(t, n, "", opts)
	natsRunListener(t, l1)
	natsRunListener(t, l2)
	nc := natsConnect(t, url)
	const msgs = 20
	for i := range msgs {
		natsRequest(t, nc, subject, fmt.Sprintf(`{"id": %d}`, 1000000+i))
	}
	// Each listener handles its messages in order: once both have
	// handled a later one, neither has a copy of the first 20 left.
	sent := msgs
	b1, b2 := a1.Ignored(), a2.Ignored()
	waitFor(t, "both listeners to handle a message", func() bool {
		if a1.Ignored() > b1 && a2.Ignored() > b2 {
			return true
		}
		natsRequest(t, nc, subject, `{"id": 999999}`)
		sent++
		return false
	})
	if got := a1.Ignored() + a2.Ignored(); got != uint64(sent) {
		t.Fatalf("%d messages handled (%d and %d), want the %d sent", got, a1.Ignored(), a2.Ignored(), sent)
	}
}

// TestNATSAbortListenerClose: Close ends Run with nil; a listener may run
// again after its context ended.
func TestNATSAbortListenerClose(t *testing.T) {
	t.Parallel()
	url := natstest.URL(t)
	subject := natstest.Prefix(t) + ".abort"
	n := natsAbortNode(t)
	a, l := newNATSListener(t, n, "", events.NATSAbortOptions{NATSConnOptions: events.NATSConnOptions{URL: url}, Subject: subject, Queue: "q1"})
	nc := natsConnect(t, url)
	stop := natsRunListener(t, l)
	natsRequest(t, nc, subject, `{"id": 999999}`)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	natsRunListener(t, l)
	natsRequest(t, nc, subject, `{"id": 999999}`)
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	natsMust(t, l.Close())
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after Close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after Close")
	}
	if a.Ignored() < 2 {
		t.Fatalf("%d ignored", a.Ignored())
	}
}

// TestNATSTLSAndKeys: TLS to a server that verifies its clients (the
// server checked against a given CA, the client's certificate presented),
// an NKey seed file, and a credentials file (user JWT and seed) against a
// server in operator mode; each refused with the wrong key or CA.
func TestNATSTLSAndKeys(t *testing.T) {
	t.Parallel()
	msgs := []events.Message{{Record: events.Record{ID: 1, Type: events.TypeGap}, Payload: []byte(`{}`)}}
	send := func(t *testing.T, o events.NATSConnOptions) error {
		t.Helper()
		o.ReconnectWait = 20 * time.Millisecond
		s := newNATSSink(t, events.NATSSinkOptions{NATSConnOptions: o})
		return s.Send(t.Context(), msgs)
	}
	ok := func(t *testing.T, what string, o events.NATSConnOptions) {
		t.Helper()
		var err error
		waitFor(t, what, func() bool { err = send(t, o); return err == nil })
	}
	// refused: the send fails, and the connection's warning gives the
	// server's reason (not a connection that was merely not up yet).
	refused := func(t *testing.T, what string, o events.NATSConnOptions, reason string) {
		t.Helper()
		var logs syncBuffer
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		if err := send(t, o); err == nil {
			t.Errorf("%s: the send succeeded", what)
		}
		waitFor(t, what+": a warning saying "+reason, func() bool { return strings.Contains(logs.String(), reason) })
	}

	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		f := tlstest.New(t)
		srv := natstest.Start(t, "--tlsverify", "--tlscert", f.ServerCert, "--tlskey", f.ServerKey, "--tlscacert", f.CA)
		ok(t, "a send over TLS with a client certificate", events.NATSConnOptions{URL: srv.URL, TLS: f.ClientConfig(t, f.CA, true)})
		refused(t, "no client certificate", events.NATSConnOptions{URL: srv.URL, TLS: f.ClientConfig(t, f.CA, false)},
			"cannot reach NATS") // the server's alert, or EOF: it depends on when the client reads
		refused(t, "another CA", events.NATSConnOptions{URL: srv.URL, TLS: f.ClientConfig(t, f.OtherCA, true)}, "certificate signed by unknown authority")
	})

	t.Run("nkey", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		user, seedFile := natsUserKey(t, dir, "user")
		_, otherSeed := natsUserKey(t, dir, "other")
		conf := filepath.Join(dir, "server.conf")
		natsMust(t, os.WriteFile(conf, []byte("authorization { users = [ { nkey: \""+user+"\" } ] }\n"), 0o600))
		srv := natstest.Start(t, "-c", conf)
		ok(t, "a send with the NKey", events.NATSConnOptions{URL: srv.URL, NKeySeedFile: seedFile})
		refused(t, "another NKey", events.NATSConnOptions{URL: srv.URL, NKeySeedFile: otherSeed}, "Authorization Violation")
		refused(t, "no NKey", events.NATSConnOptions{URL: srv.URL}, "Authorization Violation")
	})

	t.Run("creds", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		key := func(create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, string) {
			kp, err := create()
			natsMust(t, err)
			pub, err := kp.PublicKey()
			natsMust(t, err)
			return kp, pub
		}
		operator, opub := key(nkeys.CreateOperator)
		ojwt, err := jwt.NewOperatorClaims(opub).Encode(operator)
		natsMust(t, err)
		// signedAccount is an account the operator signed: its key, public
		// key and JWT.
		signedAccount := func() (nkeys.KeyPair, string, string) {
			kp, pub := key(nkeys.CreateAccount)
			j, err := jwt.NewAccountClaims(pub).Encode(operator)
			natsMust(t, err)
			return kp, pub, j
		}
		account, apub, ajwt := signedAccount()
		_, spub, sjwt := signedAccount() // JetStream needs a system account
		creds := func(name string, signer nkeys.KeyPair) string {
			user, upub := key(nkeys.CreateUser)
			ujwt, err := jwt.NewUserClaims(upub).Encode(signer)
			natsMust(t, err)
			seed, err := user.Seed()
			natsMust(t, err)
			b, err := jwt.FormatUserConfig(ujwt, seed)
			natsMust(t, err)
			path := filepath.Join(dir, name+".creds")
			natsMust(t, os.WriteFile(path, b, 0o600))
			return path
		}
		good := creds("user", account)
		stranger, _ := key(nkeys.CreateAccount) // an account the operator did not sign
		bad := creds("stranger", stranger)
		ofile := filepath.Join(dir, "operator.jwt")
		natsMust(t, os.WriteFile(ofile, []byte(ojwt), 0o600))
		conf := filepath.Join(dir, "server.conf")
		natsMust(t, os.WriteFile(conf, []byte("operator: \""+ofile+"\"\nsystem_account: "+spub+"\nresolver: MEMORY\n"+
			"resolver_preload: { "+apub+": \""+ajwt+"\", "+spub+": \""+sjwt+"\" }\n"), 0o600))
		srv := natstest.Start(t, "-c", conf)
		ok(t, "a send with the credentials", events.NATSConnOptions{URL: srv.URL, CredsFile: good})
		refused(t, "credentials of an unknown account", events.NATSConnOptions{URL: srv.URL, CredsFile: bad}, "Authorization Violation")
		refused(t, "no credentials", events.NATSConnOptions{URL: srv.URL}, "Authorization Violation")
	})

	// Files that cannot be used fail the sink at once, naming the file.
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	natsMust(t, os.WriteFile(junk, []byte("not a key"), 0o600))
	_, seed := natsUserKey(t, dir, "u")
	for _, tc := range []struct {
		o    events.NATSConnOptions
		want string
	}{
		{events.NATSConnOptions{CredsFile: junk}, "credentials file " + junk + ": no user JWT"},
		{events.NATSConnOptions{CredsFile: filepath.Join(dir, "missing")}, "no such file"},
		{events.NATSConnOptions{NKeySeedFile: junk}, "NKey seed file"},
		{events.NATSConnOptions{CredsFile: junk, NKeySeedFile: seed}, "both a credentials file and an NKey seed file"},
	} {
		tc.o.Logger = quiet
		if _, err := events.NewNATSSink(events.NATSSinkOptions{NATSConnOptions: tc.o}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewNATSSink(%+v) = %v, want an error containing %q", tc.o, err, tc.want)
		}
	}
}

// natsUserKey makes a user NKey, writes its seed to dir/name.nk, and
// returns the public key and the file.
func natsUserKey(t testing.TB, dir, name string) (public, seedFile string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	natsMust(t, err)
	public, err = kp.PublicKey()
	natsMust(t, err)
	seed, err := kp.Seed()
	natsMust(t, err)
	seedFile = filepath.Join(dir, name+".nk")
	natsMust(t, os.WriteFile(seedFile, seed, 0o600))
	return public, seedFile
}
