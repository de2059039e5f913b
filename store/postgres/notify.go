package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// notes collects the notices of one operation, coalesced: each queue once,
// the earliest scheduled run_at, the cancelled job ids. They leave as one
// NOTIFY on the schema's channel.
type notes struct {
	queued       []string
	runAt        time.Time
	cancel       []int64
	queueChanged []string
	leaderFreed  []string
	freedKinds   []string
	schedules    bool
}

// payload is the JSON of a notification.
type payload struct {
	Queued       []string `json:"q,omitempty"`
	RunAt        int64    `json:"s,omitempty"` // microseconds since the Unix epoch
	Cancel       []int64  `json:"c,omitempty"`
	QueueChanged []string `json:"u,omitempty"`
	LeaderFreed  []string `json:"l,omitempty"`
	Freed        []string `json:"f,omitempty"`
	Schedules    bool     `json:"sc,omitempty"` // a stored schedule changed
	Changed      bool     `json:"x,omitempty"`  // too much to tell: re-check everything
}

// state notes that a job entered state in queue, to run at runAt.
func (n *notes) state(state store.State, queue string, runAt time.Time) {
	switch state {
	case store.StateQueued:
		if !slices.Contains(n.queued, queue) {
			n.queued = append(n.queued, queue)
		}
	case store.StateScheduled, store.StateRetrying:
		if n.runAt.IsZero() || runAt.Before(n.runAt) {
			n.runAt = runAt
		}
	}
}

// freed notes that a job of a kind with a cluster-wide maximum stopped running.
func (n *notes) freed(kind string) {
	if !slices.Contains(n.freedKinds, kind) {
		n.freedKinds = append(n.freedKinds, kind)
	}
}

func (n *notes) empty() bool {
	return len(n.queued) == 0 && n.runAt.IsZero() && len(n.cancel) == 0 && len(n.queueChanged) == 0 &&
		len(n.leaderFreed) == 0 && len(n.freedKinds) == 0 && !n.schedules
}

// encode returns the notification payload of n.
func (n *notes) encode() string {
	p := payload{Queued: n.queued, Cancel: n.cancel, QueueChanged: n.queueChanged, LeaderFreed: n.leaderFreed,
		Freed: n.freedKinds, Schedules: n.schedules}
	if !n.runAt.IsZero() {
		p.RunAt = n.runAt.UnixMicro()
	}
	b, err := json.Marshal(p)
	if err != nil || len(b) > maxPayload {
		return `{"x":true}`
	}
	return string(b)
}

// notify sends n on the schema's channel through tx (delivered when tx
// commits), or through the pool (at once) when tx is nil. Nothing is sent
// when n is empty. A failure is logged, not returned: the write it
// announces is committed (or will be) either way.
func (s *Store) notify(ctx context.Context, tx pgx.Tx, n *notes) error {
	if n.empty() {
		return nil
	}
	var err error
	if tx != nil {
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, n.encode())
		return err
	}
	if _, err = s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, n.encode()); err != nil {
		s.log.Warn("notify failed", "error", err)
	}
	return nil
}

// decodeNotices turns a notification payload into notices.
func decodeNotices(text string) []store.Notice {
	var p payload
	if err := json.Unmarshal([]byte(text), &p); err != nil || p.Changed {
		return []store.Notice{{Type: store.NoticeChanged}}
	}
	var out []store.Notice
	for _, q := range p.Queued {
		out = append(out, store.Notice{Type: store.NoticeQueued, Queue: q})
	}
	if p.RunAt != 0 {
		out = append(out, store.Notice{Type: store.NoticeScheduled, RunAt: time.UnixMicro(p.RunAt).UTC()})
	}
	if len(p.Cancel) > 0 {
		out = append(out, store.Notice{Type: store.NoticeCancel, JobIDs: p.Cancel})
	}
	for _, q := range p.QueueChanged {
		out = append(out, store.Notice{Type: store.NoticeQueueChanged, Queue: q})
	}
	for _, name := range p.LeaderFreed {
		out = append(out, store.Notice{Type: store.NoticeLeaderFreed, Name: name})
	}
	for _, k := range p.Freed {
		out = append(out, store.Notice{Type: store.NoticeFreed, Kind: k})
	}
	if p.Schedules {
		out = append(out, store.Notice{Type: store.NoticeScheduleChanged})
	}
	return out
}

