package apiwire

import (
	"time"

	"github.com/rotahq/rota"
)

// Queue is a queue with its settings and counts.
type Queue struct {
	Name           string               `json:"name"`
	Paused         bool                 `json:"paused"`
	MaxSize        int                  `json:"max_size"`
	UrgentPriority int                  `json:"urgent_priority"`
	Counts         map[rota.State]int64 `json:"counts"`
	OldestQueuedAt time.Time            `json:"oldest_queued_at,omitzero"`
	UpdatedAt      time.Time            `json:"updated_at,omitzero"`
}

// QueueList is the answer of GET /v1/queues.
type QueueList struct {
	Queues []Queue `json:"queues"`
}

// QueueUpdate is the body of PATCH /v1/queues/{name}; absent fields stay
// as they are.
type QueueUpdate struct {
	Paused         *bool `json:"paused,omitempty"`
	MaxSize        *int  `json:"max_size,omitempty"`
	UrgentPriority *int  `json:"urgent_priority,omitempty"`
}

// Node is a registered node, its state judged by the server's clock.
type Node struct {
	ID                string         `json:"id"`
	Instance          string         `json:"instance"`
	Host              string         `json:"host,omitempty"`
	PID               int            `json:"pid,omitempty"`
	Version           string         `json:"version,omitempty"`
	Queues            []string       `json:"queues"`
	Kinds             []string       `json:"kinds"`
	HeartbeatInterval string         `json:"heartbeat_interval"`
	StartedAt         time.Time      `json:"started_at"`
	HeartbeatAt       time.Time      `json:"heartbeat_at"`
	StoppedAt         time.Time      `json:"stopped_at,omitzero"`
	State             rota.NodeState `json:"state"`
	Leader            bool           `json:"leader"`
}

// NodeList is the answer of GET /v1/nodes.
type NodeList struct {
	Nodes []Node `json:"nodes"`
}

// Stats is the answer of GET /v1/stats: job counts by state, queue and
// kind, and per hour of the jobs' last change in [From, To).
type Stats struct {
	ByState map[rota.State]int64            `json:"by_state"`
	ByQueue map[string]map[rota.State]int64 `json:"by_queue"`
	ByKind  map[string]map[rota.State]int64 `json:"by_kind"`
	From    time.Time                       `json:"from"`
	To      time.Time                       `json:"to"`
	PerHour []HourCount                     `json:"per_hour"`
}

// HourCount is how many jobs reached State in the hour that starts at Hour.
type HourCount struct {
	Hour  time.Time  `json:"hour"`
	State rota.State `json:"state"`
	N     int64      `json:"n"`
}
