package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/events"
	"github.com/rotahq/rota/internal/tlstest"
	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/sqlite"
)

const (
	kafkaEventsTopic = "rota.events"
	kafkaAbortTopic  = "rota.aborts"
)

// kafkaCluster starts an in-process Kafka (kfake) closed at the end of the
// test.
func kafkaCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// kafkaStore wraps the SQLite store to fail Get of one job a number of
// times (a store error for the aborter).
type kafkaStore struct {
	*sqlite.Store
	failID   atomic.Int64
	failLeft atomic.Int64
}

func (s *kafkaStore) Get(ctx context.Context, id int64) (*store.Job, error) {
	if id == s.failID.Load() && s.failLeft.Add(-1) >= 0 {
		return nil, errors.New("kafka test: the store is down")
	}
	return s.Store.Get(ctx, id)
}

// kafkaNode is a started client on a new SQLite store, with its event log.
type kafkaNode struct {
	st *kafkaStore
	c  *rota.Client
	el *rota.EventLog
}

func kafkaStartNode(t *testing.T, register func(c *rota.Client)) *kafkaNode {
	t.Helper()
	st := &kafkaStore{Store: openSQLite(t)}
	c := newClient(t, st, rota.Options{NodeID: "kafka-node"})
	if register != nil {
		register(c)
	}
	return &kafkaNode{st: st, c: c, el: startLogged(t, c)}
}

func (n *kafkaNode) enqueue(t *testing.T, kind string, opts ...rota.EnqueueOption) *rota.Job {
	t.Helper()
	j, err := n.c.Enqueue(t.Context(), kind, nil, opts...)
	if err != nil {
		t.Fatalf("enqueue %s: %v", kind, err)
	}
	return j
}

func (n *kafkaNode) waitState(t *testing.T, id int64, s rota.State) {
	t.Helper()
	waitFor(t, fmt.Sprintf("job %d %s", id, s), func() bool {
		j, err := n.c.Get(t.Context(), id)
		return err == nil && j.State == s
	})
}

