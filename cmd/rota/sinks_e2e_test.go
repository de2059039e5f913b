package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rotahq/rota/events"
	"github.com/rotahq/rota/internal/natstest"
	"github.com/rotahq/rota/internal/tlstest"
)

// hookReceiver keeps the events POSTed to it whose signature holds.
type hookReceiver struct {
	secret   string
	mu       sync.Mutex
	events   []map[string]any
	bad      int
	maxBatch int // the most events of one POST
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	var batch []map[string]any
	if events.Verify(h.secret, body, r.Header.Get(events.SignatureHeader)) != nil || json.Unmarshal(body, &batch) != nil {
		h.bad++
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	h.events = append(h.events, batch...)
	h.maxBatch = max(h.maxBatch, len(batch))
}

func (h *hookReceiver) got() ([]map[string]any, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.events...), h.bad
}

// TestServeWebhook: rota serve relays the job events of the kinds it is
// told to a webhook, signed, in the OMA format when asked; a job enqueued
// while the node was down is announced after a restart (the relay goes on
// from its saved position).
func TestServeWebhook(t *testing.T) {
	t.Parallel()
	h := &hookReceiver{secret: "hook-secret"}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "oma.ssi.json"), []byte(`{"exec": "cat >/dev/null"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "ROTA_LOG_LEVEL=info", "ROTA_WEBHOOK_URL="+hs.URL+"/hook", "ROTA_WEBHOOK_SECRET="+h.secret,
		"ROTA_EVENTS_FORMAT=oma", "ROTA_EVENTS_KINDS=oma.ssi", "ROTA_WORKERS_DIR="+dir)
	p := startServe(t, e)
	e.ok("enqueue", "other.kind", "{}")
	e.ok("enqueue", "oma.ssi", "{}", "--key", "65e08e66", "--metadata", "tenant_id=9", "--metadata", "user_id=7", "--metadata", "run_type=SSI")
	want := []string{"QUEUED", "RUNNING", "DONE"}
	waitFor(t, 30*time.Second, "the OMA job's events", func() bool { evs, _ := h.got(); return len(evs) >= len(want) })
	var metrics string
	waitFor(t, 30*time.Second, "the relay's count of 3 on /metrics", func() bool {
		resp, err := http.Get(p.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = grepLines(string(b), "rota_event_")
		return regexp.MustCompile(`rota_event_relay_delivered_total\{relay="webhook:[0-9a-f]{16}"\} 3`).MatchString(metrics)
	})
	if !regexp.MustCompile(`rota_event_relay_failures_total\{relay="webhook:[0-9a-f]{16}"\} 0`).MatchString(metrics) ||
		!regexp.MustCompile(`(?m)^rota_event_log_last_id [1-9]`).MatchString(metrics) {
		t.Errorf("relay metrics:\n%s", metrics)
	}
	p.stop(t)
	e.ok("enqueue", "oma.ssi", "{}", "--key", "second")
	p = startServe(t, e)
	want = append(want, "QUEUED", "RUNNING", "DONE")
	waitFor(t, 30*time.Second, "the second job's events", func() bool { evs, _ := h.got(); return len(evs) >= len(want) })
	// Pointed at another URL, the relay starts at the log's end: the new
	// destination gets none of the old backlog.
	p.stop(t)
	h2 := &hookReceiver{secret: h.secret}
	hs2 := httptest.NewServer(h2)
	t.Cleanup(hs2.Close)
	e.vars = append(e.vars, "ROTA_WEBHOOK_URL="+hs2.URL+"/other")
	p = startServe(t, e)
	p.waitLog(t, "the relay's start", func(l string) bool { return strings.Contains(l, "event relay started") })
	e.ok("enqueue", "oma.ssi", "{}", "--key", "third")
	waitFor(t, 30*time.Second, "the third job's events at the new URL", func() bool { evs, _ := h2.got(); return len(evs) >= 3 })
	if evs2, _ := h2.got(); len(evs2) != 3 || evs2[0]["document_id"] != "third" || evs2[2]["document_id"] != "third" {
		t.Errorf("the new URL got %v, want only the third job's 3 events", evs2)
	}
	evs, bad := h.got()
	if bad > 0 {
		t.Fatalf("%d unsigned or malformed posts", bad)
	}
	var statuses []string
	for i, ev := range evs {
		statuses = append(statuses, ev["status"].(string))
		doc := "65e08e66"
		if i >= 3 {
			doc = "second"
		}
		if ev["document_id"] != doc || ev["run_type"] != map[bool]string{true: "SSI", false: "oma.ssi"}[i < 3] {
			t.Errorf("event %d: %v", i, ev)
		}
		if i < 3 && (ev["tenant_id"] != 9.0 || ev["user_id"] != 7.0) {
			t.Errorf("event %d lacks the OMA ids: %v", i, ev)
		}
	}
	// The CLI's enqueue and the server log their events each from their
	// own process, so a job's QUEUED may follow its RUNNING (the guide
	// says so): each job's statuses are compared as a set.
	for _, part := range [][2]int{{0, 3}, {3, 6}} {
		got := slices.Sorted(slices.Values(statuses[part[0]:min(part[1], len(statuses))]))
		if len(statuses) != len(want) || !slices.Equal(got, []string{"DONE", "QUEUED", "RUNNING"}) {
			t.Errorf("statuses %v, want each job's QUEUED, RUNNING, DONE (and none of the other kind)", statuses)
			break
		}
	}
}

// TestServeWebhookBatch: ROTA_EVENTS_BATCH bounds the events of one POST:
// a backlog of five events logged while the node was down goes out in
// POSTs of at most two.
func TestServeWebhookBatch(t *testing.T) {
	t.Parallel()
	h := &hookReceiver{secret: "hook-secret"}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	e := newEnv(t, "ROTA_LOG_LEVEL=info", "ROTA_WEBHOOK_URL="+hs.URL+"/hook", "ROTA_WEBHOOK_SECRET="+h.secret, "ROTA_EVENTS_BATCH=2")
	p := startServe(t, e)
	p.waitLog(t, "the relay's start", func(l string) bool { return strings.Contains(l, "event relay started") })
	p.stop(t) // the relay's position is saved: the log's end
	for range 5 {
		e.ok("enqueue", "batch.kind", "{}") // no worker: each job stays queued, one event
	}
	startServe(t, e)
	waitFor(t, 30*time.Second, "the five events", func() bool { evs, _ := h.got(); return len(evs) >= 5 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) != 5 || h.bad > 0 || h.maxBatch != 2 {
		t.Errorf("%d events (%d bad), the largest POST %d; want 5 in POSTs of at most 2", len(h.events), h.bad, h.maxBatch)
	}
}

// TestServeSinkSettingsRejected: sink settings that do not go together are
// refused before anything starts, with exit code 2.
func TestServeSinkSettingsRejected(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		vars []string
		want string
	}{
		{[]string{"ROTA_KAFKA_TOPIC=out"}, "ROTA_KAFKA_BROKERS"},
		{[]string{"ROTA_WEBHOOK_SECRET=s"}, "ROTA_WEBHOOK_URL"},
		{[]string{"ROTA_WEBHOOK_URL=mailto:x@y"}, `ROTA_WEBHOOK_URL: "mailto:x@y" is not an http or https URL`},
		{[]string{"ROTA_EVENTS_FORMAT=yaml"}, `ROTA_EVENTS_FORMAT: "yaml" is not "json" or "oma"`},
		{[]string{"ROTA_NATS_URL=nats://127.0.0.1:4222", "ROTA_NATS_TLS_CERT=" + file}, `ROTA_NATS_TLS_KEY: "" is empty, but ROTA_NATS_TLS_CERT is set`},
		{[]string{"ROTA_NATS_URL=nats://127.0.0.1:4222", "ROTA_NATS_TLS_CA=" + file}, `ROTA_NATS_TLS_CA: "` + file + `" is not a PEM file of certificates`},
		{[]string{"ROTA_KAFKA_BROKERS=127.0.0.1:9092", "ROTA_KAFKA_TOPIC=out", "ROTA_KAFKA_TLS_CA=" + missing},
			`ROTA_KAFKA_TLS_CA: "` + missing + `" is not a readable file (no such file or directory)`},
		{[]string{"ROTA_NATS_URL=nats://127.0.0.1:4222", "ROTA_NATS_NKEY=" + file}, `ROTA_NATS_NKEY: "` + file + `" is not a file of a user NKey seed`},
	} {
		e := newEnv(t, tc.vars...)
		_, stderr, code := e.cli("serve")
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %s", tc.vars, code, stderr, tc.want)
		}
	}
	// The sink files are rota serve's: a command that sends nothing to
	// NATS runs without them.
	e := newEnv(t, "ROTA_NATS_URL=nats://127.0.0.1:4222", "ROTA_NATS_TLS_CA="+missing)
	e.ok("migrate")
	if _, stderr, code := e.cli("queues", "ls"); code != 0 {
		t.Errorf("rota queues ls with a missing ROTA_NATS_TLS_CA: exit %d, %s", code, stderr)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestServeNATS: rota serve publishes job events to NATS under the
// configured prefix, and aborts a running job named by a message on the
// abort subject (by its key, under the configured field); a message that
// names no running job changes nothing.
func TestServeNATS(t *testing.T) {
	t.Parallel()
	url := natstest.URL(t)
	prefix := natstest.Prefix(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	msgs := make(chan *nats.Msg, 100)
	sub, err := nc.ChanSubscribe(prefix+".events.>", msgs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "oma.run.json"), []byte(`{"exec": "cat >/dev/null; sleep 60"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "ROTA_LOG_LEVEL=info", "ROTA_NATS_URL="+url, "ROTA_NATS_SUBJECT="+prefix+".events",
		"ROTA_NATS_ABORT_SUBJECT="+prefix+".abort", "ROTA_ABORT_KEY_FIELD=analysis_id", "ROTA_WORKERS_DIR="+dir, "ROTA_ABORT_GRACE=2s")
	p := startServe(t, e)
	p.waitLog(t, "the abort listener", func(l string) bool { return strings.Contains(l, "listening for abort messages") })
	var job struct {
		ID int64 `json:"id"`
	}
	e.jsonOut(&job, "enqueue", "oma.run", "{}", "--key", "65e08e66", "--json")
	id := strconv.FormatInt(job.ID, 10)
	next := func(what string) *nats.Msg {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("no NATS message for %s", what)
			return nil
		}
	}
	// The CLI logs the queued event, the server the running one: either
	// may come first (see TestServeWebhook).
	var subjects []string
	for range 2 {
		m := next("the queued and running events")
		if m.Header.Get("Rota-Job-Id") != id {
			t.Fatalf("message on %s of job %s, want job %s: %s", m.Subject, m.Header.Get("Rota-Job-Id"), id, m.Data)
		}
		subjects = append(subjects, m.Subject)
	}
	slices.Sort(subjects)
	if want := []string{prefix + ".events.oma.run.queued", prefix + ".events.oma.run.running"}; !slices.Equal(subjects, want) {
		t.Fatalf("subjects %v, want %v", subjects, want)
	}
	for _, msg := range []string{`{"analysis_id": "nobody"}`, `{"id": 999999}`} {
		reply, err := nc.Request(prefix+".abort", []byte(msg), 10*time.Second)
		if err != nil || string(reply.Data) != `{"aborted":[]}` {
			t.Fatalf("abort %s: %v %s", msg, err, replyData(reply))
		}
	}
	if err := nc.Publish(prefix+".abort", []byte(`{"analysis_id": "65e08e66", "reason": "stopped by the user"}`)); err != nil {
		t.Fatal(err)
	}
	m := next("the abort")
	if m.Subject != prefix+".events.oma.run.aborted" {
		t.Fatalf("message on %s after the abort: %s", m.Subject, m.Data)
	}
	var ev struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &ev); err != nil || !strings.Contains(ev.Error, "stopped by the user") {
		t.Errorf("aborted event %s: %v", m.Data, err)
	}
	var metrics string
	waitFor(t, 30*time.Second, "the abort on /metrics", func() bool {
		resp, err := http.Get(p.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = grepLines(string(b), "rota_abort_messages_total")
		return strings.Contains(metrics, `rota_abort_messages_total{outcome="aborted"} 1`)
	})
	if !strings.Contains(metrics, `rota_abort_messages_total{outcome="ignored"} 2`) {
		t.Errorf("abort metrics:\n%s", metrics)
	}
	p.stop(t)
}

