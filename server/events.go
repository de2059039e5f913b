package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// Event stream defaults.
const (
	// DefaultMaxEventStreams is how many GET /v1/events streams may be open
	// at once; more are refused with 429 too_many_streams.
	DefaultMaxEventStreams = 100
	// DefaultEventHeartbeat is how often an idle stream sends a comment,
	// so that proxies keep the connection.
	DefaultEventHeartbeat = 15 * time.Second
	// EventRetry is the reconnection delay a stream advises (SSE retry:).
	EventRetry = 2 * time.Second
	// eventReadBatch bounds the log records one read of a stream takes.
	eventReadBatch = 500
)

// SSE event types of GET /v1/events.
const (
	// SSEJob is a job state change; its data is the event as JSON.
	SSEJob = "job"
	// SSEGap says that events may be missing from the stream: reload the
	// state you show. Its data's reason is GapPruned, GapDropped or
	// GapUnknown.
	SSEGap = "gap"
)

// Reasons of an SSEGap.
const (
	// GapPruned: the events after the client's Last-Event-ID were pruned
	// from the backlog (it was away too long).
	GapPruned = "pruned"
	// GapDropped: a node lost events under overload before they reached
	// the log.
	GapDropped = "dropped"
	// GapUnknown: the client's Last-Event-ID is newer than any event of
	// the log (another server, or a store that was replaced).
	GapUnknown = "unknown_id"
)

// CodeTooManyStreams is the 429 of a GET /v1/events when every stream slot
// is taken.
const CodeTooManyStreams = "too_many_streams"

// eventsQuery lists the query parameters of GET /v1/events.
func eventsQuery() []string {
	return []string{"kind", "queue", "key", "metadata", "last_event_id"}
}

// eventData is the data of an SSEJob: the event with its durable id and
// the node that logged it.
type eventData struct {
	ID   int64  `json:"id"`
	Node string `json:"node"`
	rota.Event
}

// gapData is the data of an SSEGap.
type gapData struct {
	ID     int64  `json:"id"`
	Reason string `json:"reason"`
	// After is the last id the stream had reached before the gap.
	After int64 `json:"after"`
	// Dropped is how many events a node lost (GapDropped).
	Dropped int64  `json:"dropped,omitempty"`
	Node    string `json:"node,omitempty"`
}

// eventsRequest is a parsed GET /v1/events.
type eventsRequest struct {
	filter rota.EventFilter
	// after is the Last-Event-ID (header, else last_event_id); -1 when
	// neither is given: the stream starts at the log's end.
	after int64
}

func parseEventsRequest(r *http.Request) (eventsRequest, error) {
	req := eventsRequest{after: -1}
	q, err := newQuery(r, eventsQuery()...)
	if err != nil {
		return req, err
	}
	req.filter.Kinds = q.all("kind")
	req.filter.Queues = q.all("queue")
	if req.filter.Key, err = q.one("key"); err != nil {
		return req, err
	}
	for _, kv := range q.v["metadata"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return req, invalid("metadata", "%q is not key=value", kv)
		}
		if req.filter.Metadata == nil {
			req.filter.Metadata = map[string]string{}
		}
		req.filter.Metadata[k] = v
	}
	field, raw := "Last-Event-ID", strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if raw == "" {
		field = "last_event_id"
		if raw, err = q.one(field); err != nil {
			return req, err
		}
	}
	if raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id < 0 {
			return req, invalid(field, "%q is not an event id (a whole number from 0)", raw)
		}
		req.after = id
	}
	return req, nil
}