// log is the whole event log.
func (n *kafkaNode) log(t *testing.T) []store.EventRecord {
	t.Helper()
	recs, err := n.st.ReadEvents(t.Context(), 0, store.MaxEventRead)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// waitRelayed waits until the relay has delivered the whole log and
// returns it.
func (n *kafkaNode) waitRelayed(t *testing.T, r *events.Relay) []store.EventRecord {
	t.Helper()
	waitFor(t, "the relay to deliver the whole log", func() bool {
		last, err := n.st.LastEventID(t.Context())
		return err == nil && last > 0 && r.Position() == last
	})
	return n.log(t)
}

// kafkaRelay runs a relay from n's log to sink until the end of the test.
func kafkaRelay(t *testing.T, n *kafkaNode, sink events.Sink, format events.Format) *events.Relay {
	t.Helper()
	r, err := events.NewRelay(n.st, events.RelayOptions{
		Name: "kafka", Sink: sink, Format: format, FromStart: true,
		Changed: n.el.Changed, Poll: 20 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	runRelay(t, r)
	return r
}

// kafkaSink makes a sink closed at the end of the test.
func kafkaSink(t *testing.T, opts events.KafkaSinkOptions) *events.KafkaSink {
	t.Helper()
	opts.Logger = quiet
	s, err := events.NewKafkaSink(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// kafkaRead reads topic from its start until done holds for what was read.
func kafkaRead(t *testing.T, topic string, done func([]*kgo.Record) bool, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	var got []*kgo.Record
	for !done(got) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: timed out with %d records", topic, len(got))
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		got = append(got, fs.Records()...)
	}
	return got
}

// kafkaProduce produces one record and waits for it.
func kafkaProduce(t *testing.T, cl *kgo.Client, value string) {
	t.Helper()
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("produce %s: %v", value, err)
	}
}

func kafkaHeader(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// kafkaDelivered checks the records read from the events topic against
// the log: each names a record of the log in its id header, with the
// job's id as its key, the content type, and the FormatJSON payload of
// the record; each partition holds the records of its keys in the log's
// order once what a resend repeated is dropped (a record whose id is not
// above the last of its partition); together they hold every record of
// the log exactly once after that; and each job's records are in one
// partition.
func kafkaDelivered(t *testing.T, log []store.EventRecord, got []*kgo.Record) {
	t.Helper()
	byID := make(map[int64]store.EventRecord, len(log))
	for _, r := range log {
		byID[r.ID] = r
	}
	last := map[int32]int64{}
	partOf := map[string]int32{}
	var kept []int64
	for _, kr := range got {
		h, ok := kafkaHeader(kr, events.KafkaEventIDHeader)
		id, err := strconv.ParseInt(h, 10, 64)
		if !ok || err != nil {
			t.Fatalf("record %s/%d@%d: event id header %q", kr.Topic, kr.Partition, kr.Offset, h)
		}
		if ct, _ := kafkaHeader(kr, events.KafkaContentTypeHeader); ct != "application/json" {
			t.Errorf("event %d: content type %q", id, ct)
		}
		lr, ok := byID[id]
		if !ok {
			t.Fatalf("event %d on the topic is not in the log", id)
		}
		var ev rota.Event
		if err := json.Unmarshal(lr.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if key := string(kr.Key); key != strconv.FormatInt(ev.JobID, 10) {
			t.Errorf("event %d of job %d: key %q", id, ev.JobID, key)
		}
		if p, ok := partOf[string(kr.Key)]; ok && p != kr.Partition {
			t.Errorf("job %s in partitions %d and %d", kr.Key, p, kr.Partition)
		}
		partOf[string(kr.Key)] = kr.Partition
		var payload struct {
			Type  string     `json:"type"`
			ID    int64      `json:"id"`
			Node  string     `json:"node"`
			JobID int64      `json:"job_id"`
			To    rota.State `json:"to"`
			Seq   uint64     `json:"seq"`
		}
		if err := json.Unmarshal(kr.Value, &payload); err != nil {
			t.Fatalf("event %d: payload %s: %v", id, kr.Value, err)
		}
		if payload.Type != events.TypeJob || payload.ID != id || payload.Node != "kafka-node" ||
			payload.JobID != ev.JobID || payload.To != ev.To || payload.Seq != ev.Seq {
			t.Errorf("event %d: payload %s, want the log's %s", id, kr.Value, lr.Data)
		}
		if !kr.Timestamp.Equal(ev.At.Truncate(time.Millisecond)) {
			t.Errorf("event %d: timestamp %s, want the event's %s", id, kr.Timestamp, ev.At)
		}
		if id <= last[kr.Partition] {
			continue // sent again
		}
		last[kr.Partition] = id
		kept = append(kept, id)
	}
	// Per partition the kept ids increase; across partitions, sort
	// them to compare with the log.
	slices.Sort(kept)
	want := make([]int64, len(log))
	for i, r := range log {
		want[i] = r.ID
	}
	if !slices.Equal(kept, want) {
		seqs := map[int32][]string{}
		for _, kr := range got {
			h, _ := kafkaHeader(kr, events.KafkaEventIDHeader)
			seqs[kr.Partition] = append(seqs[kr.Partition], h+"/"+string(kr.Key))
		}
		t.Logf("partitions (id/key): %v", seqs)
		t.Fatalf("the topic holds events %v (repeats dropped), want the log's %v", kept, want)
	}
}

// kafkaCovers reports whether recs hold every id of log.
func kafkaCovers(log []store.EventRecord) func([]*kgo.Record) bool {
	return func(recs []*kgo.Record) bool {
		seen := map[string]bool{}
		for _, r := range recs {
			h, _ := kafkaHeader(r, events.KafkaEventIDHeader)
			seen[h] = true
		}
		for _, r := range log {
			if !seen[strconv.FormatInt(r.ID, 10)] {
				return false
			}
		}
		return true
	}
}

func kafkaOK(c *rota.Client) {
	if err := c.Register("k.ok", rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })); err != nil {
		panic(err)
	}
	if err := c.Register("k.fail", rota.WorkFunc(func(context.Context, *rota.Job) error { return errors.New("no") }),
		rota.KindOptions{MaxAttempts: 1}); err != nil {
		panic(err)
	}
}

// TestKafkaSinkRelaysTheLog: a relay with a KafkaSink puts every event of
// the log on the topic, keyed by job, in order per job, with the id and
// content type headers.
func TestKafkaSinkRelaysTheLog(t *testing.T) {
	cluster := kafkaCluster(t, kfake.SeedTopics(3, kafkaEventsTopic))
	n := kafkaStartNode(t, kafkaOK)
	sink := kafkaSink(t, events.KafkaSinkOptions{
		KafkaConfig: events.KafkaConfig{Brokers: cluster.ListenAddrs()}, Topic: kafkaEventsTopic,
	})
	r := kafkaRelay(t, n, sink, nil)
	var jobs []*rota.Job
	for i := range 12 {
		kind := "k.ok"
		if i%4 == 3 {
			kind = "k.fail"
		}
		jobs = append(jobs, n.enqueue(t, kind))
	}
	for i, j := range jobs {
		want := rota.StateDone
		if i%4 == 3 {
			want = rota.StateError
		}
		n.waitState(t, j.ID, want)
	}
	log := n.waitRelayed(t, r)
	if len(log) < 3*len(jobs) {
		t.Fatalf("the log holds %d records for %d jobs", len(log), len(jobs))
	}
	got := kafkaRead(t, kafkaEventsTopic, func(recs []*kgo.Record) bool { return len(recs) >= len(log) },
		kgo.SeedBrokers(cluster.ListenAddrs()...))
	if len(got) != len(log) || r.Failures() != 0 || r.Delivered() != uint64(len(log)) {
		t.Fatalf("%d records on the topic, %d delivered, %d failures; want the log's %d, no failure", len(got), r.Delivered(), r.Failures(), len(log))
	}
	kafkaDelivered(t, log, got)
	parts := map[int32]bool{}
	for _, kr := range got {
		parts[kr.Partition] = true
	}
	if len(parts) < 2 {
		t.Errorf("12 jobs' events in %d partition(s) of 3", len(parts))
	}
}

// TestKafkaSinkOMA: FormatOMA's status messages on the topic, as OMA's
// worker sends them to its output topic.
func TestKafkaSinkOMA(t *testing.T) {
	cluster := kafkaCluster(t, kfake.SeedTopics(1, "output"))
	n := kafkaStartNode(t, kafkaOK)
	sink := kafkaSink(t, events.KafkaSinkOptions{
		KafkaConfig: events.KafkaConfig{Brokers: cluster.ListenAddrs(), ClientID: "oma-test"}, Topic: "output",
	})
	r := kafkaRelay(t, n, sink, events.FormatOMA)
	j := n.enqueue(t, "k.ok", rota.Key("65e08e66bfe58ba848bccee0", rota.OnConflictReject),
		rota.Metadata(map[string]string{"tenant_id": "9", "user_id": "7", "run_type": "SSI"}))
	n.waitState(t, j.ID, rota.StateDone)
	n.waitRelayed(t, r)
	got := kafkaRead(t, "output", func(recs []*kgo.Record) bool { return len(recs) >= 3 }, kgo.SeedBrokers(cluster.ListenAddrs()...))
	want := []string{"QUEUED", "RUNNING", "DONE"}
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i, kr := range got {
		var m map[string]any
		if err := json.Unmarshal(kr.Value, &m); err != nil {
			t.Fatal(err)
		}
		w := map[string]any{"tenant_id": 9.0, "user_id": 7.0, "document_id": "65e08e66bfe58ba848bccee0", "run_type": "SSI", "status": want[i]}
		if fmt.Sprint(m) != fmt.Sprint(w) || string(kr.Key) != strconv.FormatInt(j.ID, 10) {
			t.Errorf("message %d: key %s, %s; want %v", i, kr.Key, kr.Value, w)
		}
	}
}

// TestKafkaSinkRefusedProduce: while the brokers refuse produce requests
// Send fails and the relay tries again, until the brokers accept: every
// event reaches the topic, in order per job.
func TestKafkaSinkRefusedProduce(t *testing.T) {
	cluster := kafkaCluster(t, kfake.SeedTopics(3, kafkaEventsTopic))
	n := kafkaStartNode(t, kafkaOK)
	sink := kafkaSink(t, events.KafkaSinkOptions{
		KafkaConfig: events.KafkaConfig{Brokers: cluster.ListenAddrs()}, Topic: kafkaEventsTopic,
	})
	refused := cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.PolicyViolation, Count: 6})
	r := kafkaRelay(t, n, sink, nil)
	var jobs []*rota.Job
	for range 8 {
		jobs = append(jobs, n.enqueue(t, "k.ok"))
	}
	for _, j := range jobs {
		n.waitState(t, j.ID, rota.StateDone)
	}
	log := n.waitRelayed(t, r)
	if refused.Hits() != 6 || r.Failures() == 0 {
		t.Fatalf("%d produce requests refused, %d failed sends; want 6 and some", refused.Hits(), r.Failures())
	}
	got := kafkaRead(t, kafkaEventsTopic, kafkaCovers(log), kgo.SeedBrokers(cluster.ListenAddrs()...))
	kafkaDelivered(t, log, got)
}

// TestKafkaSinkBrokerDown: while the broker is down Send fails within its
// timeout and the relay tries again; when the broker is back (on the same
// port, with its data), the relay delivers what waited.
func TestKafkaSinkBrokerDown(t *testing.T) {
	dir := t.TempDir()
	cluster := kafkaCluster(t, kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(2, kafkaEventsTopic))
	addr := cluster.ListenAddrs()[0]
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	n := kafkaStartNode(t, kafkaOK)
	sink := kafkaSink(t, events.KafkaSinkOptions{
		KafkaConfig: events.KafkaConfig{Brokers: []string{addr}, KgoOpts: []kgo.Opt{kgo.MetadataMinAge(50 * time.Millisecond)}},
		Topic:       kafkaEventsTopic, Timeout: 300 * time.Millisecond,
	})
	r := kafkaRelay(t, n, sink, nil)
	for range 3 {
		n.waitState(t, n.enqueue(t, "k.ok").ID, rota.StateDone)
	}
	n.waitRelayed(t, r)

	cluster.Close()
	down := time.Now()
	var jobs []*rota.Job
	for range 4 {
		jobs = append(jobs, n.enqueue(t, "k.ok"))
	}
	for _, j := range jobs {
		n.waitState(t, j.ID, rota.StateDone)
	}
	waitFor(t, "sends to fail while the broker is down", func() bool { return r.Failures() >= 3 })
	if d := time.Since(down); d > 10*time.Second {
		// Three sends of 300 ms, 100 ms apart at most: a send that
		// waited for its request's answer (20 s) took this long.
		t.Errorf("three sends failed in %s: a send overran its timeout", d)
	}
	delivered := r.Delivered()

	cluster = kafkaCluster(t, kfake.NumBrokers(1), kfake.DataDir(dir), kfake.Ports(port))
	log := n.waitRelayed(t, r)
	if r.Delivered() == delivered {
		t.Fatal("nothing delivered after the broker came back")
	}
	got := kafkaRead(t, kafkaEventsTopic, kafkaCovers(log), kgo.SeedBrokers(cluster.ListenAddrs()...))
	kafkaDelivered(t, log, got)
}

// TestKafkaSinkTLSAndSASL: the sink over TLS with SCRAM-SHA-256; a wrong
// password fails the Send.
func TestKafkaSinkTLSAndSASL(t *testing.T) {
	f := tlstest.New(t)
	serverTLS, clientTLS := f.ServerConfig(t, false), f.ClientConfig(t, f.CA, false)
	cluster := kafkaCluster(t, kfake.NumBrokers(1), kfake.TLS(serverTLS), kfake.EnableSASL(),
		kfake.Superuser(events.KafkaSASLScramSHA256, "rota", "s3cret"), kfake.SeedTopics(1, kafkaEventsTopic))
	conf := events.KafkaConfig{
		Brokers: cluster.ListenAddrs(), TLS: clientTLS,
		SASL: events.KafkaSASL{Mechanism: "scram-sha-256", User: "rota", Password: "s3cret"},
	}
	sink := kafkaSink(t, events.KafkaSinkOptions{KafkaConfig: conf, Topic: kafkaEventsTopic})
	msg := events.Message{
		Record:  events.Record{ID: 7, Type: events.TypeGap, Gap: events.Gap{Reason: events.GapPruned, After: 3}},
		Payload: []byte(`{"type":"gap","id":7,"reason":"pruned","after":3}`),
	}
	if err := sink.Send(t.Context(), []events.Message{msg}); err != nil {
		t.Fatalf("send over TLS and SASL: %v", err)
	}
	got := kafkaRead(t, kafkaEventsTopic, func(recs []*kgo.Record) bool { return len(recs) >= 1 },
		kgo.SeedBrokers(conf.Brokers...), kgo.DialTLSConfig(clientTLS), kgo.SASL(scram.Auth{User: "rota", Pass: "s3cret"}.AsSha256Mechanism()))
	if id, _ := kafkaHeader(got[0], events.KafkaEventIDHeader); len(got) != 1 || string(got[0].Key) != events.KafkaGapKey ||
		id != "7" || string(got[0].Value) != string(msg.Payload) {
		t.Fatalf("read %d records, the first: key %q, id %q, %s", len(got), got[0].Key, id, got[0].Value)
	}

	conf.SASL.Password = "wrong"
	bad := kafkaSink(t, events.KafkaSinkOptions{KafkaConfig: conf, Topic: kafkaEventsTopic, Timeout: 2 * time.Second})
	if err := bad.Send(t.Context(), []events.Message{msg}); err == nil {
		t.Fatal("a send with a wrong password succeeded")
	}
}

// kafkaBlock registers k.block, whose worker runs until its context ends.
func kafkaBlock(c *rota.Client) {
	err := c.Register("k.block", rota.WorkFunc(func(ctx context.Context, _ *rota.Job) error {
		<-ctx.Done()
		return ctx.Err()
	}), rota.KindOptions{MaxAttempts: 1})
	if err != nil {
		panic(err)
	}
}

// kafkaAborts runs an abort consumer of kafkaAbortTopic, group "rota",
// until the end of the test (or its Close).
func kafkaAborts(t *testing.T, brokers []string, ab *events.Aborter) *events.KafkaAbortConsumer {
	t.Helper()
	c, err := events.NewKafkaAbortConsumer(events.KafkaAbortOptions{
		KafkaConfig: events.KafkaConfig{Brokers: brokers, Logger: quiet},
		Topic:       kafkaAbortTopic, Aborter: ab,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("abort consumer: Run: %v", err)
		}
	})
	return c
}

