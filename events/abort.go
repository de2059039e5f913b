package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/rotahq/rota"
)

// DefaultAbortReason is the reason of an abort by a message without one.
const DefaultAbortReason = "abort requested by a broadcast message"

// ErrBadAbortMessage is the error of an abort message that cannot be read
// (not a JSON object naming a job): no try will mend it.
var ErrBadAbortMessage = errors.New("bad abort message")

// badAbort is ParseAbort's error as Handle returns it: its own message,
// matching ErrBadAbortMessage.
type badAbort struct{ err error }

func (e badAbort) Error() string        { return e.err.Error() }
func (e badAbort) Unwrap() error        { return e.err }
func (e badAbort) Is(target error) bool { return target == ErrBadAbortMessage }

// MaxAbortMessage bounds the size of an abort message.
const MaxAbortMessage = 64 << 10

// AbortRequest is what an abort message names.
type AbortRequest struct {
	// ID names a job by id (0: by key).
	ID int64
	// Kind and Key name the jobs of a key; Kind "" means any kind.
	Kind, Key string
	// Reason is recorded as the abort's reason (DefaultAbortReason when
	// the message gives none).
	Reason string
}

// ParseAbort reads an abort message: a JSON object naming a job by "id"
// (a number, or a string of digits), or by a key with an optional "kind".
// keyField is the field that holds the key ("key" when empty; OMA's
// broadcast topic uses "analysis_id"). An optional "reason" string is the
// abort's reason. It returns an error for a message that is not such an
// object (the caller logs and ignores it).
func ParseAbort(payload []byte, keyField string) (AbortRequest, error) {
	if keyField == "" {
		keyField = "key"
	}
	var req AbortRequest
	if len(payload) > MaxAbortMessage {
		return req, fmt.Errorf("abort message of %d bytes is over %d", len(payload), MaxAbortMessage)
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return req, errors.New("abort message is not a JSON object")
	}
	str := func(field string) (string, error) {
		raw, ok := m[field]
		if !ok || string(raw) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("abort message: %q is not a string", field)
		}
		return s, nil
	}
	if raw, ok := m["id"]; ok && string(raw) != "null" {
		var n json.Number
		var s string
		switch {
		case json.Unmarshal(raw, &n) == nil:
			s = n.String()
		case json.Unmarshal(raw, &s) == nil:
		default:
			return req, errors.New(`abort message: "id" is not a number`)
		}
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return req, fmt.Errorf("abort message: id %q is not a job id", s)
		}
		req.ID = id
	}
	var err error
	if req.Key, err = str(keyField); err != nil {
		return req, err
	}
	if req.Kind, err = str("kind"); err != nil {
		return req, err
	}
	if req.Reason, err = str("reason"); err != nil {
		return req, err
	}
	switch {
	case req.ID == 0 && req.Key == "":
		return req, fmt.Errorf("abort message names no job: want %q or %q", "id", keyField)
	case req.ID != 0 && req.Key != "":
		return req, fmt.Errorf("abort message names a job twice: give %q or %q, not both", "id", keyField)
	}
	if req.Reason == "" {
		req.Reason = DefaultAbortReason
	}
	return req, nil
}

// Aborter aborts the running jobs that abort messages name.
type Aborter struct {
	c        *rota.Client
	keyField string
	lg       *slog.Logger

	aborted, ignored, invalid atomic.Uint64
}

// NewAborter makes an aborter acting through c; keyField is as for
// ParseAbort. logger may be nil (slog.Default()).
func NewAborter(c *rota.Client, keyField string, logger *slog.Logger) (*Aborter, error) {
	if c == nil {
		return nil, errors.New("events: aborter: nil client")
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Aborter{c: c, keyField: keyField, lg: logger}, nil
}

// Aborted, Ignored and Invalid count the jobs aborted, the messages that
// named no running job, and the messages that could not be read.
func (a *Aborter) Aborted() uint64 { return a.aborted.Load() }

// Ignored is how many messages named no running job.
func (a *Aborter) Ignored() uint64 { return a.ignored.Load() }

// Invalid is how many messages could not be read.
func (a *Aborter) Invalid() uint64 { return a.invalid.Load() }

// Handle aborts the running jobs payload names (its context is cancelled
// on whichever node runs it, an exec worker's process gets SIGTERM, and
// it ends aborted) and returns their ids. A message naming no running job
// is ignored (no ids, no error); an unreadable one is logged at debug,
// counted in Invalid and reported as an error matching ErrBadAbortMessage. A store error is returned: the
// caller may let the message be delivered again.
func (a *Aborter) Handle(ctx context.Context, payload []byte) ([]int64, error) {
	req, err := ParseAbort(payload, a.keyField)
	if err != nil {
		// Debug: a broadcast topic may carry other messages too; they are
		// counted (Invalid, rota_abort_messages_total{outcome="invalid"}).
		a.invalid.Add(1)
		a.lg.Debug("rota: abort message ignored", "err", err)
		return nil, badAbort{err}
	}
	var ids []int64
	if req.ID != 0 {
		j, err := a.c.Get(ctx, req.ID)
		switch {
		case errors.Is(err, rota.ErrNotFound):
		case err != nil:
			return nil, err
		case j.State == rota.StateRunning:
			ids = append(ids, j.ID)
		}
	} else {
		p := rota.ListParams{States: []rota.State{rota.StateRunning}, Key: req.Key, Limit: 1000}
		if req.Kind != "" {
			p.Kinds = []string{req.Kind}
		}
		page, err := a.c.List(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, j := range page.Jobs {
			ids = append(ids, j.ID)
		}
	}
	var done []int64
	for _, id := range ids {
		_, err := a.c.Abort(ctx, id, req.Reason)
		switch {
		case errors.Is(err, rota.ErrConflict), errors.Is(err, rota.ErrNotFound):
			// Ended meanwhile.
		case err != nil:
			return done, err
		default:
			done = append(done, id)
		}
	}
	if len(done) == 0 {
		a.ignored.Add(1)
		a.lg.Debug("rota: abort message names no running job; ignored", "id", req.ID, "kind", req.Kind, "key", req.Key)
		return nil, nil
	}
	a.aborted.Add(uint64(len(done)))
	a.lg.Info("rota: jobs aborted by a broadcast message", "jobs", done, "reason", req.Reason)
	return done, nil
}
