package rota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotahq/rota/store"
)

// Defaults of EventLogOptions.
const (
	// DefaultEventLogMaxEvents is how many of the newest events the log
	// keeps at most.
	DefaultEventLogMaxEvents = 100_000
	// DefaultEventLogMaxAge is how long the log keeps an event at most.
	DefaultEventLogMaxAge = 24 * time.Hour
	// DefaultEventLogBuffer is the buffer of the writer's subscription:
	// the events that may wait for the store before the next are dropped
	// (and a gap is recorded in their place).
	DefaultEventLogBuffer = 8192
	// DefaultEventLogBatch bounds the events of one append.
	DefaultEventLogBatch = 1000
	// DefaultEventLogPruneInterval is how often the writer prunes the log.
	DefaultEventLogPruneInterval = time.Minute
	// eventLogRetryMax bounds the wait between retries of a failed append.
	eventLogRetryMax = 5 * time.Second
	// DefaultEventLogSpacing is the least time between the starts of two
	// appends under load: when many events wait, they gather for up to
	// this long into one append, so the writer takes fewer turns of the
	// store's writer; a few events are appended at once.
	DefaultEventLogSpacing = 5 * time.Millisecond
	// eventLogGatherFrom is the least batch that waits for Spacing.
	eventLogGatherFrom = 32
	// eventLogStoreTimeout bounds one append or prune.
	eventLogStoreTimeout = 30 * time.Second
)

// EventLogOptions configures an EventLog. Zero fields take the defaults.
type EventLogOptions struct {
	// MaxEvents and MaxAge bound the log: the writer prunes events beyond
	// the newest MaxEvents and older than MaxAge (never the newest).
	MaxEvents int
	MaxAge    time.Duration
	// Buffer is the writer's subscription buffer.
	Buffer int
	// MaxBatch bounds the events of one append.
	MaxBatch int
	// PruneInterval is how often the writer prunes.
	PruneInterval time.Duration
	// NoPrune: the writer never prunes, and MaxEvents, MaxAge and
	// PruneInterval are unused. For a short-lived client (a CLI command)
	// that logs its events to a log that long-running nodes prune to their
	// own bounds, which it must not apply in their place.
	NoPrune bool
	// Spacing is the least time between the starts of two appends under
	// load (see DefaultEventLogSpacing).
	Spacing time.Duration
	// Logger for append failures; default the client's.
	Logger *slog.Logger
}

// EventLog writes a client's events to its store's durable event log
// (store.EventLog), which the HTTP API's event stream reads: one goroutine
// takes the events from a subscription and appends them in batches, so
// the engine never waits for it. Events the subscription had to drop
// (the store fell behind by more than its buffer) are recorded as one
// store.EventTypeGap record in their place. The writer also prunes the
// log to its bounds. Create it before Client.Start to log every event of
// the node; it runs until the client stops (or Close), appending what it
// still holds.
type EventLog struct {
	st   store.EventLog
	node string
	opts EventLogOptions
	log  *slog.Logger
	sub  *Subscription
	stop chan struct{} // closed by Close: give up retrying
	once sync.Once
	done chan struct{}

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at each append

	appended, gaps atomic.Uint64
}

// NewEventLog subscribes to c's events and starts the writer.
func NewEventLog(c *Client, opts EventLogOptions) (*EventLog, error) {
	if c == nil {
		return nil, errors.New("rota: event log: nil client")
	}
	switch {
	case opts.MaxEvents < 0, opts.MaxAge < 0, opts.Buffer < 0, opts.MaxBatch < 0, opts.PruneInterval < 0, opts.Spacing < 0:
		return nil, errors.New("rota: event log: options must not be negative")
	}
	if opts.MaxEvents == 0 {
		opts.MaxEvents = DefaultEventLogMaxEvents
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultEventLogMaxAge
	}
	if opts.Buffer == 0 {
		opts.Buffer = DefaultEventLogBuffer
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = DefaultEventLogBatch
	}
	if opts.PruneInterval == 0 {
		opts.PruneInterval = DefaultEventLogPruneInterval
	}
	if opts.Spacing == 0 {
		opts.Spacing = DefaultEventLogSpacing
	}
	if opts.Logger == nil {
		opts.Logger = c.log
	}
	l := &EventLog{
		st: c.Store(), node: c.NodeID(), opts: opts, log: opts.Logger,
		stop: make(chan struct{}), done: make(chan struct{}), changed: make(chan struct{}),
	}
	l.sub = c.Subscribe(opts.Buffer, EventFilter{})
	go l.run()
	return l, nil
}

