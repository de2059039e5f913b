package events

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rotahq/rota/config"
)

// natsWarnEvery spaces the warnings of a connection that keeps failing.
const natsWarnEvery = time.Minute

// NATS defaults and headers.
const (
	// DefaultNATSPrefix is the first tokens of the sink's subjects.
	DefaultNATSPrefix = "rota.events"
	// DefaultNATSAbortSubject is the subject an abort listener reads.
	DefaultNATSAbortSubject = "rota.abort"
	// DefaultNATSAbortQueue is the abort listener's queue group: of the
	// listeners of one group, one gets each message.
	DefaultNATSAbortQueue = "rota"
	// DefaultNATSName names the connections.
	DefaultNATSName = "rota"
	// DefaultNATSTimeout bounds one Send (its flush, or the wait for
	// JetStream's acks) and the handling of one abort message.
	DefaultNATSTimeout = 10 * time.Second
	// DefaultNATSReconnectWait is the wait between two tries to reconnect
	// (a lost connection is tried again forever).
	DefaultNATSReconnectWait = 2 * time.Second
	// DefaultNATSMsgIDPrefix starts each message's Nats-Msg-Id, before the
	// record id.
	DefaultNATSMsgIDPrefix = "rota-"

	// NATSEventIDHeader carries the record's id in the event log (the
	// payload's "id" in FormatJSON).
	NATSEventIDHeader = "Rota-Event-Id"
	// NATSJobIDHeader carries the job's id (job records only).
	NATSJobIDHeader = "Rota-Job-Id"
	// NATSMsgIDHeader is JetStream's de-duplication id: MsgIDPrefix and
	// the record id.
	NATSMsgIDHeader = jetstream.MsgIDHeader

	// natsPingInterval: a dead connection is noticed within two or three
	// of these (nats.go's default is 2 minutes).
	natsPingInterval = 20 * time.Second
	// natsStreamMaxAge bounds the age of the messages of a stream that
	// the sink creates (CreateStream).
	natsStreamMaxAge = 24 * time.Hour
)

