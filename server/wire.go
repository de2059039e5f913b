package server

import (
	"encoding/json"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
)

// The JSON the API reads and writes. Durations are strings in Go's syntax
// ("1m30s"), with a leading number of days allowed on input ("7d"), or a
// number of seconds on input; times are RFC 3339.

// enqueueRequest is one job to enqueue (POST /v1/jobs, an item of
// /v1/jobs/batch, POST /v1/queues/{name}/push).
type enqueueRequest struct {
	Kind          string            `json:"kind"`
	Args          json.RawMessage   `json:"args"`
	Queue         string            `json:"queue"`
	Priority      *int              `json:"priority"`
	RunAt         *string           `json:"run_at"`
	Delay         json.RawMessage   `json:"delay"`
	Hold          bool              `json:"hold"`
	Key           string            `json:"key"`
	OnConflict    string            `json:"on_conflict"`
	Metadata      map[string]string `json:"metadata"`
	MaxAttempts   int               `json:"max_attempts"`
	Timeout       json.RawMessage   `json:"timeout"`
	UserRequested bool              `json:"user_requested"`
}

// params converts r, naming bad fields with prefix.
func (r *enqueueRequest) params(prefix string) (rota.EnqueueParams, error) {
	p := rota.EnqueueParams{
		Kind: r.Kind, Queue: r.Queue, Priority: r.Priority, Hold: r.Hold, Key: r.Key,
		OnConflict: rota.ConflictPolicy(r.OnConflict), Metadata: r.Metadata, MaxAttempts: r.MaxAttempts,
		UserRequested: r.UserRequested,
	}
	if len(r.Args) > 0 && string(r.Args) != "null" {
		p.Args = r.Args
	}
	if r.RunAt != nil {
		t, err := parseTime(prefix+"run_at", *r.RunAt)
		if err != nil {
			return p, err
		}
		p.RunAt = t
	}
	var err error
	if p.Delay, err = parseDuration(prefix+"delay", r.Delay); err != nil {
		return p, err
	}
	if p.Timeout, err = parseDuration(prefix+"timeout", r.Timeout); err != nil {
		return p, err
	}
	return p, nil
}

// jobJSON is a job as the API shows it.
type jobJSON struct {
	ID              int64             `json:"id"`
	Kind            string            `json:"kind"`
	Queue           string            `json:"queue"`
	State           rota.State        `json:"state"`
	Args            json.RawMessage   `json:"args"`
	Priority        int               `json:"priority"`
	RunAt           time.Time         `json:"run_at"`
	Key             string            `json:"key,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Attempt         int               `json:"attempt"`
	MaxAttempts     int               `json:"max_attempts"`
	Timeout         string            `json:"timeout,omitempty"`
	Result          json.RawMessage   `json:"result,omitempty"`
	LastError       string            `json:"last_error,omitempty"`
	Node            string            `json:"node,omitempty"`
	LeaseUntil      time.Time         `json:"lease_until,omitzero"`
	CancelRequested bool              `json:"cancel_requested,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
	StartedAt       time.Time         `json:"started_at,omitzero"`
	FinishedAt      time.Time         `json:"finished_at,omitzero"`
}

// jobDetailJSON is one job with its attempt history (GET /v1/jobs/{id}).
type jobDetailJSON struct {
	jobJSON
	Attempts []attemptJSON `json:"attempts"`
}

type attemptJSON struct {
	Number     int          `json:"number"`
	Node       string       `json:"node"`
	StartedAt  time.Time    `json:"started_at"`
	FinishedAt time.Time    `json:"finished_at,omitzero"`
	Outcome    rota.Outcome `json:"outcome"`
	Error      string       `json:"error,omitempty"`
	Location   string       `json:"location,omitempty"`
}

func toJob(j *rota.Job) jobJSON {
	out := jobJSON{
		ID: j.ID, Kind: j.Kind, Queue: j.Queue, State: j.State, Args: j.Args, Priority: j.Priority,
		RunAt: j.RunAt, Key: j.Key, Metadata: j.Metadata, Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		Result: j.Result, LastError: j.LastError, Node: j.Node, CancelRequested: j.CancelRequested,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
	}
	if j.State == rota.StateRunning {
		out.LeaseUntil = j.LeaseUntil
	}
	if j.Timeout > 0 {
		out.Timeout = j.Timeout.String()
	}
	if len(out.Args) == 0 {
		out.Args = json.RawMessage(`{}`)
	}
	return out
}

