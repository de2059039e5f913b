package events

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/rotahq/rota/store"
)

// Kafka defaults, record keys and headers.
const (
	// DefaultKafkaClientID is the client id rota gives the brokers.
	DefaultKafkaClientID = "rota"
	// DefaultKafkaTimeout bounds one KafkaSink.Send: the records not
	// acknowledged by then fail, and the relay sends the batch again.
	DefaultKafkaTimeout = 30 * time.Second
	// DefaultKafkaGroup is the consumer group of a KafkaAbortConsumer:
	// the nodes of a cluster share it, so one of them handles each
	// message.
	DefaultKafkaGroup = "rota"
	// KafkaGapKey is the record key of a gap record (a job record's key
	// is its job id in decimal).
	KafkaGapKey = "gap"
	// KafkaEventIDHeader carries the record's id in the event log, in
	// decimal: a consumer that keeps the last id it handled per partition
	// can drop what the relay sent again.
	KafkaEventIDHeader = "rota-event-id"
	// KafkaContentTypeHeader carries the payload's media type,
	// "application/json".
	KafkaContentTypeHeader = "content-type"
)

// SASL mechanisms of KafkaSASL.
const (
	KafkaSASLPlain       = "PLAIN"
	KafkaSASLScramSHA256 = "SCRAM-SHA-256"
	KafkaSASLScramSHA512 = "SCRAM-SHA-512"
)

// KafkaConfig is how to reach a Kafka cluster; KafkaSinkOptions and
// KafkaAbortOptions embed it.
type KafkaConfig struct {
	// Brokers are the seed brokers, host:port (port 9092 when left
	// out); an entry may hold several, separated by commas (required).
	Brokers []string
	// ClientID names rota to the brokers (DefaultKafkaClientID when
	// empty).
	ClientID string
	// TLS, when set, makes the connections TLS with this configuration.
	TLS *tls.Config
	// SASL, when its Mechanism is set, authenticates the connections.
	SASL KafkaSASL
	// Logger receives the Kafka client's warnings and errors (and the
	// sink's and consumer's own messages); default slog.Default().
	Logger *slog.Logger
	// KgoOpts are more options of the franz-go client, applied after
	// rota's (so they win): another SASL mechanism, say. Options that
	// change the producer's idempotence or acks weaken what KafkaSink
	// promises.
	KgoOpts []kgo.Opt
}

// KafkaSASL is a SASL authentication.
type KafkaSASL struct {
	// Mechanism is KafkaSASLPlain, KafkaSASLScramSHA256 or
	// KafkaSASLScramSHA512 (any case), or "" for none.
	Mechanism string
	User      string
	Password  string
}

// brokers splits the seed brokers.
func (c KafkaConfig) brokers() []string {
	var out []string
	for _, b := range c.Brokers {
		for h := range strings.SplitSeq(b, ",") {
			if h = strings.TrimSpace(h); h != "" {
				out = append(out, h)
			}
		}
	}
	return out
}

// options checks c and returns the franz-go options it makes (rota's,
// then c.KgoOpts) and its logger.
func (c KafkaConfig) options() ([]kgo.Opt, *slog.Logger, error) {
	brokers := c.brokers()
	if len(brokers) == 0 {
		return nil, nil, errors.New("no seed brokers")
	}
	lg := c.Logger
	if lg == nil {
		lg = slog.Default()
	}
	id := c.ClientID
	if id == "" {
		id = DefaultKafkaClientID
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID(id), kgo.WithLogger(kgoLogger{lg})}
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(c.TLS.Clone()))
	}
	m, err := c.SASL.mechanism()
	if err != nil {
		return nil, nil, err
	}
	if m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return append(opts, c.KgoOpts...), lg, nil
}

func (s KafkaSASL) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(strings.TrimSpace(s.Mechanism)) {
	case "":
		if s.User != "" || s.Password != "" {
			return nil, errors.New("sasl: a user or password without a mechanism")
		}
		return nil, nil
	case KafkaSASLPlain:
		return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism(), nil
	case KafkaSASLScramSHA256:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism(), nil
	case KafkaSASLScramSHA512:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("sasl mechanism %q: want %s, %s or %s", s.Mechanism, KafkaSASLPlain, KafkaSASLScramSHA256, KafkaSASLScramSHA512)
}

// kgoLogger hands the franz-go client's warnings and errors to slog.
type kgoLogger struct{ lg *slog.Logger }

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	case kgo.LogLevelInfo:
		lv = slog.LevelInfo
	}
	l.lg.Log(context.Background(), lv, "rota: kafka: "+msg, keyvals...)
}