// NATSConnOptions are how to reach NATS.
type NATSConnOptions struct {
	// URL is the server, or several separated by commas, each as
	// nats://host:port; credentials may be in it
	// (nats://TOKEN@host:4222, nats://user:password@host:4222).
	// Default nats://127.0.0.1:4222.
	URL string
	// Token authenticates with a token.
	Token string
	// User and Password authenticate with a user and password.
	User, Password string
	// CredsFile authenticates with a NATS credentials file: a user JWT
	// and its NKey seed, as nsc writes them (decentralized auth).
	CredsFile string
	// NKeySeedFile authenticates with the user NKey whose seed (SU...) the
	// file holds. At most one of CredsFile and NKeySeedFile.
	NKeySeedFile string
	// TLS, when set, makes the connections TLS with this configuration:
	// its RootCAs verify the server (nil: the system's roots), its
	// Certificates are the client's (servers that verify clients). A
	// tls:// URL alone is TLS with the system's roots.
	TLS *tls.Config
	// Name names the connection in the server's monitoring
	// (DefaultNATSName; a node gives "rota <node id>").
	Name string
	// ReconnectWait is the wait between two tries to reconnect
	// (DefaultNATSReconnectWait when zero).
	ReconnectWait time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// connect opens a connection that is tried again forever, from the
// start: an unreachable server is no error here (what is sent meanwhile
// fails; see NATSSink). bufferWhileReconnecting keeps what is published
// while reconnecting, to send it after (nats.go's default); without it,
// such a publish fails at once.
func (o *NATSConnOptions) connect(what string, bufferWhileReconnecting bool) (*nats.Conn, *slog.Logger, error) {
	if o.ReconnectWait < 0 {
		return nil, nil, fmt.Errorf("events: %s: reconnect wait %s is negative", what, o.ReconnectWait)
	}
	if o.CredsFile != "" && o.NKeySeedFile != "" {
		return nil, nil, fmt.Errorf("events: %s: both a credentials file and an NKey seed file: give one", what)
	}
	url := o.URL
	if strings.TrimSpace(url) == "" {
		url = nats.DefaultURL
	}
	name := o.Name
	if name == "" {
		name = DefaultNATSName
	}
	wait := o.ReconnectWait
	if wait == 0 {
		wait = DefaultNATSReconnectWait
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg = lg.With("nats", what)
	var lastWarn atomic.Int64
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(natsPingInterval),
		nats.ConnectHandler(func(nc *nats.Conn) {
			lg.Info("rota: connected to NATS", "server", config.RedactURLs(nc.ConnectedUrl()))
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				lg.Warn("rota: disconnected from NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			lg.Info("rota: reconnected to NATS", "server", config.RedactURLs(nc.ConnectedUrl()))
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			// Warn at the first failure and then once a minute: a wrong
			// URL must not go unnoticed (an abort listener sends nothing
			// that would fail), nor flood the log.
			if now := time.Now().UnixNano(); now-lastWarn.Load() >= int64(natsWarnEvery) {
				lastWarn.Store(now)
				lg.Warn("rota: cannot reach NATS; trying again", "server", config.RedactURLs(url), "every", wait, "err", err)
				return
			}
			lg.Debug("rota: NATS reconnect failed; trying again", "err", err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				lg.Warn("rota: NATS error", "subject", sub.Subject, "err", err)
			} else {
				lg.Warn("rota: NATS error", "err", err)
			}
		}),
	}
	if !bufferWhileReconnecting {
		opts = append(opts, nats.ReconnectBufSize(-1))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.User != "" || o.Password != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.CredsFile != "" {
		// Read at each connect; read once here too, so that a missing or
		// malformed file is an error now rather than a retry forever.
		b, err := os.ReadFile(o.CredsFile)
		if err == nil {
			err = config.CheckNATSCreds(b)
			clear(b)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("events: %s: credentials file %s: %w", what, o.CredsFile, err)
		}
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.NKeySeedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeedFile)
		if err != nil {
			return nil, nil, fmt.Errorf("events: %s: NKey seed file: %w", what, err)
		}
		opts = append(opts, opt)
	}
	if o.TLS != nil {
		opts = append(opts, nats.Secure(o.TLS.Clone()))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("events: %s: connect to %s: %w", what, config.RedactURLs(url), err)
	}
	return nc, lg, nil
}

// NATSSinkOptions configures a NATSSink.
type NATSSinkOptions struct {
	NATSConnOptions
	// Prefix is the subjects' first tokens (DefaultNATSPrefix): a job
	// event goes to <Prefix>.<kind>.<state>, a gap to <Prefix>.gap (see
	// NATSSubject).
	Prefix string
	// JetStream publishes each message to a JetStream stream, which must
	// capture <Prefix>.> (or the subjects sent to), and waits for each
	// message's ack: Send returns nil only when the stream has stored every
	// message. Each message carries a Nats-Msg-Id, so the copies of a batch
	// sent again within the stream's duplicate window (2 minutes by
	// default) are dropped. Without a stream that captures a subject Send
	// fails (see CreateStream). Without JetStream the sink publishes on core
	// NATS: Send returns when the server has the messages, which reach only
	// the subscribers connected at that moment.
	JetStream bool
	// Stream, with JetStream, is the name of the stream the messages must
	// land in: a publish that another stream captures fails. Optional,
	// unless CreateStream is set.
	Stream string
	// CreateStream, with JetStream, creates Stream when it does not exist
	// (before the first send): subjects <Prefix>.>, file storage, the
	// default duplicate window, messages kept for 24 hours. An existing
	// stream is used as it is, never changed. Without it the sink creates
	// no stream.
	CreateStream bool
	// MsgIDPrefix starts each Nats-Msg-Id, before the record id
	// (DefaultNATSMsgIDPrefix): two stores that relay into one stream need
	// prefixes of their own.
	MsgIDPrefix string
	// Timeout bounds one Send (DefaultNATSTimeout when zero).
	Timeout time.Duration
}

// NATSSink is a Sink that publishes each message to a NATS subject (see
// NATSSubject), on core NATS or to a JetStream stream (see
// NATSSinkOptions.JetStream). Each message carries the headers
// Rota-Event-Id (the record id), Rota-Job-Id (job records), Nats-Msg-Id
// (MsgIDPrefix and the record id) and Content-Type: application/json; its
// data is the payload.
//
// The sink's connection keeps nothing while it reconnects: a Send then
// fails at once and the relay sends the batch again later. So a batch
// broken by a lost connection reaches the server as a prefix of it, and
// with JetStream its next try stores the rest in order (the prefix's
// copies are dropped as duplicates). A message the stream refuses (over
// its limits, say) is refused at each try: the relay logs the error and
// tries again until the stream is fixed.
type NATSSink struct {
	opts NATSSinkOptions
	nc   *nats.Conn
	js   jetstream.JetStream
	lg   *slog.Logger

	// streamReady: CreateStream has found or made the stream.
	streamReady atomic.Bool
}

// NewNATSSink checks opts and connects. An unreachable server is no error:
// the connection is tried again in the background, and Send fails until
// it is up.
func NewNATSSink(opts NATSSinkOptions) (*NATSSink, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultNATSPrefix
	}
	if err := config.CheckNATSSubject(opts.Prefix, false); err != nil {
		return nil, fmt.Errorf("events: nats prefix: %w", err)
	}
	switch {
	case opts.Timeout < 0:
		return nil, fmt.Errorf("events: nats sink: timeout %s is negative", opts.Timeout)
	case (opts.Stream != "" || opts.CreateStream) && !opts.JetStream:
		return nil, errors.New("events: nats sink: a stream needs JetStream")
	case opts.CreateStream && opts.Stream == "":
		return nil, errors.New("events: nats sink: CreateStream needs a stream name")
	case strings.ContainsAny(opts.Stream, " \t\r\n.*>/\\"):
		return nil, fmt.Errorf("events: nats sink: stream name %q: no spaces, '.', '*', '>', '/' or '\\'", opts.Stream)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultNATSTimeout
	}
	if opts.MsgIDPrefix == "" {
		opts.MsgIDPrefix = DefaultNATSMsgIDPrefix
	}
	nc, lg, err := opts.connect("sink", false)
	if err != nil {
		return nil, err
	}
	s := &NATSSink{opts: opts, nc: nc, lg: lg}
	if opts.JetStream {
		s.js, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(opts.Timeout))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("events: nats sink: %w", err)
		}
	}
	return s, nil
}

