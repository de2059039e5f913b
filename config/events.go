package config

import "time"

// Event log and event stream settings.
const (
	// EnvEventsMax bounds the durable event log by count.
	EnvEventsMax = "ROTA_EVENTS_MAX"
	// EnvEventsMaxAge bounds the durable event log by age.
	EnvEventsMaxAge = "ROTA_EVENTS_MAX_AGE"
	// EnvHTTPMaxEventStreams bounds the open GET /v1/events streams.
	EnvHTTPMaxEventStreams = "ROTA_HTTP_MAX_EVENT_STREAMS"
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
	}
}