func toJobDetail(j *rota.Job) jobDetailJSON {
	out := jobDetailJSON{jobJSON: toJob(j), Attempts: make([]attemptJSON, len(j.Attempts))}
	for i, a := range j.Attempts {
		out.Attempts[i] = attemptJSON{Number: a.Number, Node: a.Node, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt,
			Outcome: a.Outcome, Error: a.Error, Location: a.Location}
	}
	return out
}

func toJobs(js []*rota.Job) []jobJSON {
	out := make([]jobJSON, len(js))
	for i, j := range js {
		out[i] = toJob(j)
	}
	return out
}

// queueJSON is a queue with its settings and counts.
type queueJSON struct {
	Name           string               `json:"name"`
	Paused         bool                 `json:"paused"`
	MaxSize        int                  `json:"max_size"`
	UrgentPriority int                  `json:"urgent_priority"`
	Counts         map[rota.State]int64 `json:"counts"`
	OldestQueuedAt time.Time            `json:"oldest_queued_at,omitzero"`
	UpdatedAt      time.Time            `json:"updated_at,omitzero"`
}

func toQueue(q rota.QueueInfo) queueJSON {
	out := queueJSON{Name: q.Name, Paused: q.Paused, MaxSize: q.MaxSize, UrgentPriority: q.UrgentPriority,
		Counts: q.Counts, OldestQueuedAt: q.OldestQueuedAt, UpdatedAt: q.UpdatedAt}
	if out.Counts == nil {
		out.Counts = map[rota.State]int64{}
	}
	return out
}

// nodeJSON is a registered node.
type nodeJSON struct {
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

func toNode(n rota.NodeInfo) nodeJSON {
	out := nodeJSON{ID: n.ID, Instance: n.Instance, Host: n.Host, PID: n.PID, Version: n.Version,
		Queues: n.Queues, Kinds: n.Kinds, HeartbeatInterval: n.HeartbeatInterval.String(),
		StartedAt: n.StartedAt, HeartbeatAt: n.HeartbeatAt, StoppedAt: n.StoppedAt, State: n.State, Leader: n.Leader}
	if out.Queues == nil {
		out.Queues = []string{}
	}
	if out.Kinds == nil {
		out.Kinds = []string{}
	}
	return out
}

// kindJSON is a kind this node runs, with its effective configuration
// (registration overridden by the worker files, defaults filled in).
type kindJSON struct {
	Kind string `json:"kind"`
	// MaxWorkers is the kind's cap per node; 0: only the queue's.
	MaxWorkers       int            `json:"max_workers"`
	GlobalMaxWorkers int            `json:"global_max_workers"`
	RateLimit        *rateLimitJSON `json:"rate_limit,omitempty"`
	Timeout          string         `json:"timeout"`
	MaxAttempts      int            `json:"max_attempts"`
	Queue            string         `json:"queue"`
	// Priority is the default priority of the kind's jobs; null when a
	// ranker computes it (Ranked).
	Priority *int `json:"priority"`
	Ranked   bool `json:"ranked"`
	// Retention is the kind's own; absent: the node's.
	Retention string `json:"retention,omitempty"`
	LogLevel  string `json:"log_level,omitempty"`
}

type rateLimitJSON struct {
	N   int    `json:"n"`
	Per string `json:"per"`
}

func toKind(kind string, o rota.KindOptions) kindJSON {
	out := kindJSON{Kind: kind, MaxWorkers: o.MaxWorkers, GlobalMaxWorkers: o.GlobalMaxWorkers,
		Timeout: rota.DefaultTimeout.String(), MaxAttempts: rota.DefaultMaxAttempts, Queue: o.Queue,
		Ranked: o.Ranker != nil}
	if o.RateLimit.N > 0 {
		out.RateLimit = &rateLimitJSON{N: o.RateLimit.N, Per: o.RateLimit.Per.String()}
	}
	if o.Timeout > 0 {
		out.Timeout = o.Timeout.String()
	}
	if o.MaxAttempts > 0 {
		out.MaxAttempts = o.MaxAttempts
	}
	if out.Queue == "" {
		out.Queue = "default"
	}
	if !out.Ranked {
		p := rota.DefaultPriority
		if o.Priority != nil {
			p = *o.Priority
		}
		out.Priority = &p
	}
	if o.Retention > 0 {
		out.Retention = config.FormatDuration(o.Retention)
	}
	if o.LogLevel != nil {
		out.LogLevel = config.FormatLevel(*o.LogLevel)
	}
	return out
}