// Conn is the sink's connection (for its status; the sink owns it).
func (s *NATSSink) Conn() *nats.Conn { return s.nc }

// Close closes the connection; a Send after it fails.
func (s *NATSSink) Close() error {
	s.nc.Close()
	return nil
}

// Send publishes msgs in order. See Sink and NATSSinkOptions.JetStream.
func (s *NATSSink) Send(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if !s.nc.IsConnected() {
		// nats.go would say "outbound buffer limit exceeded".
		return fmt.Errorf("nats: not connected (%s)", strings.ToLower(s.nc.Status().String()))
	}
	if s.js != nil {
		return s.sendJetStream(ctx, msgs)
	}
	for _, m := range msgs {
		if err := s.nc.PublishMsg(s.message(m)); err != nil {
			return fmt.Errorf("nats: publish event %d: %w", m.Record.ID, err)
		}
	}
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("nats: flush %d messages: %w", len(msgs), err)
	}
	return nil
}

// sendJetStream publishes msgs without waiting, then waits for every ack.
func (s *NATSSink) sendJetStream(ctx context.Context, msgs []Message) error {
	if s.opts.CreateStream && !s.streamReady.Load() {
		if err := s.ensureStream(ctx); err != nil {
			return err
		}
	}
	deadline, _ := ctx.Deadline()
	popts := []jetstream.PublishOpt{
		// A publish that found no stream is not tried again later, after
		// the messages behind it.
		jetstream.WithRetryAttempts(0),
		// Over nats.go's bound of pending acks, wait for some.
		jetstream.WithStallWait(max(time.Until(deadline), time.Millisecond)),
	}
	if s.opts.Stream != "" {
		popts = append(popts, jetstream.WithExpectStream(s.opts.Stream))
	}
	acks := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := s.js.PublishMsgAsync(s.message(m), popts...)
		if err != nil {
			return fmt.Errorf("nats: jetstream: publish event %d: %w", m.Record.ID, err)
		}
		acks = append(acks, f)
	}
	for i, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			id := msgs[i].Record.ID
			if errors.Is(err, jetstream.ErrNoStreamResponse) {
				return fmt.Errorf("nats: jetstream: event %d: no stream captures %s (create one over %s.>): %w",
					id, f.Msg().Subject, s.opts.Prefix, err)
			}
			return fmt.Errorf("nats: jetstream: event %d not stored: %w", id, err)
		case <-ctx.Done():
			return fmt.Errorf("nats: jetstream: %d of %d messages acked: %w", i, len(msgs), ctx.Err())
		}
	}
	return nil
}