// Changed returns a channel that is closed at the writer's next append (a
// reader takes it before reading the log, then waits on it).
func (l *EventLog) Changed() <-chan struct{} {
	if l == nil {
		return nil // no writer: nothing to wait for (a nil channel never fires)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Appended is how many records (events and gaps) the writer appended.
func (l *EventLog) Appended() uint64 { return l.appended.Load() }

// Gaps is how many gap records the writer appended.
func (l *EventLog) Gaps() uint64 { return l.gaps.Load() }

// Done is closed when the writer has ended.
func (l *EventLog) Done() <-chan struct{} { return l.done }

// Close ends the subscription, appends the events still buffered (an
// append that fails is then tried at most three times, without waiting)
// and waits for the writer until ctx is done. Stopping the client ends the writer too; Close after it
// only waits.
func (l *EventLog) Close(ctx context.Context) error {
	l.once.Do(func() {
		l.sub.Close()
		close(l.stop)
	})
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rota: event log: close: %w", ctx.Err())
	}
}

// run is the writer: it appends batches until the subscription closes.
func (l *EventLog) run() {
	defer close(l.done)
	var pruneC <-chan time.Time // nil with NoPrune: never
	if !l.opts.NoPrune {
		l.prune()
		prune := time.NewTicker(l.opts.PruneInterval)
		defer prune.Stop()
		pruneC = prune.C
	}
	var dropped uint64 // drops already recorded as gaps
	var lastStart time.Time
	batch := make([]store.EventRecord, 0, l.opts.MaxBatch)
	for {
		open := true
		select {
		case e, ok := <-l.sub.C:
			if !ok {
				open = false
				break
			}
			batch = append(batch, l.record(e))
			// Whatever else is waiting, up to a batch: the batch grows
			// with the load, and a lone event goes at once.
		drain:
			for len(batch) < l.opts.MaxBatch {
				select {
				case e, ok := <-l.sub.C:
					if !ok {
						open = false
						break drain
					}
					batch = append(batch, l.record(e))
				default:
					break drain
				}
			}
		case <-pruneC:
			l.prune()
			continue
		}
		// Under load (many events waited, and the previous append started
		// less than Spacing ago), gather more until Spacing has passed. A
		// few events go at once, however often they come.
		if wait := time.Until(lastStart.Add(l.opts.Spacing)); wait > 0 && open && len(batch) >= eventLogGatherFrom {
			t := time.NewTimer(wait)
		gather:
			for len(batch) < l.opts.MaxBatch {
				select {
				case e, ok := <-l.sub.C:
					if !ok {
						open = false
						break gather
					}
					batch = append(batch, l.record(e))
				case <-t.C:
					break gather
				}
			}
			t.Stop()
		}
		lastStart = time.Now()
		// Events dropped so far were newer than those taken: the gap
		// goes after them.
		if d := l.sub.Dropped(); d > dropped {
			batch = append(batch, l.gap(d-dropped))
			dropped = d
		}
		l.append(batch, !open)
		batch = batch[:0]
		if !open {
			return
		}
	}
}

// record turns e into a log record.
func (l *EventLog) record(e Event) store.EventRecord {
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	data, err := json.Marshal(e)
	if err != nil { // an Event always marshals; keep the id and say so
		data = []byte(`{}`)
	}
	return store.EventRecord{Type: store.EventTypeJob, Node: l.node, At: at, Data: data}
}

// gap is the record of n dropped events.
func (l *EventLog) gap(n uint64) store.EventRecord {
	return store.EventRecord{Type: store.EventTypeGap, Node: l.node, At: time.Now(),
		Data: fmt.Appendf(nil, `{"dropped":%d}`, n)}
}

// append appends batch, retrying with backoff until it succeeds or Close
// gives up (at once when final: the client has stopped). Events that
// arrive meanwhile wait in the subscription's buffer; those it cannot
// hold become a gap.
func (l *EventLog) append(batch []store.EventRecord, final bool) {
	if len(batch) == 0 {
		return
	}
	wait := 10 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), eventLogStoreTimeout)
		_, err := l.st.AppendEvents(ctx, batch)
		cancel()
		if err == nil {
			l.appended.Add(uint64(len(batch)))
			for _, r := range batch {
				if r.Type == store.EventTypeGap {
					l.gaps.Add(1)
				}
			}
			l.mu.Lock()
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
			return
		}
		select {
		case <-l.stop:
			final = true
		default:
		}
		if final && try >= 3 {
			l.log.Error("rota: event log: append failed; events lost", "events", len(batch), "err", err)
			return
		}
		l.log.Warn("rota: event log: append failed; retrying", "events", len(batch), "try", try, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.stop:
			t.Stop()
		}
		wait = min(2*wait, eventLogRetryMax)
	}
}

// prune bounds the log.
func (l *EventLog) prune() {
	ctx, cancel := context.WithTimeout(context.Background(), eventLogStoreTimeout)
	defer cancel()
	n, err := l.st.PruneEvents(ctx, store.EventPruneParams{Before: time.Now().Add(-l.opts.MaxAge), Keep: l.opts.MaxEvents})
	if err != nil {
		l.log.Warn("rota: event log: prune failed", "err", err)
		return
	}
	if n > 0 {
		l.log.Debug("rota: event log: pruned", "events", n)
	}
}

// Matcher returns a function that reports whether an event matches f,
// as a subscription with f would select it.
func (f EventFilter) Matcher() func(Event) bool {
	if m := f.match(); m != nil {
		return m
	}
	return func(Event) bool { return true }
}
