package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apicursor"
	"github.com/rotahq/rota/internal/apiwire"
	"github.com/rotahq/rota/store"
)

// toSchedule converts a schedule the API wrote.
func toSchedule(w *apiwire.Schedule) (*rota.Schedule, error) {
	jitter, err := parseDuration("jitter", w.Jitter)
	if err != nil {
		return nil, err
	}
	grace, err := parseDuration("misfire_grace", w.MisfireGrace)
	if err != nil {
		return nil, err
	}
	return &store.Schedule{
		Key: w.Key, Kind: w.Kind, Queue: w.Queue, Args: w.Args, Priority: w.Priority, Metadata: w.Metadata,
		Spec: w.Spec, Zone: w.Zone, Jitter: jitter, Enabled: w.Enabled, DisabledReason: w.DisabledReason,
		Misfire: w.Misfire, MisfireCap: w.MisfireCap, MisfireGrace: grace, Overlap: w.Overlap, Condition: w.Condition,
		NextFire: w.NextFire, LastFire: w.LastFire, LastOutcome: w.LastOutcome, LastJobID: w.LastJobID,
		PendingJobID: w.PendingJobID, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}, nil
}

// scheduleRequest is the body of a create or an update, with every field:
// an update replaces the schedule, as rota.Client's does.
func scheduleRequest(p rota.ScheduleParams) (apiwire.ScheduleRequest, error) {
	args, err := marshalArgs(p.Args)
	if err != nil {
		return apiwire.ScheduleRequest{}, err
	}
	if args == nil {
		args = json.RawMessage("null")
	}
	meta := p.Metadata
	if meta == nil {
		meta = map[string]string{} // sent as {}: an update clears the metadata, as rota.Client's does
	}
	prio := p.Priority
	if prio == nil {
		prio = new(rota.DefaultPriority)
	}
	return apiwire.ScheduleRequest{Key: &p.Key, Kind: &p.Kind, Args: args, Queue: &p.Queue, Priority: prio,
		Metadata: meta, Spec: &p.Spec, Zone: &p.Zone, Jitter: durationJSON(p.Jitter), Enabled: new(!p.Disabled),
		Misfire: new(string(p.Misfire)), MisfireGrace: durationJSON(p.MisfireGrace), MisfireCap: &p.MisfireCap,
		Overlap: new(string(p.Overlap)), Condition: &p.Condition}, nil
}

func schedulePath(key, action string) string {
	p := "/v1/schedules/" + url.PathEscape(key)
	if action != "" {
		p += "/" + action
	}
	return p
}

// scheduleCall sends a request whose answer is one schedule.
func (c *Client) scheduleCall(ctx context.Context, method, path string, body any) (*rota.Schedule, error) {
	var w apiwire.Schedule
	if err := c.call(ctx, method, path, nil, body, &w); err != nil {
		return nil, err
	}
	return toSchedule(&w)
}

// CreateSchedule stores a new schedule (POST /v1/schedules); an error
// matching rota.ErrDuplicate if its key exists.
func (c *Client) CreateSchedule(ctx context.Context, p rota.ScheduleParams) (*rota.Schedule, error) {
	req, err := scheduleRequest(p)
	if err != nil {
		return nil, err
	}
	return c.scheduleCall(ctx, "POST", "/v1/schedules", req)
}

// UpdateSchedule replaces the schedule p.Key with p (PATCH
// /v1/schedules/{key} with every field), as rota.Client.UpdateSchedule.
func (c *Client) UpdateSchedule(ctx context.Context, p rota.ScheduleParams) (*rota.Schedule, error) {
	if p.Key == "" {
		return nil, &rota.FieldError{Field: "key", Reason: "required"}
	}
	req, err := scheduleRequest(p)
	if err != nil {
		return nil, err
	}
	return c.scheduleCall(ctx, "PATCH", schedulePath(p.Key, ""), req)
}

// GetSchedule returns one schedule (GET /v1/schedules/{key}).
func (c *Client) GetSchedule(ctx context.Context, key string) (*rota.Schedule, error) {
	return c.scheduleCall(ctx, "GET", schedulePath(key, ""), nil)
}

