package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
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

// marshalText is json.Marshal without escaping & < > in strings: what a
// MarshalJSON method returns is escaped (or not) by the encoder that calls
// it, as its caller chose (json.Marshal does; an Encoder with
// SetEscapeHTML(false), as the CLI's --json, does not).
func marshalText(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// MarshalJSON writes j as the HTTP API does: the timeout as a duration string.
func (j Job) MarshalJSON() ([]byte, error) {
	return marshalText(jobJSON{plainJob(j), jsonDuration(j.Timeout)})
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
	return marshalText(scheduleJSON{plainSchedule(s), jsonDuration(s.Jitter), jsonDuration(s.MisfireGrace)})
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

// AppendJSON appends a's JSON form to dst: byte for byte what json.Marshal
// writes for it, without its reflection and output validation (the drivers
// encode one record per finished attempt). A time whose year is outside
// 0-9999 is an error, as with json.Marshal.
func (a Attempt) AppendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `{"number":`...)
	dst = strconv.AppendInt(dst, int64(a.Number), 10)
	dst = append(dst, `,"node":`...)
	dst = appendJSONString(dst, a.Node)
	dst = append(dst, `,"started_at":`...)
	if dst, err = appendJSONTime(dst, a.StartedAt); err != nil {
		return nil, err
	}
	dst = append(dst, `,"finished_at":`...)
	if dst, err = appendJSONTime(dst, a.FinishedAt); err != nil {
		return nil, err
	}
	dst = append(dst, `,"outcome":`...)
	dst = appendJSONString(dst, string(a.Outcome))
	if a.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendJSONString(dst, a.Error)
	}
	if a.Location != "" {
		dst = append(dst, `,"location":`...)
		dst = appendJSONString(dst, a.Location)
	}
	return append(dst, '}'), nil
}

// appendJSONString appends s as encoding/json quotes it. Strings of
// printable ASCII with nothing to escape (most node names, outcomes and
// error texts) are copied; any other goes through json.Marshal.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON writes it.
func appendJSONTime(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		_, err := t.MarshalJSON() // its error names the problem
		return nil, err
	}
	if _, off := t.Zone(); off%60 != 0 {
		b, err := t.MarshalJSON()
		return append(dst, b...), err
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}