// Subscribe returns a channel of notices that is closed when ctx is done or
// the store is closed. Notices come from LISTEN on the schema's channel, so
// they include the changes of every Store on the schema, in any process.
// Subscribe returns once the listener listens (or after
// Options.ListenTimeout; a NoticeChanged follows when it connects). A
// subscriber that does not keep up loses notices and receives a
// NoticeChanged in their place.
func (s *Store) Subscribe(ctx context.Context) <-chan store.Notice {
	ch := s.hub.Subscribe(ctx)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ch
	}
	if s.listener == nil {
		s.listener = s.startListener()
	}
	l := s.listener
	s.mu.Unlock()
	t := time.NewTimer(s.opts.ListenTimeout)
	defer t.Stop()
	select {
	case <-l.ready:
	case <-ctx.Done():
		l.late(s)
	case <-t.C:
		l.late(s)
	}
	return ch
}

// late records that a subscriber stopped waiting before the listener
// first listened: notifications sent until then are not received, so the
// listener sends a NoticeChanged when it listens. If it listened meanwhile
// (and may have checked before), the NoticeChanged is sent here.
func (l *listener) late(s *Store) {
	l.lateSubs.Store(true)
	select {
	case <-l.ready:
		s.hub.Publish([]store.Notice{{Type: store.NoticeChanged}})
	default:
	}
}

// listener holds the LISTEN connection, reconnecting when it drops.
type listener struct {
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed once the first LISTEN succeeded
	// lateSubs: a subscriber returned before the first LISTEN succeeded.
	lateSubs atomic.Bool
	pid      atomic.Uint32 // backend pid of the current connection (0: none)
	// connects counts the successful LISTENs.
	connects atomic.Int64
}

// startListener starts the listener goroutine.
func (s *Store) startListener() *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	go func() {
		defer close(l.done)
		var wg sync.WaitGroup
		wg.Go(func() { s.flushMissed(ctx) })
		s.listen(ctx, l)
		wg.Wait()
	}()
	return l
}

// stop ends the listener and waits for it.
func (l *listener) stop() {
	l.cancel()
	<-l.done
}

// listen runs the listener until ctx ends: connect, LISTEN, publish every
// notification; on a drop, reconnect with backoff and publish a
// NoticeChanged, since notifications may have been missed meanwhile.
func (s *Store) listen(ctx context.Context, l *listener) {
	delay := s.opts.ReconnectDelay
	missed := false
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, s.connConfig)
		if err == nil {
			if _, err = conn.Exec(ctx, `LISTEN "`+s.channel+`"`); err != nil {
				closeConn(conn)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("listener: connect failed", "error", err, "retry_in", delay)
			missed = true
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, MaxReconnectDelay)
			continue
		}
		delay = s.opts.ReconnectDelay
		l.pid.Store(conn.PgConn().PID())
		if l.connects.Add(1) == 1 {
			close(l.ready)
			missed = missed || l.lateSubs.Load()
		}
		if missed {
			s.hub.Publish([]store.Notice{{Type: store.NoticeChanged}})
			missed = false
		}
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("listener: connection lost", "error", err)
				}
				break
			}
			s.hub.Publish(decodeNotices(n.Payload))
		}
		l.pid.Store(0)
		closeConn(conn)
		missed = true
	}
}

// flushMissed sends the owed NoticeChanged to subscribers that lost
// notices and have room again, every flushInterval until ctx ends.
func (s *Store) flushMissed(ctx context.Context) {
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.hub.FlushMissed()
		}
	}
}

// closeConn closes conn, waiting at most a second for a clean goodbye.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