// EnableSchedule enables a schedule; it fires next at its first fire time
// after now.
func (c *Client) EnableSchedule(ctx context.Context, key string) (*rota.Schedule, error) {
	return c.scheduleCall(ctx, "POST", schedulePath(key, "enable"), nil)
}

// DisableSchedule disables a schedule, recording reason.
func (c *Client) DisableSchedule(ctx context.Context, key, reason string) (*rota.Schedule, error) {
	return c.scheduleCall(ctx, "POST", schedulePath(key, "disable"), apiwire.DisableRequest{Reason: reason})
}

// DeleteSchedule deletes a schedule (an admin token's); its jobs stay,
// except those of fires written ahead whose time has not come.
func (c *Client) DeleteSchedule(ctx context.Context, key string) error {
	return c.call(ctx, "DELETE", schedulePath(key, ""), nil, nil, nil)
}

// ListSchedules returns a page of schedules by key (GET /v1/schedules),
// for the same parameters as rota.Client.ListSchedules.
func (c *Client) ListSchedules(ctx context.Context, p rota.ScheduleListParams) (rota.SchedulePage, error) {
	return c.SearchSchedules(ctx, p, "")
}

// SearchSchedules is ListSchedules keeping only the schedules whose key or
// kind contains search (ignoring case); "" keeps all.
func (c *Client) SearchSchedules(ctx context.Context, p rota.ScheduleListParams, search string) (rota.SchedulePage, error) {
	q := url.Values{}
	if p.Kind != "" {
		q.Set("kind", p.Kind)
	}
	if p.Enabled != nil {
		q.Set("enabled", strconv.FormatBool(*p.Enabled))
	}
	if p.Pending {
		q.Set("pending", "true")
	}
	if search != "" {
		q.Set("search", search)
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(min(p.Limit, store.MaxListLimit)))
	}
	if p.AfterKey != "" {
		q.Set("cursor", apicursor.Schedules(p.AfterKey))
	}
	var w apiwire.ScheduleList
	if err := c.call(ctx, "GET", "/v1/schedules", q, nil, &w); err != nil {
		return rota.SchedulePage{}, err
	}
	var page rota.SchedulePage
	for i := range w.Schedules {
		s, err := toSchedule(&w.Schedules[i])
		if err != nil {
			return rota.SchedulePage{}, err
		}
		page.Schedules = append(page.Schedules, s)
	}
	if w.Next != "" {
		key, ok := apicursor.ParseSchedules(w.Next)
		if !ok {
			return rota.SchedulePage{}, fmt.Errorf("rota remote: the server's next cursor %q is not one this client reads", w.Next)
		}
		page.NextAfterKey = key
	}
	return page, nil
}

// Preview is the answer of PreviewSchedule.
type Preview struct {
	Spec       string      // the spec as given
	Normalized string      // the spec as rota reads it
	Zone       string      // the zone of the fire times
	After      time.Time   // fires are after this
	Fires      []time.Time // the fire times, in Zone
	Never      bool        // the schedule stops before n fires
}

// PreviewSchedule returns the next n fire times of spec in zone tz ("" is
// UTC) after after (zero: now), as rota schedules next prints them (GET
// /v1/schedule-preview). n 0 asks for the server's default (10).
func (c *Client) PreviewSchedule(ctx context.Context, spec, tz string, after time.Time, n int) (Preview, error) {
	q := url.Values{"spec": {spec}}
	if tz != "" {
		q.Set("tz", tz)
	}
	if !after.IsZero() {
		q.Set("after", after.Format(time.RFC3339Nano))
	}
	if n != 0 {
		q.Set("n", strconv.Itoa(n))
	}
	var w apiwire.Preview
	if err := c.call(ctx, "GET", "/v1/schedule-preview", q, nil, &w); err != nil {
		return Preview{}, err
	}
	out := Preview{Spec: w.Spec, Normalized: w.Normalized, Zone: w.Zone, Never: w.Never, Fires: make([]time.Time, len(w.Fires))}
	var err error
	if out.After, err = parseTime("after", w.After); err != nil {
		return Preview{}, err
	}
	for i, f := range w.Fires {
		if out.Fires[i], err = parseTime("fires", f); err != nil {
			return Preview{}, err
		}
	}
	return out, nil
}
