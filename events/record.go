package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// Record types.
const (
	// TypeJob is a job state change.
	TypeJob = store.EventTypeJob
	// TypeGap says that events may be missing before this record: a node
	// lost some before they reached the log (GapDropped), or they were
	// pruned from the log before the relay read them (GapPruned).
	TypeGap = store.EventTypeGap
)

// Reasons of a gap, as the HTTP event stream names them.
const (
	GapDropped = "dropped"
	GapPruned  = "pruned"
)

// Record is one entry of the event log as a relay delivers it.
type Record struct {
	// ID is the record's position in the log: consecutive, increasing.
	ID int64
	// Type is TypeJob or TypeGap.
	Type string
	// Node is the node that wrote the record ("" for a pruned gap).
	Node string
	// Event is the job change (TypeJob).
	Event rota.Event
	// Gap describes a TypeGap record.
	Gap Gap
}

// Gap describes missing events.
type Gap struct {
	// Reason is GapDropped or GapPruned.
	Reason string
	// After is the id of the last record read before the gap.
	After int64
	// Dropped is how many events a node lost (GapDropped).
	Dropped int64
}

// decodeRecord reads a stored record; after is the id read before it.
func decodeRecord(r store.EventRecord, after int64) (Record, error) {
	out := Record{ID: r.ID, Type: r.Type, Node: r.Node}
	switch r.Type {
	case store.EventTypeJob:
		if err := json.Unmarshal(r.Data, &out.Event); err != nil {
			return out, fmt.Errorf("event %d: %w", r.ID, err)
		}
	case store.EventTypeGap:
		var g struct {
			Dropped int64 `json:"dropped"`
		}
		_ = json.Unmarshal(r.Data, &g) // a malformed count is still a gap
		out.Gap = Gap{Reason: GapDropped, After: after, Dropped: g.Dropped}
	default:
		return out, fmt.Errorf("event %d: unknown record type %q", r.ID, r.Type)
	}
	return out, nil
}

// Format renders a record as a message's payload; ok is false for a
// record the format has no message for (it is skipped, and the relay
// moves past it).
type Format func(r Record) (payload []byte, ok bool, err error)

// Format names (ParseFormat).
const (
	FormatNameJSON = "json"
	FormatNameOMA  = "oma"
)

// ParseFormat returns the format of a name: "json" (the default, also for
// "") or "oma".
func ParseFormat(name string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", FormatNameJSON:
		return FormatJSON, nil
	case FormatNameOMA:
		return FormatOMA, nil
	}
	return nil, fmt.Errorf("events: format %q: want %q or %q", name, FormatNameJSON, FormatNameOMA)
}

// jobJSON is FormatJSON's job message: the HTTP event stream's data with
// the record's type.
type jobJSON struct {
	Type string `json:"type"`
	ID   int64  `json:"id"`
	Node string `json:"node"`
	rota.Event
}

// gapJSON is FormatJSON's gap message.
type gapJSON struct {
	Type    string `json:"type"`
	ID      int64  `json:"id"`
	Reason  string `json:"reason"`
	After   int64  `json:"after"`
	Dropped int64  `json:"dropped,omitempty"`
	Node    string `json:"node,omitempty"`
}

// FormatJSON renders every record as the JSON of the HTTP event stream
// (GET /v1/events) with a "type" of "job" or "gap": a job record is the
// event's fields (job_id, kind, queue, key, metadata, from, to, attempt,
// error, at, outcome, run_time_ns, seq) with the log's "id" and the
// writing "node"; a gap has "reason", "after" and, for a node's lost
// events, "dropped".
func FormatJSON(r Record) ([]byte, bool, error) {
	var v any
	switch r.Type {
	case TypeJob:
		v = jobJSON{Type: TypeJob, ID: r.ID, Node: r.Node, Event: r.Event}
	case TypeGap:
		v = gapJSON{Type: TypeGap, ID: r.ID, Reason: r.Gap.Reason, After: r.Gap.After, Dropped: r.Gap.Dropped, Node: r.Node}
	default:
		return nil, false, fmt.Errorf("events: record %d: unknown type %q", r.ID, r.Type)
	}
	b, err := json.Marshal(v)
	return b, err == nil, err
}

// FormatOMA renders job records as OMA's status messages,
// {"tenant_id", "user_id", "document_id", "run_type", "status"}:
// tenant_id and user_id come from the job's metadata of those names (a
// JSON number when the value is a decimal integer, else a string; absent
// when the job has none), document_id from its "document_id" metadata,
// else its key, else its id as a string; run_type from its "run_type"
// metadata, else its kind; status is the new state in capitals (READY,
// SCHEDULED, QUEUED, RUNNING, RETRYING, DONE, ERROR, ABORTED). Gap records
// have no OMA message and are skipped.
func FormatOMA(r Record) ([]byte, bool, error) {
	if r.Type != TypeJob {
		return nil, false, nil
	}
	e := r.Event
	m := make(map[string]any, 5)
	for _, f := range []string{"tenant_id", "user_id"} {
		if v, ok := e.Metadata[f]; ok {
			m[f] = omaValue(v)
		}
	}
	switch {
	case e.Metadata["document_id"] != "":
		m["document_id"] = e.Metadata["document_id"]
	case e.Key != "":
		m["document_id"] = e.Key
	default:
		m["document_id"] = strconv.FormatInt(e.JobID, 10)
	}
	m["run_type"] = e.Kind
	if rt := e.Metadata["run_type"]; rt != "" {
		m["run_type"] = rt
	}
	m["status"] = strings.ToUpper(string(e.To))
	b, err := json.Marshal(m)
	return b, err == nil, err
}

// omaValue is a metadata value as OMA sends ids: a number when it is a
// decimal integer.
func omaValue(v string) any {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && strconv.FormatInt(n, 10) == v {
		return n
	}
	return v
}
