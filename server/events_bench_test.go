package server

import (
	"testing"
)

// BenchmarkEventsLatency measures, per op, an enqueue through the client
// until its event arrives on a GET /v1/events stream of the same node (a
// real HTTP connection, SQLite store with synchronous OFF): the event log
// writer's append and the stream's wake-up.
func BenchmarkEventsLatency(b *testing.B) {
	e, hs := newEventsEnv(b, Options{})
	s, _ := openStream(b, hs.URL, "/v1/events", "")
	for b.Loop() {
		j := enqueue(b, e.client, "t.bench")
		if d := s.job(); d.JobID != j.ID {
			b.Fatalf("event of job %d, want %d", d.JobID, j.ID)
		}
	}
}
