package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// jsonDuration is a duration in JSON as the HTTP API writes it: a string
// in Go's syntax ("1m30s"). A number (nanoseconds) is read too.
type jsonDuration time.Duration

// MarshalJSON writes d as a duration string.
func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("store: duration %q: %w", s, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("store: duration: want a string like \"1m30s\" or nanoseconds, got %s", b)
	}
	*d = jsonDuration(n)
	return nil
}

// jobJSON is Job as JSON: its durations as strings, as the HTTP API
// writes them.
type jobJSON struct {
	plainJob
	Timeout jsonDuration `json:"timeout,omitempty"`
}

type plainJob Job // Job without its JSON methods

// MarshalJSON writes j as the HTTP API does: the timeout as a duration string.
func (j Job) MarshalJSON() ([]byte, error) {
	return json.Marshal(jobJSON{plainJob(j), jsonDuration(j.Timeout)})
}

// UnmarshalJSON reads what MarshalJSON writes (and a timeout in nanoseconds).
func (j *Job) UnmarshalJSON(b []byte) error {
	var v jobJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*j = Job(v.plainJob)
	j.Timeout = time.Duration(v.Timeout)
	return nil
}

// scheduleJSON is Schedule as JSON: its durations as strings.
type scheduleJSON struct {
	plainSchedule
	Jitter       jsonDuration `json:"jitter,omitempty"`
	MisfireGrace jsonDuration `json:"misfire_grace"`
}

type plainSchedule Schedule // Schedule without its JSON methods

// MarshalJSON writes s as the HTTP API does: jitter and misfire grace as
// duration strings.
func (s Schedule) MarshalJSON() ([]byte, error) {
	return json.Marshal(scheduleJSON{plainSchedule(s), jsonDuration(s.Jitter), jsonDuration(s.MisfireGrace)})
}

// UnmarshalJSON reads what MarshalJSON writes (and durations in nanoseconds).
func (s *Schedule) UnmarshalJSON(b []byte) error {
	var v scheduleJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Schedule(v.plainSchedule)
	s.Jitter, s.MisfireGrace = time.Duration(v.Jitter), time.Duration(v.MisfireGrace)
	return nil
}