// ensureStream finds the sink's stream or creates it.
func (s *NATSSink) ensureStream(ctx context.Context) error {
	_, err := s.js.Stream(ctx, s.opts.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = s.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        s.opts.Stream,
			Description: "rota's job events",
			Subjects:    []string{s.opts.Prefix + ".>"},
			Storage:     jetstream.FileStorage,
			MaxAge:      natsStreamMaxAge,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another node made it meanwhile
		} else if err == nil {
			s.lg.Info("rota: created the JetStream stream of the events", "stream", s.opts.Stream, "subjects", s.opts.Prefix+".>")
		}
	}
	if err != nil {
		return fmt.Errorf("nats: jetstream: stream %s: %w", s.opts.Stream, err)
	}
	s.streamReady.Store(true)
	return nil
}

// message is m as a NATS message.
func (s *NATSSink) message(m Message) *nats.Msg {
	id := strconv.FormatInt(m.Record.ID, 10)
	h := nats.Header{}
	h.Set(NATSEventIDHeader, id)
	if m.Record.Type == TypeJob {
		h.Set(NATSJobIDHeader, strconv.FormatInt(m.Record.Event.JobID, 10))
	}
	h.Set(NATSMsgIDHeader, s.opts.MsgIDPrefix+id)
	h.Set("Content-Type", "application/json")
	return &nats.Msg{Subject: NATSSubject(s.opts.Prefix, m.Record), Header: h, Data: m.Payload}
}

// NATSSubject is the subject of a record under prefix:
// <prefix>.<kind>.<state> for a job record (the state it entered), and
// <prefix>.gap for a gap.
//
// A kind's dots stay token separators, so the subject of a "report.build"
// job that ended done is rota.events.report.build.done: subscribe to
// rota.events.report.build.* for the events of that kind,
// rota.events.report.> for those of every kind under "report.", and
// rota.events.> for all (a kind has one token or more, so *.done matches
// only the kinds without a dot; read the payload's "to" for a state across
// all kinds). Of a kind, an empty token (two dots in a row, or one at
// either end) becomes "_", and whitespace, control characters, '*' and '>'
// (which NATS forbids in a published subject) become '_' (rota's own kind
// names have none of these).
func NATSSubject(prefix string, r Record) string {
	if r.Type != TypeJob {
		return prefix + ".gap"
	}
	var b strings.Builder
	b.Grow(len(prefix) + len(r.Event.Kind) + len(r.Event.To) + 2)
	b.WriteString(prefix)
	for tok := range strings.SplitSeq(r.Event.Kind, ".") {
		b.WriteByte('.')
		writeToken(&b, tok)
	}
	b.WriteByte('.')
	writeToken(&b, string(r.Event.To))
	return b.String()
}

// writeToken writes tok as one subject token.
func writeToken(b *strings.Builder, tok string) {
	if tok == "" {
		b.WriteByte('_')
		return
	}
	for _, r := range tok {
		if r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			r = '_'
		}
		b.WriteRune(r)
	}
}

// NATSAbortOptions configures a NATSAbortListener.
type NATSAbortOptions struct {
	NATSConnOptions
	// Subject is the subject of the abort messages
	// (DefaultNATSAbortSubject); wildcards are allowed.
	Subject string
	// Queue is the queue group (DefaultNATSAbortQueue): of the listeners
	// of one group on one subject, across nodes, one gets each message.
	Queue string
	// Timeout bounds the handling of one message (DefaultNATSTimeout
	// when zero).
	Timeout time.Duration
}