// events is GET /v1/events: the durable event log as server-sent events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	req, err := parseEventsRequest(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	log := s.client.Store()
	last, err := log.LastEventID(ctx)
	if err != nil {
		return err
	}
	if !s.streams.acquire() {
		return &apiError{Status: http.StatusTooManyRequests, Code: CodeTooManyStreams,
			Message: fmt.Sprintf("all %d event stream slots are taken; retry later", s.opts.MaxEventStreams)}
	}
	defer s.streams.release()

	sw := &sseWriter{w: w, rc: http.NewResponseController(w), extend: s.opts.EventHeartbeat + s.opts.WriteTimeout}
	// The stream outlives the server's timeouts: its write deadline moves
	// at each flush. The read deadline is cleared too, though Go's HTTP/1
	// server already clears it once a bodiless request is read.
	_ = sw.rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	sw.printf("retry: %d\n\n", EventRetry.Milliseconds())

	cursor := req.after
	switch {
	case cursor < 0:
		// From now: say where now is, so that a client that reconnects
		// before its first event resumes here, not at the log's end then
		// (which would lose what happened in between).
		cursor = last
		sw.printf("id: %d\n\n", last)
	case cursor > last:
		sw.event(last, SSEGap, gapData{ID: last, Reason: GapUnknown, After: cursor})
		cursor = last
	}
	if err := sw.flush(); err != nil {
		return nil // the client went away
	}
	match := req.filter.Matcher()
	sent := cursor // the id the client holds
	heartbeat := time.NewTicker(s.opts.EventHeartbeat)
	defer heartbeat.Stop()
	poll := time.NewTicker(s.opts.LongPollInterval)
	defer poll.Stop()
	for {
		changed := s.eventLog.Changed()
		recs, err := log.ReadEvents(ctx, cursor, eventReadBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("rota http: events: read failed; ending the stream", "err", err)
			}
			return nil
		}
		for _, rec := range recs {
			if rec.ID != cursor+1 {
				sw.event(rec.ID-1, SSEGap, gapData{ID: rec.ID - 1, Reason: GapPruned, After: cursor})
				sent = rec.ID - 1
			}
			cursor = rec.ID
			switch rec.Type {
			case store.EventTypeGap:
				var g struct {
					Dropped int64 `json:"dropped"`
				}
				_ = json.Unmarshal(rec.Data, &g) // a malformed count is still a gap
				sw.event(rec.ID, SSEGap, gapData{ID: rec.ID, Reason: GapDropped, After: sent, Dropped: g.Dropped, Node: rec.Node})
				sent = rec.ID
			case store.EventTypeJob:
				d := eventData{ID: rec.ID, Node: rec.Node}
				if err := json.Unmarshal(rec.Data, &d.Event); err != nil {
					s.log.Warn("rota http: events: undecodable record skipped", "id", rec.ID, "err", err)
					continue
				}
				if !match(d.Event) {
					continue
				}
				sw.event(rec.ID, SSEJob, d)
				sent = rec.ID
			}
		}
		if len(recs) > 0 {
			if sent < cursor {
				// Only filtered events: move the client's id on, so a
				// reconnect does not read them again (nor find them pruned).
				sw.printf("id: %d\n\n", cursor)
				sent = cursor
			}
			if err := sw.flush(); err != nil {
				return nil
			}
		}
		if len(recs) == eventReadBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.base.Done():
			return nil // shutting down: the stream ends; the client reconnects elsewhere or later
		case <-changed: // this node appended
		case <-poll.C: // other nodes' events
		case <-heartbeat.C:
			sw.printf(": heartbeat\n\n")
			if err := sw.flush(); err != nil {
				return nil
			}
		}
	}
}

// sseWriter writes server-sent events, extending the write deadline at
// each flush. The first write error sticks.
type sseWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	extend time.Duration
	buf    bytes.Buffer
	err    error
}

func (sw *sseWriter) printf(format string, args ...any) {
	fmt.Fprintf(&sw.buf, format, args...)
}

// event writes one event; data is JSON on one line.
func (sw *sseWriter) event(id int64, typ string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		b = []byte(`{}`)
	}
	fmt.Fprintf(&sw.buf, "id: %d\nevent: %s\ndata: %s\n\n", id, typ, b)
}

// flush sends what was written.
func (sw *sseWriter) flush() error {
	if sw.err != nil {
		return sw.err
	}
	if sw.buf.Len() == 0 {
		return nil
	}
	_ = sw.rc.SetWriteDeadline(time.Now().Add(sw.extend))
	if _, err := sw.w.Write(sw.buf.Bytes()); err != nil {
		sw.err = err
		return err
	}
	sw.buf.Reset()
	if err := sw.rc.Flush(); err != nil {
		sw.err = err
	}
	return sw.err
}