// KafkaSinkOptions configures a KafkaSink.
type KafkaSinkOptions struct {
	KafkaConfig
	// Topic receives the messages (required). It must exist: the sink
	// does not ask the brokers to create it (KgoOpts can:
	// kgo.AllowAutoTopicCreation).
	Topic string
	// Timeout bounds one Send (DefaultKafkaTimeout when zero).
	Timeout time.Duration
}

// KafkaSink is a Sink that produces each message as one record of a
// Kafka topic: its key is the job id in decimal (KafkaGapKey for a gap
// record), so the events of a job stay in one partition, in order; its
// value is the payload; its headers are KafkaEventIDHeader (the record's
// id in the event log) and KafkaContentTypeHeader ("application/json");
// its timestamp is the event's time (the time of the send for a gap).
//
// The producer is idempotent and waits for all in-sync replicas to
// acknowledge (acks=all): the client's own retries within a Send neither
// duplicate nor reorder records. Send returns nil only when every record
// of the batch is acknowledged; any failure, or the Timeout, fails the
// whole Send and the relay sends the batch again. The records that did go
// through are then in the topic twice, in the same order (a partition's
// records are never reordered: a failed record fails those after it, and
// a record cut off in flight is fenced by a new producer epoch if it did
// not land first). A consumer that wants each event once drops a record
// whose KafkaEventIDHeader is not above the last one it handled of that
// partition.
type KafkaSink struct {
	opts   KafkaSinkOptions
	cl     *kgo.Client
	loaded atomic.Bool // a record went through: the topic's partitions are known
}

