package server

import (
	"encoding/json"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/internal/apiwire"
)

// The JSON bodies both the server and the Go client (package remote) use
// are in internal/apiwire; here are the conversions from the rota
// package's types, and the bodies only the server uses.

// enqueueParams converts r, naming bad fields with prefix.
func enqueueParams(r *apiwire.EnqueueRequest, prefix string) (rota.EnqueueParams, error) {
	p := rota.EnqueueParams{
		Kind: r.Kind, Queue: r.Queue, Priority: r.Priority, Hold: r.Hold, Key: r.Key,
		OnConflict: rota.ConflictPolicy(r.OnConflict), Metadata: r.Metadata,
		UserRequested: r.UserRequested,
	}
	if r.MaxAttempts != nil {
		// Given, 0 is refused: in EnqueueParams it would mean the default.
		if *r.MaxAttempts < 1 {
			return p, invalid(prefix+"max_attempts", "%d is less than 1", *r.MaxAttempts)
		}
		p.MaxAttempts = *r.MaxAttempts
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

func toJob(j *rota.Job) apiwire.Job {
	out := apiwire.Job{
		ID: j.ID, Kind: j.Kind, Queue: j.Queue, State: j.State, Args: j.Args, Priority: j.Priority,
		RunAt: j.RunAt, Key: j.Key, Metadata: j.Metadata, Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		Result: j.Result, LastError: j.LastError, Node: j.Node, CancelRequested: j.CancelRequested,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		Duplicate: j.Duplicate,
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

func toJobDetail(j *rota.Job) apiwire.JobDetail {
	out := apiwire.JobDetail{Job: toJob(j), Attempts: make([]apiwire.Attempt, len(j.Attempts))}
	for i, a := range j.Attempts {
		out.Attempts[i] = apiwire.Attempt{Number: a.Number, Node: a.Node, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt,
			Outcome: a.Outcome, Error: a.Error, Location: a.Location}
	}
	return out
}

func toJobs(js []*rota.Job) []apiwire.Job {
	out := make([]apiwire.Job, len(js))
	for i, j := range js {
		out[i] = toJob(j)
	}
	return out
}

func toQueue(q rota.QueueInfo) apiwire.Queue {
	out := apiwire.Queue{Name: q.Name, Paused: q.Paused, MaxSize: q.MaxSize, UrgentPriority: q.UrgentPriority,
		Counts: q.Counts, OldestQueuedAt: q.OldestQueuedAt, UpdatedAt: q.UpdatedAt}
	if out.Counts == nil {
		out.Counts = map[rota.State]int64{}
	}
	return out
}

func toNode(n rota.NodeInfo) apiwire.Node {
	out := apiwire.Node{ID: n.ID, Instance: n.Instance, Host: n.Host, PID: n.PID, Version: n.Version,
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
