package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apicursor"
	"github.com/rotahq/rota/internal/apiwire"
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

func toSchedule(s *rota.Schedule) apiwire.Schedule {
	out := apiwire.Schedule{
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

// applySchedule sets the fields given in r on p and reports whether r gave
// any besides the key.
func applySchedule(r *apiwire.ScheduleRequest, p *rota.ScheduleParams) (bool, error) {
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
	var req apiwire.ScheduleRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	var p rota.ScheduleParams
	if req.Key != nil {
		p.Key = *req.Key
	}
	if _, err := applySchedule(&req, &p); err != nil {
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
	var req apiwire.ScheduleRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if req.Key != nil && *req.Key != key {
		return invalid("key", "%q differs from the key of the path, %q", *req.Key, key)
	}
	var probe rota.ScheduleParams
	given, err := applySchedule(&req, &probe)
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
	if _, err := applySchedule(&req, &p); err != nil {
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

// scheduleAction is jobAction's twin for schedules: a request on schedule
// {key} whose optional body is a B (struct{}: the body may only be {}). It
// calls act with the key and the body, and answers the schedule act
// returns (200), or 204 No Content when act returns none. getSchedule is
// not one: a GET reads no body.
func scheduleAction[B any](act func(ctx context.Context, key string, body B) (*rota.Schedule, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		key, err := scheduleKey(r)
		if err != nil {
			return err
		}
		var body B
		if err := decodeBody(r, &body, true); err != nil {
			return err
		}
		sc, err := act(r.Context(), key, body)
		switch {
		case err != nil:
			return scheduleError(key, err)
		case sc == nil:
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusOK, toSchedule(sc))
		}
		return nil
	}
}

// enableSchedule is POST /v1/schedules/{key}/enable: it fires next at its
// first fire time after now.
func (s *Server) enableSchedule(ctx context.Context, key string, _ struct{}) (*rota.Schedule, error) {
	return s.client.EnableSchedule(ctx, key)
}

// disableSchedule is POST /v1/schedules/{key}/disable, with an optional
// reason.
func (s *Server) disableSchedule(ctx context.Context, key string, req apiwire.DisableRequest) (*rota.Schedule, error) {
	return s.client.DisableSchedule(ctx, key, req.Reason)
}

// deleteSchedule is DELETE /v1/schedules/{key}: the schedule goes, the
// jobs it made stay (but those of fires written ahead whose time has not
// come). 204 on success.
func (s *Server) deleteSchedule(ctx context.Context, key string, _ struct{}) (*rota.Schedule, error) {
	return nil, s.client.DeleteSchedule(ctx, key)
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
	resp := apiwire.ScheduleList{Schedules: make([]apiwire.Schedule, len(list))}
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
	out := apiwire.Preview{Spec: spec, Normalized: sp.String(), Zone: sp.Location().String(),
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
