package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apicursor"
	"github.com/rotahq/rota/schedule"
	"github.com/rotahq/rota/store"
)

// Bounds of GET /v1/schedule-preview.
const (
	// DefaultPreviewFires is how many fire times a preview lists by default.
	DefaultPreviewFires = 10
	// MaxPreviewFires bounds n (as rota schedules next -n does).
	MaxPreviewFires = 1000
	// scheduleSearchPage is how many schedules a search reads from the
	// store at a time while it filters them.
	scheduleSearchPage = 500
)

// scheduleListQuery is what GET /v1/schedules reads.
func scheduleListQuery() []string {
	return []string{"kind", "enabled", "pending", "search", "limit", "cursor"}
}

// schedulePreviewQuery is what GET /v1/schedule-preview reads.
func schedulePreviewQuery() []string { return []string{"spec", "tz", "after", "n"} }

// scheduleJSON is a stored schedule as the API shows it.
type scheduleJSON struct {
	Key            string             `json:"key"`
	Kind           string             `json:"kind"`
	Queue          string             `json:"queue"`
	Args           json.RawMessage    `json:"args"`
	Priority       int                `json:"priority"`
	Metadata       map[string]string  `json:"metadata,omitempty"`
	Spec           string             `json:"spec"`
	Zone           string             `json:"zone,omitempty"`
	Jitter         string             `json:"jitter"`
	Enabled        bool               `json:"enabled"`
	DisabledReason string             `json:"disabled_reason,omitempty"`
	Misfire        rota.MisfirePolicy `json:"misfire"`
	MisfireGrace   string             `json:"misfire_grace"`
	MisfireCap     int                `json:"misfire_cap"`
	Overlap        rota.OverlapPolicy `json:"overlap"`
	Condition      string             `json:"condition,omitempty"`
	NextFire       time.Time          `json:"next_fire,omitzero"`
	LastFire       time.Time          `json:"last_fire,omitzero"`
	LastOutcome    string             `json:"last_outcome,omitempty"`
	LastJobID      int64              `json:"last_job_id,omitempty"`
	PendingJobID   int64              `json:"pending_job_id,omitempty"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
}

func toSchedule(s *rota.Schedule) scheduleJSON {
	out := scheduleJSON{
		Key: s.Key, Kind: s.Kind, Queue: s.Queue, Args: s.Args, Priority: s.Priority, Metadata: s.Metadata,
		Spec: s.Spec, Zone: s.Zone, Jitter: s.Jitter.String(), Enabled: s.Enabled, DisabledReason: s.DisabledReason,
		Misfire: s.Misfire, MisfireGrace: s.MisfireGrace.String(), MisfireCap: s.MisfireCap, Overlap: s.Overlap,
		Condition: s.Condition, NextFire: s.NextFire, LastFire: s.LastFire, LastOutcome: s.LastOutcome,
		LastJobID: s.LastJobID, PendingJobID: s.PendingJobID, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if len(out.Args) == 0 {
		out.Args = json.RawMessage(`{}`)
	}
	return out
}

// scheduleRequest is the body of POST /v1/schedules (a new schedule) and
// PATCH /v1/schedules/{key} (the fields to change; absent fields, and a
// null metadata, stay as they are).
type scheduleRequest struct {
	Key          *string           `json:"key"`
	Kind         *string           `json:"kind"`
	Args         json.RawMessage   `json:"args"`
	Queue        *string           `json:"queue"`
	Priority     *int              `json:"priority"`
	Metadata     map[string]string `json:"metadata"`
	Spec         *string           `json:"spec"`
	Zone         *string           `json:"zone"`
	Jitter       json.RawMessage   `json:"jitter"`
	Enabled      *bool             `json:"enabled"`
	Misfire      *string           `json:"misfire"`
	MisfireGrace json.RawMessage   `json:"misfire_grace"`
	MisfireCap   *int              `json:"misfire_cap"`
	Overlap      *string           `json:"overlap"`
	Condition    *string           `json:"condition"`
}

// apply sets the fields given in r on p and reports whether r gave any
// besides the key.
func (r *scheduleRequest) apply(p *rota.ScheduleParams) (bool, error) {
	given := false
	set := func(dst *string, src *string) {
		if src != nil {
			*dst, given = *src, true
		}
	}
	set(&p.Kind, r.Kind)
	set(&p.Queue, r.Queue)
	set(&p.Spec, r.Spec)
	set(&p.Zone, r.Zone)
	set(&p.Condition, r.Condition)
	if len(r.Args) > 0 {
		p.Args, given = r.Args, true
		if string(r.Args) == "null" {
			p.Args = nil
		}
	}
	if r.Priority != nil {
		p.Priority, given = r.Priority, true
	}
	if r.Metadata != nil {
		p.Metadata, given = r.Metadata, true
	}
	if r.Enabled != nil {
		p.Disabled, given = !*r.Enabled, true
	}
	if r.Misfire != nil {
		p.Misfire, given = rota.MisfirePolicy(*r.Misfire), true
	}
	if r.Overlap != nil {
		p.Overlap, given = rota.OverlapPolicy(*r.Overlap), true
	}
	if r.MisfireCap != nil {
		p.MisfireCap, given = *r.MisfireCap, true
	}
	for _, d := range []struct {
		field string
		raw   json.RawMessage
		out   *time.Duration
	}{{"jitter", r.Jitter, &p.Jitter}, {"misfire_grace", r.MisfireGrace, &p.MisfireGrace}} {
		if len(d.raw) == 0 {
			continue
		}
		v, err := parseDuration(d.field, d.raw)
		if err != nil {
			return given, err
		}
		*d.out, given = v, true
	}
	return given, nil
}

// scheduleKey reads the {key} path value (percent-decoded: a key with a
// '/' is sent as %2F).
func scheduleKey(r *http.Request) (string, error) {
	key := r.PathValue("key")
	if key == "" {
		return "", invalid("key", "required")
	}
	return key, nil
}

// scheduleError words a failed action on schedule key.
func scheduleError(key string, err error) error {
	switch {
	case errors.Is(err, rota.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Field: "key",
			Message: fmt.Sprintf("schedule %q not found", key), err: err}
	case errors.Is(err, rota.ErrDuplicate):
		return &apiError{Status: http.StatusConflict, Code: CodeDuplicate, Field: "key",
			Message: fmt.Sprintf("schedule %q exists", key), err: err}
	}
	return err
}

// createSchedule is POST /v1/schedules: a new schedule; 409 if its key exists.
func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request) error {
	var req scheduleRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	var p rota.ScheduleParams
	if req.Key != nil {
		p.Key = *req.Key
	}
	if _, err := req.apply(&p); err != nil {
		return err
	}
	sc, err := s.client.CreateSchedule(r.Context(), p)
	if err != nil {
		return scheduleError(p.Key, err)
	}
	writeJSON(w, http.StatusCreated, toSchedule(sc))
	return nil
}

// updateSchedule is PATCH /v1/schedules/{key}: the fields given change, the
// others stay (a new spec or zone moves the next fire).
func (s *Server) updateSchedule(w http.ResponseWriter, r *http.Request) error {
	key, err := scheduleKey(r)
	if err != nil {
		return err
	}
	var req scheduleRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if req.Key != nil && *req.Key != key {
		return invalid("key", "%q differs from the key of the path, %q", *req.Key, key)
	}
	var probe rota.ScheduleParams
	given, err := req.apply(&probe)
	if err != nil {
		return err
	}
	if !given {
		return invalid("", "nothing to change: give at least one field of the schedule")
	}
	cur, err := s.client.GetSchedule(r.Context(), key)
	if err != nil {
		return scheduleError(key, err)
	}
	p := rota.ScheduleParamsOf(cur)
	if _, err := req.apply(&p); err != nil {
		return err
	}
	sc, err := s.client.UpdateSchedule(r.Context(), p)
	if err != nil {
		return scheduleError(key, err)
	}
	writeJSON(w, http.StatusOK, toSchedule(sc))
	return nil
}

// getSchedule is GET /v1/schedules/{key}.
func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request) error {
	key, err := scheduleKey(r)
	if err != nil {
		return err
	}
	sc, err := s.client.GetSchedule(r.Context(), key)
	if err != nil {
		return scheduleError(key, err)
	}
	writeJSON(w, http.StatusOK, toSchedule(sc))
	return nil
}

// enableSchedule is POST /v1/schedules/{key}/enable: it fires next at its
// first fire time after now.
func (s *Server) enableSchedule(w http.ResponseWriter, r *http.Request) error {
	key, err := scheduleKey(r)
	if err != nil {
		return err
	}
	var empty struct{}
	if err := decodeBody(r, &empty, true); err != nil {
		return err
	}
	sc, err := s.client.EnableSchedule(r.Context(), key)
	if err != nil {
		return scheduleError(key, err)
	}
	writeJSON(w, http.StatusOK, toSchedule(sc))
	return nil
}

// disableRequest is the optional body of POST /v1/schedules/{key}/disable.
type disableRequest struct {
	Reason string `json:"reason"`
}

// disableSchedule is POST /v1/schedules/{key}/disable.
func (s *Server) disableSchedule(w http.ResponseWriter, r *http.Request) error {
	key, err := scheduleKey(r)
	if err != nil {
		return err
	}
	var req disableRequest
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	sc, err := s.client.DisableSchedule(r.Context(), key, req.Reason)
	if err != nil {
		return scheduleError(key, err)
	}
	writeJSON(w, http.StatusOK, toSchedule(sc))
	return nil
}

// deleteSchedule is DELETE /v1/schedules/{key}: the schedule goes, the
// jobs it made stay. 204 on success.
func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request) error {
	key, err := scheduleKey(r)
	if err != nil {
		return err
	}
	var empty struct{}
	if err := decodeBody(r, &empty, true); err != nil {
		return err
	}
	if err := s.client.DeleteSchedule(r.Context(), key); err != nil {
		return scheduleError(key, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type schedulesResponse struct {
	Schedules []scheduleJSON `json:"schedules"`
	// Next is the cursor of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// listSchedules is GET /v1/schedules: by key, filtered by kind, enabled,
// pending and search (a case-insensitive substring of the key or the kind).
func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) error {
	q, err := newQuery(r, scheduleListQuery()...)
	if err != nil {
		return err
	}
	var p rota.ScheduleListParams
	if p.Kind, err = q.one("kind"); err != nil {
		return err
	}
	if p.Enabled, err = q.bool("enabled"); err != nil {
		return err
	}
	pending, err := q.bool("pending")
	if err != nil {
		return err
	}
	p.Pending = pending != nil && *pending
	search, err := q.one("search")
	if err != nil {
		return err
	}
	limit, err := q.int("limit", store.DefaultListLimit, 1, store.MaxListLimit)
	if err != nil {
		return err
	}
	cur, err := q.one("cursor")
	if err != nil {
		return err
	}
	if cur != "" {
		key, ok := apicursor.ParseSchedules(cur)
		if !ok {
			return invalid("cursor", "not a cursor from a previous page's next")
		}
		p.AfterKey = key
	}
	var (
		list []*rota.Schedule
		next string
	)
	if search == "" {
		p.Limit = limit
		page, err := s.client.ListSchedules(r.Context(), p)
		if err != nil {
			return err
		}
		list, next = page.Schedules, page.NextAfterKey
	} else {
		list, next, err = s.searchSchedules(r, p, strings.ToLower(search), limit)
		if err != nil {
			return err
		}
	}
	resp := schedulesResponse{Schedules: make([]scheduleJSON, len(list))}
	for i, sc := range list {
		resp.Schedules[i] = toSchedule(sc)
	}
	if next != "" {
		resp.Next = apicursor.Schedules(next)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// searchSchedules reads the store's pages from p.AfterKey and keeps the
// schedules whose key or kind contains needle, up to limit; next is the
// key to continue after, "" when no match is left.
func (s *Server) searchSchedules(r *http.Request, p rota.ScheduleListParams, needle string, limit int) ([]*rota.Schedule, string, error) {
	var out []*rota.Schedule
	p.Limit = scheduleSearchPage
	for {
		page, err := s.client.ListSchedules(r.Context(), p)
		if err != nil {
			return nil, "", err
		}
		for _, sc := range page.Schedules {
			if !strings.Contains(strings.ToLower(sc.Key), needle) && !strings.Contains(strings.ToLower(sc.Kind), needle) {
				continue
			}
			if len(out) == limit { // one more match: there is a next page
				return out, out[limit-1].Key, nil
			}
			out = append(out, sc)
		}
		if page.NextAfterKey == "" {
			return out, "", nil
		}
		p.AfterKey = page.NextAfterKey
	}
}

// previewJSON is the answer of GET /v1/schedule-preview (the same as
// rota schedules next --json).
type previewJSON struct {
	Spec       string   `json:"spec"`
	Normalized string   `json:"normalized"`
	Zone       string   `json:"zone"`
	After      string   `json:"after"`
	Fires      []string `json:"fires"`
	// Never: the schedule stops before n fires.
	Never bool `json:"never"`
}

// previewSchedule is GET /v1/schedule-preview: the next n fire times of a
// spec in a zone, after a time (default now). It stores nothing.
func (s *Server) previewSchedule(w http.ResponseWriter, r *http.Request) error {
	q, err := newQuery(r, schedulePreviewQuery()...)
	if err != nil {
		return err
	}
	spec, err := q.one("spec")
	if err != nil {
		return err
	}
	if strings.TrimSpace(spec) == "" {
		return invalid("spec", "required")
	}
	tz, err := q.one("tz")
	if err != nil {
		return err
	}
	loc := time.UTC
	if tz != "" {
		if tz == "Local" {
			return invalid("tz", "%q is the server's zone; name an IANA time zone such as Europe/Amsterdam or UTC", tz)
		}
		if loc, err = time.LoadLocation(tz); err != nil {
			return invalid("tz", "%q is not an IANA time zone such as Europe/Amsterdam or UTC", tz)
		}
	}
	n, err := q.int("n", DefaultPreviewFires, 1, MaxPreviewFires)
	if err != nil {
		return err
	}
	from, err := q.time("after")
	if err != nil {
		return err
	}
	if from.IsZero() {
		from = time.Now()
	}
	sp, err := schedule.Parse(spec, from, loc)
	if err != nil {
		var se *schedule.SyntaxError
		if errors.As(err, &se) {
			return invalid("spec", "at %d: %s", se.Pos, se.Msg)
		}
		return invalid("spec", "%v", err)
	}
	out := previewJSON{Spec: spec, Normalized: sp.String(), Zone: sp.Location().String(),
		After: from.In(sp.Location()).Format(time.RFC3339), Fires: []string{}}
	for t := from; len(out.Fires) < n; {
		next, ok := sp.Next(t)
		if !ok {
			out.Never = true
			break
		}
		out.Fires = append(out.Fires, next.Format(time.RFC3339))
		t = next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// bool returns name as true or false (nil if absent).
func (q query) bool(name string) (*bool, error) {
	s, err := q.one(name)
	if err != nil || s == "" {
		return nil, err
	}
	switch s {
	case "true":
		return new(true), nil
	case "false":
		return new(false), nil
	}
	return nil, invalid(name, "%q is not true or false", s)
}