// NATSAbortListener subscribes to a subject with a queue group and hands
// each message to an Aborter: {"id": 12}, {"kind": "scan", "key": "x"} or
// a key under the aborter's key field abort the running jobs they name;
// others are ignored. A message with a reply subject (a NATS request) is
// answered {"aborted": [ids]} (empty when it named no running job) or
// {"error": "..."} (unreadable, or the store failed).
//
// Run it on every node (the queue group gives each message to one) or as
// a rota.Options.LeaderTasks entry. Messages sent while no listener is
// subscribed are lost (core NATS).
type NATSAbortListener struct {
	a    *Aborter
	opts NATSAbortOptions
	nc   *nats.Conn
	lg   *slog.Logger
}

// NewNATSAbortListener checks opts and connects (an unreachable server is
// no error: the connection is tried again in the background).
func NewNATSAbortListener(a *Aborter, opts NATSAbortOptions) (*NATSAbortListener, error) {
	if a == nil {
		return nil, errors.New("events: nats abort listener: nil aborter")
	}
	if opts.Subject == "" {
		opts.Subject = DefaultNATSAbortSubject
	}
	if err := config.CheckNATSSubject(opts.Subject, true); err != nil {
		return nil, fmt.Errorf("events: nats abort subject: %w", err)
	}
	if opts.Queue == "" {
		opts.Queue = DefaultNATSAbortQueue
	}
	if strings.IndexFunc(opts.Queue, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return nil, fmt.Errorf("events: nats abort queue %q has whitespace", opts.Queue)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("events: nats abort listener: timeout %s is negative", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultNATSTimeout
	}
	nc, lg, err := opts.connect("abort listener", true)
	if err != nil {
		return nil, err
	}
	return &NATSAbortListener{a: a, opts: opts, nc: nc, lg: lg}, nil
}

// Conn is the listener's connection (for its status; the listener owns
// it).
func (l *NATSAbortListener) Conn() *nats.Conn { return l.nc }

// Close closes the connection: Run returns.
func (l *NATSAbortListener) Close() error {
	l.nc.Close()
	return nil
}

// Run subscribes and handles messages, one at a time, until ctx ends (it
// returns ctx's error) or Close (it returns nil). It may run again after
// it returned for ctx (a leader task does, at each lead).
func (l *NATSAbortListener) Run(ctx context.Context) error {
	sub, err := l.nc.QueueSubscribeSync(l.opts.Subject, l.opts.Queue)
	if err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return fmt.Errorf("events: nats abort listener: subscribe to %s: %w", l.opts.Subject, err)
	}
	defer func() {
		// Once Run returned, the server sends this node no more messages
		// (the rest of the group gets them).
		if sub.Unsubscribe() == nil && l.nc.IsConnected() {
			fctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
			_ = l.nc.FlushWithContext(fctx)
			cancel()
		}
	}()
	// The server has the subscription when this returns (unless the
	// connection is down: it is sent on reconnect).
	if l.nc.IsConnected() {
		fctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
		_ = l.nc.FlushWithContext(fctx)
		cancel()
	}
	l.lg.Info("rota: listening for abort messages", "subject", l.opts.Subject, "queue", l.opts.Queue)
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrBadSubscription):
			return nil
		case errors.Is(err, nats.ErrSlowConsumer):
			l.lg.Warn("rota: abort messages were dropped: the listener fell behind", "err", err)
			continue
		case err != nil:
			return fmt.Errorf("events: nats abort listener: %w", err)
		}
		l.handle(ctx, msg)
	}
}

func (l *NATSAbortListener) handle(ctx context.Context, msg *nats.Msg) {
	hctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	ids, err := l.a.Handle(hctx, msg.Data)
	cancel()
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrBadAbortMessage) { // the aborter logged that one
		l.lg.Warn("rota: abort message not handled", "subject", msg.Subject, "err", err)
	}
	if msg.Reply == "" {
		return
	}
	var b []byte
	if err != nil {
		// The jobs aborted before a store failure are named too.
		b, _ = json.Marshal(struct {
			Aborted []int64 `json:"aborted,omitempty"`
			Error   string  `json:"error"`
		}{ids, err.Error()})
	} else {
		if ids == nil {
			ids = []int64{}
		}
		b, _ = json.Marshal(struct {
			Aborted []int64 `json:"aborted"`
		}{ids})
	}
	if err := msg.Respond(b); err != nil {
		l.lg.Warn("rota: abort message: cannot answer", "reply", msg.Reply, "err", err)
	}
}
