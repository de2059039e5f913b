package apiwire

import (
	"encoding/json"
	"time"

	"github.com/rotahq/rota"
)

// Schedule is a stored schedule as the API shows it.
type Schedule struct {
	Key      string            `json:"key"`
	Kind     string            `json:"kind"`
	Queue    string            `json:"queue"`
	Args     json.RawMessage   `json:"args"`
	Priority int               `json:"priority"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Spec     string            `json:"spec"`
	// Zone is the IANA zone of the spec's wall-clock times; absent: UTC.
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
	// PendingJobID is the held job of an overlap queue_one fire that waits
	// for LastJobID to finish.
	PendingJobID int64     `json:"pending_job_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// ScheduleList is a page of schedules: GET /v1/schedules.
type ScheduleList struct {
	Schedules []Schedule `json:"schedules"`
	// Next is the cursor of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// ScheduleRequest is the body of POST /v1/schedules (a new schedule) and
// PATCH /v1/schedules/{key} (the fields to change; absent fields, and a
// null metadata, stay as they are). The fields are pointers so that the
// server tells an absent field from a zero one; the Go client sends every
// field, so that an update replaces the schedule as rota.Client's does.
type ScheduleRequest struct {
	Key *string `json:"key"`
	// Kind is the kind of the jobs the schedule makes.
	Kind *string `json:"kind"`
	// Args is the jobs' arguments, any JSON value (null: none).
	Args     json.RawMessage   `json:"args"`
	Queue    *string           `json:"queue"`
	Priority *int              `json:"priority"`
	Metadata map[string]string `json:"metadata"`
	Spec     *string           `json:"spec"`
	Zone     *string           `json:"zone"`
	// Jitter and MisfireGrace are durations (see the package comment).
	Jitter  json.RawMessage `json:"jitter"`
	Enabled *bool           `json:"enabled"`
	// Misfire is a rota.MisfirePolicy; a string so that the server words
	// a wrong JSON type as for any string.
	Misfire      *string         `json:"misfire"`
	MisfireGrace json.RawMessage `json:"misfire_grace"`
	MisfireCap   *int            `json:"misfire_cap"`
	// Overlap is a rota.OverlapPolicy.
	Overlap   *string `json:"overlap"`
	Condition *string `json:"condition"`
}

// DisableRequest is the optional body of POST /v1/schedules/{key}/disable.
type DisableRequest struct {
	// Reason is recorded as the schedule's disabled reason.
	Reason string `json:"reason"`
}

// Preview is the answer of GET /v1/schedule-preview: the next fire times
// of a spec (the same as rota schedules next --json).
type Preview struct {
	Spec string `json:"spec"`
	// Normalized is the spec as rota reads it.
	Normalized string `json:"normalized"`
	Zone       string `json:"zone"`
	// After and Fires are RFC 3339 times to the second, in Zone.
	After string   `json:"after"`
	Fires []string `json:"fires"`
	// Never: the schedule stops before n fires.
	Never bool `json:"never"`
}
