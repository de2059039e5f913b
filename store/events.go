package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event log record types (EventRecord.Type).
const (
	// EventTypeJob is one job state change; Data is the event as JSON.
	EventTypeJob = "job"
	// EventTypeGap marks events a writer lost before they reached the log
	// (its in-process subscription overflowed); Data is {"dropped": n}.
	// Readers must assume that any job may have changed.
	EventTypeGap = "gap"
)

// EventRecord is one entry of the durable event log (EventLog).
type EventRecord struct {
	// ID is given by AppendEvents. The ids of a store are consecutive (no
	// holes) and are committed in order: once a reader has read id N, no
	// record with an id <= N appears later.
	ID int64
	// Type is EventTypeJob or EventTypeGap.
	Type string
	// Node is the node whose writer appended the record.
	Node string
	// At is when the change happened (the writer's clock).
	At time.Time
	// Data is the record's content, a JSON object.
	Data json.RawMessage
}

// Check validates a record to append (its ID is ignored).
func (r EventRecord) Check() error {
	switch {
	case r.Type != EventTypeJob && r.Type != EventTypeGap:
		return fmt.Errorf("event record type %q: want %q or %q", r.Type, EventTypeJob, EventTypeGap)
	case len(r.Data) == 0 || !json.Valid(r.Data):
		return errors.New("event record data is not valid JSON")
	}
	return nil
}

// EventPruneParams bounds the event log: PruneEvents deletes the records
// older than Before and those beyond the newest Keep, but never the newest
// record (so that its id, the log's end, survives).
type EventPruneParams struct {
	// Before: records whose At is before it go (zero: no age bound). Ids,
	// not times, order the log: the age bound deletes every record up to
	// the last one older than Before, in id order.
	Before time.Time
	// Keep: at most this many of the newest records stay (0: no count
	// bound).
	Keep int
}

// EventLog is the durable, bounded log of job events behind the HTTP API's
// event stream. Every node of a store appends to the same log, so one
// reader sees the events of the whole cluster in one order.
type EventLog interface {
	// AppendEvents appends records, all or none, giving them the next
	// consecutive ids in input order, and returns the last id. Appends are
	// serialized: ids become visible to readers in order, without holes.
	AppendEvents(ctx context.Context, recs []EventRecord) (last int64, err error)
	// ReadEvents returns up to limit records with id > afterID, by id. A
	// first record whose id is not afterID+1 means that the records in
	// between were pruned.
	ReadEvents(ctx context.Context, afterID int64, limit int) ([]EventRecord, error)
	// LastEventID returns the id of the newest record ever appended (0 when
	// none was); it survives pruning.
	LastEventID(ctx context.Context) (int64, error)
	// PruneEvents deletes records as p says and returns how many.
	PruneEvents(ctx context.Context, p EventPruneParams) (int64, error)
	// EventCursor returns the position saved for the log reader name (an
	// event relay): the id of the last record it handled. ok is false when
	// none was saved.
	EventCursor(ctx context.Context, name string) (id int64, ok bool, err error)
	// SaveEventCursor saves id as the position of the reader name. A
	// cursor never moves back: an id below the saved one is ignored (two
	// nodes that both briefly relay cannot rewind each other).
	SaveEventCursor(ctx context.Context, name string, id int64) error
}

// MaxEventCursorName bounds the length of an event cursor's name.
const MaxEventCursorName = 200

// CheckEventCursor validates a cursor's name and id.
func CheckEventCursor(name string, id int64) error {
	switch {
	case name == "" || len(name) > MaxEventCursorName:
		return fmt.Errorf("event cursor name: want 1 to %d bytes, got %d", MaxEventCursorName, len(name))
	case id < 0:
		return fmt.Errorf("event cursor %q: id %d is negative", name, id)
	}
	return nil
}

// MaxEventRead bounds the limit of one ReadEvents.
const MaxEventRead = 10000