func replyData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// TestServeKafka: rota serve sends OMA status messages to a Kafka topic
// (a real-protocol broker, kfake) and aborts the running job that a
// message on the broadcast topic names by analysis_id, as the OMA worker
// does.
func TestServeKafka(t *testing.T) {
	t.Parallel()
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "output", "broadcast"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "oma.run.json"), []byte(`{"exec": "cat >/dev/null; sleep 60"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "ROTA_LOG_LEVEL=info", "ROTA_KAFKA_BROKERS="+strings.Join(brokers, ","), "ROTA_KAFKA_TOPIC=output",
		"ROTA_KAFKA_ABORT_TOPIC=broadcast", "ROTA_KAFKA_GROUP=oma", "ROTA_EVENTS_FORMAT=oma", "ROTA_ABORT_KEY_FIELD=analysis_id",
		"ROTA_WORKERS_DIR="+dir, "ROTA_ABORT_GRACE=2s")
	p := startServe(t, e)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("output"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic("broadcast"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	produce := func(v string) {
		t.Helper()
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	abortMetric := func(outcome string) string {
		resp, err := http.Get(p.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, `rota_abort_messages_total{outcome="`+outcome+`"} `) {
				return strings.Fields(l)[1]
			}
		}
		return ""
	}
	// A new group starts at the topic's end: send a message naming no job
	// until the consumer has heard one, so it is in place.
	var sent time.Time
	waitFor(t, 30*time.Second, "the abort consumer to join", func() bool {
		if n := abortMetric("ignored"); n != "" && n != "0" {
			return true
		}
		if time.Since(sent) > 300*time.Millisecond {
			produce(`{"analysis_id": "nobody"}`)
			sent = time.Now()
		}
		return false
	})
	e.ok("enqueue", "oma.run", "{}", "--key", "65e08e66", "--metadata", "tenant_id=9", "--metadata", "user_id=7",
		"--metadata", "run_type=SSI")
	var statuses []string
	fetch := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		for len(statuses) < n {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("statuses %v: timed out waiting for %d", statuses, n)
			}
			fs.EachRecord(func(r *kgo.Record) {
				var m map[string]any
				if err := json.Unmarshal(r.Value, &m); err != nil || m["document_id"] != "65e08e66" || m["tenant_id"] != 9.0 ||
					m["user_id"] != 7.0 || m["run_type"] != "SSI" || string(r.Key) == "" {
					t.Errorf("record key %q value %s", r.Key, r.Value)
				}
				statuses = append(statuses, fmt.Sprint(m["status"]))
			})
		}
	}
	fetch(2)
	slices.Sort(statuses) // logged by the CLI and the server: either may come first
	if !slices.Equal(statuses, []string{"QUEUED", "RUNNING"}) {
		t.Fatalf("statuses %v, want QUEUED and RUNNING", statuses)
	}
	produce(`{"analysis_id": "65e08e66"}`)
	fetch(3)
	if statuses[2] != "ABORTED" {
		t.Fatalf("statuses %v, want ABORTED after the abort message", statuses)
	}
	if n := abortMetric("aborted"); n != "1" {
		t.Errorf("rota_abort_messages_total{outcome=aborted} = %q, want 1", n)
	}
	p.stop(t)
}

// TestServeSinksOverTLS: rota serve reaches a NATS server and a Kafka
// broker that both verify their clients' certificates, the NATS one also
// requiring an NKey, from the ROTA_NATS_TLS_*, ROTA_NATS_NKEY and
// ROTA_KAFKA_TLS_* files: a job's events arrive at both.
func TestServeSinksOverTLS(t *testing.T) {
	t.Parallel()
	f := tlstest.New(t)
	dir := t.TempDir()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	seedFile, conf := filepath.Join(dir, "user.nk"), filepath.Join(dir, "nats.conf")
	for path, data := range map[string]string{seedFile: string(seed), conf: "authorization { users = [ { nkey: \"" + pub + "\" } ] }\n"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv := natstest.Start(t, "-c", conf, "--tlsverify", "--tlscert", f.ServerCert, "--tlskey", f.ServerKey, "--tlscacert", f.CA)
	nkeyOpt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.URL, nkeyOpt, nats.RootCAs(f.CA), nats.ClientCert(f.ClientCert, f.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	msgs := make(chan *nats.Msg, 100)
	sub, err := nc.ChanSubscribe("secure.events.>", msgs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(f.ServerConfig(t, true)), kfake.SeedTopics(1, "output"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()

	e := newEnv(t, "ROTA_LOG_LEVEL=info", "ROTA_NATS_URL="+srv.URL, "ROTA_NATS_SUBJECT=secure.events", "ROTA_NATS_NKEY="+seedFile,
		"ROTA_NATS_TLS_CA="+f.CA, "ROTA_NATS_TLS_CERT="+f.ClientCert, "ROTA_NATS_TLS_KEY="+f.ClientKey,
		"ROTA_KAFKA_BROKERS="+strings.Join(brokers, ","), "ROTA_KAFKA_TOPIC=output",
		"ROTA_KAFKA_TLS_CA="+f.CA, "ROTA_KAFKA_TLS_CERT="+f.ClientCert, "ROTA_KAFKA_TLS_KEY="+f.ClientKey)
	startServe(t, e)
	var j struct {
		ID int64 `json:"id"`
	}
	e.jsonOut(&j, "enqueue", "secure.kind", "{}")
	// The job's kind has no worker: it stays queued, one event.
	select {
	case m := <-msgs:
		if m.Subject != "secure.events.secure.kind.queued" {
			t.Errorf("NATS subject %q, want the job's queued event", m.Subject)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no event from NATS")
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("output"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DialTLSConfig(f.ClientConfig(t, f.CA, true)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var ids []string
	for len(ids) == 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no event from Kafka: %v", fs.Errors())
		}
		fs.EachRecord(func(r *kgo.Record) {
			var ev struct {
				JobID int64 `json:"job_id"`
			}
			if json.Unmarshal(r.Value, &ev) == nil && ev.JobID == j.ID {
				ids = append(ids, strconv.FormatInt(ev.JobID, 10))
			}
		})
	}
}
