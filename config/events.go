package config

import (
	"errors"
	"strings"
	"time"
)

// Event log and event stream settings.
const (
	// EnvEventsMax bounds the durable event log by count.
	EnvEventsMax = "ROTA_EVENTS_MAX"
	// EnvEventsMaxAge bounds the durable event log by age.
	EnvEventsMaxAge = "ROTA_EVENTS_MAX_AGE"
	// EnvHTTPMaxEventStreams bounds the open GET /v1/events streams.
	EnvHTTPMaxEventStreams = "ROTA_HTTP_MAX_EVENT_STREAMS"
	// EnvEventLog turns this node's writing of its events to the durable
	// event log on or off.
	EnvEventLog = "ROTA_EVENT_LOG"
)

// The values of ROTA_EVENT_LOG.
const (
	EventLogOn  = "on"
	EventLogOff = "off"
)

// Defaults of the event settings (the rota and server packages have the
// same values as their own defaults).
const (
	DefaultEventsMax           = 100_000
	DefaultEventsMaxAge        = 24 * time.Hour
	DefaultHTTPMaxEventStreams = 100
)

// eventSettings are the settings of the event log and streams.
func (c *Config) eventSettings() []setting {
	return []setting{
		{env: EnvEventsMax, flag: "events-max", usage: "events the durable event log keeps at most (GET /v1/events resumes within them)",
			value: &intValue{p: &c.EventsMax}},
		{env: EnvEventsMaxAge, flag: "events-max-age", usage: "how long the durable event log keeps an event (like 24h or 7d)",
			value: &durationValue{p: &c.EventsMaxAge, positive: true}},
		{env: EnvHTTPMaxEventStreams, flag: "http-max-event-streams", usage: "GET /v1/events streams open at once",
			value: &intValue{p: &c.HTTPMaxEventStreams}},
		{env: EnvEventLog, flag: "event-log", usage: "on: this node writes its job events to the durable event log behind GET /v1/events; off: it does not (its streams still show other nodes' events)",
			value: &stringValue{p: &c.EventLog, norm: NormEventLog}},
	}
}

// NormEventLog accepts on and off (EventLogOn, EventLogOff), in any case
// and with spaces around, and returns the value in lower case.
func NormEventLog(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case EventLogOn, EventLogOff:
		return v, nil
	}
	return "", errors.New(`not "on" or "off"`)
}

// EventLogDisabled reports whether this node writes no events to the
// durable event log (EventLog is "off").
func (c Config) EventLogDisabled() bool { return c.EventLog == EventLogOff }