// NewKafkaSink checks opts and makes the sink; it connects on the first
// Send.
func NewKafkaSink(opts KafkaSinkOptions) (*KafkaSink, error) {
	if strings.TrimSpace(opts.Topic) == "" {
		return nil, errors.New("events: kafka sink: no topic")
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("events: kafka sink: timeout %s is negative", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultKafkaTimeout
	}
	kopts, _, err := opts.options()
	if err != nil {
		return nil, fmt.Errorf("events: kafka sink: %w", err)
	}
	kopts = append([]kgo.Opt{
		kgo.DefaultProduceTopic(opts.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default, said out loud
		// A record in flight when the timeout or the relay's context
		// ends may fail: the relay sends it again (at least once
		// anyway), and Send keeps to its Timeout when a broker dies
		// with a request in flight. The producer's epoch is bumped
		// before the next produce, so a late write of the old
		// request is fenced: no reordering.
		kgo.AllowIdempotentProduceCancellation(),
		// Nothing is sent before Flush: see produce.
		kgo.ManualFlushing(),
		// Room for a batch of the largest size beside records a
		// timed-out Send left behind.
		kgo.MaxBufferedRecords(4 * store.MaxEventRead),
	}, kopts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("events: kafka sink: %w", err)
	}
	return &KafkaSink{opts: opts, cl: cl}, nil
}

// Send produces msgs, one record each, and waits until all are
// acknowledged, or until its Timeout or ctx ends. See Sink and KafkaSink.
func (s *KafkaSink) Send(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if !s.loaded.Load() {
		// Until the client knows the topic's partitions it holds the
		// records aside, and places them when it learns them while
		// the partitions already send: a first record could go, and
		// fail, before a later one of its partition is placed, and
		// that one then go through. The first record goes alone.
		if err := s.produce(ctx, msgs[:1]); err != nil {
			return err
		}
		s.loaded.Store(true)
		msgs = msgs[1:]
	}
	return s.produce(ctx, msgs)
}

// produce produces msgs and waits for them (see Send). The client sends
// nothing until Flush (manual flushing), so all of msgs are in their
// partitions' buffers before any is sent: a failed record fails the
// records of its partition after it (the client keeps a partition
// gapless), never leaving a gap before a later record that went through.
func (s *KafkaSink) produce(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	results := make(chan error, len(msgs))
	for _, m := range msgs {
		s.cl.Produce(ctx, kafkaRecord(s.opts.Topic, m), func(_ *kgo.Record, err error) { results <- err })
	}
	// Not Flush's own wait, nor ProduceSync: they wait for the answer
	// of a request in flight past the context's end (up to the client's
	// request timeout, 20 s, when a broker stops answering). Records
	// left behind fail when the client may fail them, or land before
	// the ones the relay sends again.
	fctx, fcancel := context.WithCancel(ctx)
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		_ = s.cl.Flush(fctx)
	}()
	defer func() {
		fcancel()
		<-flushed
	}()
	var failed, answered int
	var first error
	for answered < len(msgs) {
		select {
		case err := <-results:
			answered++
			if err != nil {
				failed++
				if first == nil {
					first = err
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("kafka topic %q: %d of %d records not acknowledged: %w", s.opts.Topic, len(msgs)-answered+failed, len(msgs), ctx.Err())
		}
	}
	if first != nil {
		return fmt.Errorf("kafka topic %q: %d of %d records not produced: %w", s.opts.Topic, failed, len(msgs), first)
	}
	return nil
}

// kafkaRecord is the record of a message.
func kafkaRecord(topic string, m Message) *kgo.Record {
	key := KafkaGapKey
	r := &kgo.Record{Topic: topic, Value: m.Payload}
	if m.Record.Type == TypeJob {
		key = strconv.FormatInt(m.Record.Event.JobID, 10)
		r.Timestamp = m.Record.Event.At
	}
	r.Key = []byte(key)
	r.Headers = []kgo.RecordHeader{
		{Key: KafkaEventIDHeader, Value: []byte(strconv.FormatInt(m.Record.ID, 10))},
		{Key: KafkaContentTypeHeader, Value: []byte("application/json")},
	}
	return r
}

// Close closes the connections; a Send in progress fails.
func (s *KafkaSink) Close() { s.cl.Close() }

// KafkaAbortOptions configures a KafkaAbortConsumer.
type KafkaAbortOptions struct {
	KafkaConfig
	// Topic carries the abort messages (required; OMA's
	// KAFKA_TOPIC_BROADCAST).
	Topic string
	// Group is the consumer group (DefaultKafkaGroup when empty): give
	// the nodes of one cluster the same group, so one node handles each
	// message.
	Group string
	// Aborter handles the messages (required; its key field is that of
	// the messages: "analysis_id" for OMA's).
	Aborter *Aborter
	// RetryMin and RetryMax bound the backoff between the tries of a
	// message the store failed (DefaultRetryMin, DefaultRetryMax when
	// zero).
	RetryMin, RetryMax time.Duration
}

// KafkaAbortConsumer consumes abort messages from a Kafka topic in a
// consumer group and hands each to an Aborter, which aborts the running
// jobs it names (a message that names none, or that cannot be read, is
// logged and passed over).
//
// Offsets are committed after the messages of a poll are handled, so a
// message is handled at least once: one whose node died before the commit
// is handled again by the node that takes its partition, and then names
// no running job (ignored). A message the store failed (the Aborter's
// error) is not committed: it is tried again, with backoff, before any
// later message of the poll, until it is handled or the consumer stops
// (then it is handled again by the next consumer of its partition).
// Meanwhile the consumer holds back rebalances of its group: past the
// group's rebalance timeout the brokers move its partitions to other
// nodes.
//
// A new group (no committed offsets) starts at the end of the topic:
// aborts are about the jobs running now, not history. A group that has
// committed resumes after its last commit, so messages sent while no
// node ran are handled when one starts (and abort the jobs they name
// that run then). If the committed offset is out of the partition's
// range (the messages after it were deleted), the consumer takes the
// oldest message still there.
type KafkaAbortConsumer struct {
	opts KafkaAbortOptions
	cl   *kgo.Client
	lg   *slog.Logger

	mu      sync.Mutex
	closed  bool
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once // closes cl

	handled, failures atomic.Uint64
}

const (
	// kafkaPollRecords bounds the messages of one poll.
	kafkaPollRecords = 100
	// kafkaCommitTimeout bounds one offset commit.
	kafkaCommitTimeout = 10 * time.Second
)

// NewKafkaAbortConsumer checks opts and makes the consumer; Run starts
// it.
func NewKafkaAbortConsumer(opts KafkaAbortOptions) (*KafkaAbortConsumer, error) {
	switch {
	case strings.TrimSpace(opts.Topic) == "":
		return nil, errors.New("events: kafka abort consumer: no topic")
	case opts.Aborter == nil:
		return nil, errors.New("events: kafka abort consumer: nil aborter")
	case opts.RetryMin < 0 || opts.RetryMax < 0:
		return nil, errors.New("events: kafka abort consumer: retry bounds must not be negative")
	}
	if opts.Group == "" {
		opts.Group = DefaultKafkaGroup
	}
	if opts.RetryMin == 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = DefaultRetryMax
	}
	opts.RetryMax = max(opts.RetryMax, opts.RetryMin)
	kopts, lg, err := opts.options()
	if err != nil {
		return nil, fmt.Errorf("events: kafka abort consumer: %w", err)
	}
	kopts = append([]kgo.Opt{
		kgo.ConsumeTopics(opts.Topic),
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtEnd()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	}, kopts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("events: kafka abort consumer: %w", err)
	}
	lg = lg.With("topic", opts.Topic, "group", opts.Group)
	return &KafkaAbortConsumer{opts: opts, cl: cl, lg: lg, done: make(chan struct{})}, nil
}

// Handled is how many messages the consumer handled (aborts, ignored
// and unreadable messages alike).
func (c *KafkaAbortConsumer) Handled() uint64 { return c.handled.Load() }

// Failures is how many tries of a message failed (each is tried again).
func (c *KafkaAbortConsumer) Failures() uint64 { return c.failures.Load() }

// Run joins the group and handles messages until ctx ends (it returns
// ctx's error) or Close (nil); it then leaves the group and closes the
// connections. Run once: a consumer does not start again.
func (c *KafkaAbortConsumer) Run(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return errors.New("events: kafka abort consumer: closed")
	case c.running:
		c.mu.Unlock()
		return errors.New("events: kafka abort consumer: Run called twice")
	}
	c.running = true
	runCtx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	c.mu.Unlock()
	defer close(c.done)
	defer c.once.Do(c.cl.Close)
	defer cancel()

	c.lg.Info("rota: kafka abort consumer started")
	retry := c.opts.RetryMin
	for runCtx.Err() == nil {
		fs := c.cl.PollRecords(runCtx, kafkaPollRecords)
		if fs.IsClientClosed() {
			c.cl.AllowRebalance()
			break
		}
		var fetchErr error
		fs.EachError(func(topic string, p int32, err error) {
			if runCtx.Err() == nil {
				fetchErr = fmt.Errorf("topic %q partition %d: %w", topic, p, err)
			}
		})
		var handled []*kgo.Record
		for r := range fs.RecordsAll() {
			if !c.handle(runCtx, r) {
				break
			}
			handled = append(handled, r)
		}
		if len(handled) > 0 {
			// Committed even when the consumer is stopping (what it
			// handled is done); a commit that fails (a rebalance took
			// the partition) only makes the next consumer handle the
			// messages again.
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(runCtx), kafkaCommitTimeout)
			if err := c.cl.CommitRecords(cctx, handled...); err != nil {
				c.lg.Warn("rota: kafka abort consumer: commit failed; the messages may be handled again", "err", err)
			}
			ccancel()
		}
		c.cl.AllowRebalance()
		if fetchErr != nil && len(handled) == 0 {
			c.lg.Warn("rota: kafka abort consumer: fetch failed", "retry_in", retry, "err", fetchErr)
			if !sleep(runCtx, retry) {
				break
			}
			retry = min(2*retry, c.opts.RetryMax)
			continue
		}
		retry = c.opts.RetryMin
	}
	c.lg.Info("rota: kafka abort consumer stopped")
	return ctx.Err()
}

// handle hands r to the aborter, trying again after a store error until
// it succeeds; it reports false when ctx ended first.
func (c *KafkaAbortConsumer) handle(ctx context.Context, r *kgo.Record) bool {
	retry := c.opts.RetryMin
	for {
		_, err := c.opts.Aborter.Handle(ctx, r.Value)
		if ctx.Err() != nil {
			return false
		}
		// Unreadable: the aborter logged and counted it; no try can mend it.
		if err == nil || errors.Is(err, ErrBadAbortMessage) {
			c.handled.Add(1)
			return true
		}
		c.failures.Add(1)
		c.lg.Warn("rota: kafka abort consumer: will try the message again",
			"partition", r.Partition, "offset", r.Offset, "retry_in", retry, "err", err)
		if !sleep(ctx, retry) {
			return false
		}
		retry = min(2*retry, c.opts.RetryMax)
	}
}

// Close stops Run and waits for it to leave the group; without Run it
// closes the connections.
func (c *KafkaAbortConsumer) Close() {
	c.mu.Lock()
	c.closed = true
	running, cancel := c.running, c.cancel
	c.mu.Unlock()
	if running {
		cancel()
		<-c.done
		return
	}
	c.once.Do(c.cl.Close)
}
