package remote

import (
	"context"
	"net/url"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
	"github.com/rotahq/rota/store"
)

// MaxStatsHours is the longest range one GET /v1/stats counts per hour;
// CountsByHour asks for longer ranges piece by piece.
const MaxStatsHours = 31 * 24

func toQueue(w apiwire.Queue) rota.QueueInfo {
	return rota.QueueInfo{Name: w.Name, Paused: w.Paused, MaxSize: w.MaxSize, UrgentPriority: w.UrgentPriority,
		Counts: w.Counts, OldestQueuedAt: w.OldestQueuedAt, UpdatedAt: w.UpdatedAt}
}

// Queues lists the queues with their settings and counts (GET /v1/queues).
func (c *Client) Queues(ctx context.Context) ([]rota.QueueInfo, error) {
	var w apiwire.QueueList
	if err := c.call(ctx, "GET", "/v1/queues", nil, nil, &w); err != nil {
		return nil, err
	}
	out := make([]rota.QueueInfo, 0, len(w.Queues))
	for _, q := range w.Queues {
		out = append(out, toQueue(q))
	}
	return out, nil
}

// UpdateQueue changes a queue's settings. A change of Paused alone is
// POST .../pause or .../resume (a write token's); limits are PATCH
// /v1/queues/{name} (an admin token's).
func (c *Client) UpdateQueue(ctx context.Context, name string, u rota.QueueUpdate) (rota.QueueInfo, error) {
	path := "/v1/queues/" + url.PathEscape(name)
	var w apiwire.Queue
	var err error
	switch {
	case u.Paused != nil && u.MaxSize == nil && u.UrgentPriority == nil && *u.Paused:
		err = c.call(ctx, "POST", path+"/pause", nil, nil, &w)
	case u.Paused != nil && u.MaxSize == nil && u.UrgentPriority == nil:
		err = c.call(ctx, "POST", path+"/resume", nil, nil, &w)
	default:
		err = c.call(ctx, "PATCH", path, nil,
			apiwire.QueueUpdate{Paused: u.Paused, MaxSize: u.MaxSize, UrgentPriority: u.UrgentPriority}, &w)
	}
	if err != nil {
		return rota.QueueInfo{}, err
	}
	return toQueue(w), nil
}

// Nodes lists the nodes of the server's store (GET /v1/nodes), their state
// judged by the server's clock.
func (c *Client) Nodes(ctx context.Context) ([]rota.NodeInfo, error) {
	var w apiwire.NodeList
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

// Stats returns job counts by state, queue and kind (GET /v1/stats).
func (c *Client) Stats(ctx context.Context) (rota.Stats, error) {
	var w apiwire.Stats
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
		var w apiwire.Stats
		q := url.Values{"from": {start.Format(time.RFC3339Nano)}, "to": {end.Format(time.RFC3339Nano)}}
		if err := c.call(ctx, "GET", "/v1/stats", q, nil, &w); err != nil {
			return nil, err
		}
		for _, h := range w.PerHour {
			out = append(out, rota.HourCount{Hour: h.Hour, State: h.State, N: h.N})
		}
		start = end
	}
	return out, nil
}