// kafkaProducer produces to kafkaAbortTopic.
func kafkaProducer(t *testing.T, brokers []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(kafkaAbortTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// kafkaReady waits until c has handled a message: a new group starts at
// the end of the topic, so what is produced before it has its position
// is not for it. It sends a message naming no job until one is handled.
func kafkaReady(t *testing.T, c *events.KafkaAbortConsumer, p *kgo.Client) {
	t.Helper()
	var sent time.Time
	waitFor(t, "the abort consumer to start", func() bool {
		if c.Handled() > 0 {
			return true
		}
		if time.Since(sent) > 200*time.Millisecond {
			kafkaProduce(t, p, `{"id": 999999999}`)
			sent = time.Now()
		}
		return false
	})
}

// TestKafkaAbortConsumer: abort messages on the topic abort the running
// jobs they name, by id or by a key under the configured field (OMA's
// analysis_id); messages that name no running job, or cannot be read, are
// passed over.
func TestKafkaAbortConsumer(t *testing.T) {
	cluster := kafkaCluster(t, kfake.SeedTopics(1, kafkaAbortTopic))
	n := kafkaStartNode(t, kafkaBlock)
	ab, err := events.NewAborter(n.c, "analysis_id", quiet)
	if err != nil {
		t.Fatal(err)
	}
	p := kafkaProducer(t, cluster.ListenAddrs())
	c := kafkaAborts(t, cluster.ListenAddrs(), ab)
	kafkaReady(t, c, p)

	byID := n.enqueue(t, "k.block")
	n.waitState(t, byID.ID, rota.StateRunning)
	kafkaProduce(t, p, fmt.Sprintf(`{"id": %d}`, byID.ID))
	n.waitState(t, byID.ID, rota.StateAborted)
	if j, _ := n.c.Get(t.Context(), byID.ID); j.LastError == "" {
		t.Errorf("job %d aborted without a reason", j.ID)
	}

	byKey := n.enqueue(t, "k.block", rota.Key("65e08e66bfe58ba848bccee0", rota.OnConflictReject))
	other := n.enqueue(t, "k.block", rota.Key("65e08e66bfe58ba848bccee1", rota.OnConflictReject))
	n.waitState(t, byKey.ID, rota.StateRunning)
	n.waitState(t, other.ID, rota.StateRunning)
	kafkaProduce(t, p, `{"analysis_id": "65e08e66bfe58ba848bccee0", "reason": "stopped by the user"}`)
	n.waitState(t, byKey.ID, rota.StateAborted)
	if j, _ := n.c.Get(t.Context(), byKey.ID); j.LastError != "stopped by the user" {
		t.Errorf("job %d: last error %q, want the message's reason", j.ID, j.LastError)
	}

	// Passed over: an id that is no longer running, a key with no job, a
	// message without the key field, and one that is not JSON; the
	// consumer goes on to the next.
	ignored, invalid, handled := ab.Ignored(), ab.Invalid(), c.Handled()
	for _, m := range []string{
		fmt.Sprintf(`{"id": %d}`, byID.ID),
		`{"analysis_id": "nothing-runs-this"}`,
		`{"key": "65e08e66bfe58ba848bccee1"}`,
		`not json`,
	} {
		kafkaProduce(t, p, m)
	}
	waitFor(t, "the four messages handled", func() bool { return c.Handled() == handled+4 })
	if ab.Ignored() != ignored+2 || ab.Invalid() != invalid+2 || ab.Aborted() != 2 {
		t.Errorf("ignored %d, invalid %d, aborted %d; want %d, %d, 2", ab.Ignored(), ab.Invalid(), ab.Aborted(), ignored+2, invalid+2)
	}
	if j, _ := n.c.Get(t.Context(), other.ID); j.State != rota.StateRunning {
		t.Fatalf("job %d: %s, want still running", j.ID, j.State)
	}
	kafkaProduce(t, p, `{"analysis_id": "65e08e66bfe58ba848bccee1"}`)
	n.waitState(t, other.ID, rota.StateAborted)
	if c.Failures() != 0 {
		t.Errorf("%d failures", c.Failures())
	}
}

// TestKafkaAbortConsumerResumes: a consumer of a group that has committed
// resumes after its last commit: it handles the messages sent while no
// consumer ran, and not those handled before.
func TestKafkaAbortConsumerResumes(t *testing.T) {
	cluster := kafkaCluster(t, kfake.SeedTopics(1, kafkaAbortTopic))
	n := kafkaStartNode(t, kafkaBlock)
	ab, err := events.NewAborter(n.c, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	p := kafkaProducer(t, cluster.ListenAddrs())
	first := kafkaAborts(t, cluster.ListenAddrs(), ab)
	kafkaReady(t, first, p)
	j1 := n.enqueue(t, "k.block")
	n.waitState(t, j1.ID, rota.StateRunning)
	kafkaProduce(t, p, fmt.Sprintf(`{"id": %d}`, j1.ID))
	n.waitState(t, j1.ID, rota.StateAborted)
	first.Close()

	j2 := n.enqueue(t, "k.block")
	n.waitState(t, j2.ID, rota.StateRunning)
	kafkaProduce(t, p, fmt.Sprintf(`{"id": %d}`, j2.ID))
	ignored := ab.Ignored()
	second := kafkaAborts(t, cluster.ListenAddrs(), ab)
	n.waitState(t, j2.ID, rota.StateAborted)
	waitFor(t, "the message handled", func() bool { return second.Handled() >= 1 })
	if second.Handled() != 1 || ab.Ignored() != ignored {
		t.Fatalf("the second consumer handled %d messages (%d ignored), want the one sent after the first stopped", second.Handled(), ab.Ignored()-ignored)
	}
}

// TestKafkaAbortConsumerRetries: a message the store fails is tried
// again, with backoff, until it is handled.
func TestKafkaAbortConsumerRetries(t *testing.T) {
	cluster := kafkaCluster(t, kfake.SeedTopics(1, kafkaAbortTopic))
	n := kafkaStartNode(t, kafkaBlock)
	ab, err := events.NewAborter(n.c, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	p := kafkaProducer(t, cluster.ListenAddrs())
	c := kafkaAborts(t, cluster.ListenAddrs(), ab)
	kafkaReady(t, c, p)
	j := n.enqueue(t, "k.block")
	n.waitState(t, j.ID, rota.StateRunning)
	n.st.failLeft.Store(3)
	n.st.failID.Store(j.ID)
	kafkaProduce(t, p, fmt.Sprintf(`{"id": %d}`, j.ID))
	// (No Get of the job until then: it would take the failures.)
	waitFor(t, "three failed tries", func() bool { return c.Failures() >= 3 })
	n.waitState(t, j.ID, rota.StateAborted)
	if c.Failures() != 3 {
		t.Fatalf("%d failed tries, want 3", c.Failures())
	}
}

// TestKafkaOptions: what the constructors refuse.
func TestKafkaOptions(t *testing.T) {
	brokers := events.KafkaConfig{Brokers: []string{"127.0.0.1:1"}, Logger: quiet}
	for name, o := range map[string]events.KafkaSinkOptions{
		"no topic":     {KafkaConfig: brokers},
		"no brokers":   {KafkaConfig: events.KafkaConfig{Brokers: []string{" , "}}, Topic: "t"},
		"bad timeout":  {KafkaConfig: brokers, Topic: "t", Timeout: -1},
		"bad sasl":     {KafkaConfig: events.KafkaConfig{Brokers: brokers.Brokers, SASL: events.KafkaSASL{Mechanism: "GSSAPI"}}, Topic: "t"},
		"no mechanism": {KafkaConfig: events.KafkaConfig{Brokers: brokers.Brokers, SASL: events.KafkaSASL{User: "u", Password: "p"}}, Topic: "t"},
	} {
		if s, err := events.NewKafkaSink(o); err == nil {
			s.Close()
			t.Errorf("%s: NewKafkaSink accepted %+v", name, o)
		}
	}
	s, err := events.NewKafkaSink(events.KafkaSinkOptions{KafkaConfig: events.KafkaConfig{Brokers: []string{"127.0.0.1:1,127.0.0.1:2"}, Logger: quiet}, Topic: "t"})
	if err != nil {
		t.Fatalf("brokers separated by a comma: %v", err)
	}
	if err := s.Send(t.Context(), nil); err != nil {
		t.Errorf("an empty send: %v", err)
	}
	s.Close()
	n := kafkaStartNode(t, nil)
	ab, err := events.NewAborter(n.c, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]events.KafkaAbortOptions{
		"no topic":   {KafkaConfig: brokers, Aborter: ab},
		"no aborter": {KafkaConfig: brokers, Topic: "t"},
		"no brokers": {Topic: "t", Aborter: ab},
		"bad retry":  {KafkaConfig: brokers, Topic: "t", Aborter: ab, RetryMin: -1},
	} {
		if c, err := events.NewKafkaAbortConsumer(o); err == nil {
			c.Close()
			t.Errorf("%s: NewKafkaAbortConsumer accepted %+v", name, o)
		}
	}
	c, err := events.NewKafkaAbortConsumer(events.KafkaAbortOptions{KafkaConfig: brokers, Topic: "t", Aborter: ab})
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // without Run
	if err := c.Run(t.Context()); err == nil {
		t.Error("Run after Close started")
	}
}
