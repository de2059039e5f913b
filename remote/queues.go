package remote

import (
	"context"
	"net/url"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// MaxStatsHours is the longest range one GET /v1/stats counts per hour;
// CountsByHour asks for longer ranges piece by piece.
const MaxStatsHours = 31 * 24

type queueWire struct {
	Name           string               `json:"name"`
	Paused         bool                 `json:"paused"`
	MaxSize        int                  `json:"max_size"`
	UrgentPriority int                  `json:"urgent_priority"`
	Counts         map[rota.State]int64 `json:"counts"`
	OldestQueuedAt time.Time            `json:"oldest_queued_at"`
	UpdatedAt      time.Time            `json:"updated_at"`
}

func (w queueWire) queue() rota.QueueInfo {
	return rota.QueueInfo{Name: w.Name, Paused: w.Paused, MaxSize: w.MaxSize, UrgentPriority: w.UrgentPriority,
		Counts: w.Counts, OldestQueuedAt: w.OldestQueuedAt, UpdatedAt: w.UpdatedAt}
}

// Queues lists the queues with their settings and counts (GET /v1/queues).
func (c *Client) Queues(ctx context.Context) ([]rota.QueueInfo, error) {
	var w struct {
		Queues []queueWire `json:"queues"`
	}
	if err := c.call(ctx, "GET", "/v1/queues", nil, nil, &w); err != nil {
		return nil, err
	}
	out := make([]rota.QueueInfo, 0, len(w.Queues))
	for _, q := range w.Queues {
		out = append(out, q.queue())
	}
	return out, nil
}

// UpdateQueue changes a queue's settings. A change of Paused alone is
// POST .../pause or .../resume (a write token's); limits are PATCH
// /v1/queues/{name} (an admin token's).
func (c *Client) UpdateQueue(ctx context.Context, name string, u rota.QueueUpdate) (rota.QueueInfo, error) {
	path := "/v1/queues/" + url.PathEscape(name)
	var w queueWire
	var err error
	switch {
	case u.Paused != nil && u.MaxSize == nil && u.UrgentPriority == nil && *u.Paused:
		err = c.call(ctx, "POST", path+"/pause", nil, nil, &w)
	case u.Paused != nil && u.MaxSize == nil && u.UrgentPriority == nil:
		err = c.call(ctx, "POST", path+"/resume", nil, nil, &w)
	default:
		err = c.call(ctx, "PATCH", path, nil, struct {
			Paused         *bool `json:"paused,omitempty"`
			MaxSize        *int  `json:"max_size,omitempty"`
			UrgentPriority *int  `json:"urgent_priority,omitempty"`
		}{u.Paused, u.MaxSize, u.UrgentPriority}, &w)
	}
	if err != nil {
		return rota.QueueInfo{}, err
	}
	return w.queue(), nil
}

type nodeWire struct {
	ID                string         `json:"id"`
	Instance          string         `json:"instance"`
	Host              string         `json:"host"`
	PID               int            `json:"pid"`
	Version           string         `json:"version"`
	Queues            []string       `json:"queues"`
	Kinds             []string       `json:"kinds"`
	HeartbeatInterval string         `json:"heartbeat_interval"`
	StartedAt         time.Time      `json:"started_at"`
	HeartbeatAt       time.Time      `json:"heartbeat_at"`
	StoppedAt         time.Time      `json:"stopped_at"`
	State             rota.NodeState `json:"state"`
	Leader            bool           `json:"leader"`
}

// Nodes lists the nodes of the server's store (GET /v1/nodes), their state
// judged by the server's clock.
func (c *Client) Nodes(ctx context.Context) ([]rota.NodeInfo, error) {
	var w struct {
		Nodes []nodeWire `json:"nodes"`
	}
	if err := c.call(ctx, "GET", "/v1/nodes", nil, nil, &w); err != nil {
		return nil, err
	}
	out := make([]rota.NodeInfo, 0, len(w.Nodes))
	for _, n := range w.Nodes {
		hb, err := parseDuration("heartbeat_interval", n.HeartbeatInterval)
		if err != nil {
			return nil, err
		}
		out = append(out, rota.NodeInfo{Node: store.Node{ID: n.ID, Instance: n.Instance, Host: n.Host, PID: n.PID,
			Version: n.Version, Queues: n.Queues, Kinds: n.Kinds, HeartbeatInterval: hb, StartedAt: n.StartedAt,
			HeartbeatAt: n.HeartbeatAt, StoppedAt: n.StoppedAt}, State: n.State, Leader: n.Leader})
	}
	return out, nil
}

type statsWire struct {
	ByState map[rota.State]int64            `json:"by_state"`
	ByQueue map[string]map[rota.State]int64 `json:"by_queue"`
	ByKind  map[string]map[rota.State]int64 `json:"by_kind"`
	PerHour []rota.HourCount                `json:"per_hour"`
}

// Stats returns job counts by state, queue and kind (GET /v1/stats).
func (c *Client) Stats(ctx context.Context) (rota.Stats, error) {
	var w statsWire
	if err := c.call(ctx, "GET", "/v1/stats", url.Values{"hours": {"1"}}, nil, &w); err != nil {
		return rota.Stats{}, err
	}
	return rota.Stats{ByState: w.ByState, ByQueue: w.ByQueue, ByKind: w.ByKind}, nil
}

// CountsByHour returns, per hour in [from, to), the jobs that reached each
// state (by their last update), as rota.Client.CountsByHour does. Ranges
// longer than MaxStatsHours take one request per MaxStatsHours.
func (c *Client) CountsByHour(ctx context.Context, from, to time.Time) ([]rota.HourCount, error) {
	var out []rota.HourCount
	for start := from; start.Before(to); {
		end := start.Add(MaxStatsHours * time.Hour)
		if end.After(to) {
			end = to
		}
		var w statsWire
		q := url.Values{"from": {start.Format(time.RFC3339Nano)}, "to": {end.Format(time.RFC3339Nano)}}
		if err := c.call(ctx, "GET", "/v1/stats", q, nil, &w); err != nil {
			return nil, err
		}
		out = append(out, w.PerHour...)
		start = end
	}
	return out, nil
}
