package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
)

// listQueues is GET /v1/queues: every queue with its settings and counts.
func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) error {
	qs, err := s.client.Queues(r.Context())
	if err != nil {
		return err
	}
	resp := apiwire.QueueList{Queues: make([]apiwire.Queue, len(qs))}
	for i, q := range qs {
		resp.Queues[i] = toQueue(q)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// updateQueue is PATCH /v1/queues/{name}: its limits (and pause).
func (s *Server) updateQueue(w http.ResponseWriter, r *http.Request) error {
	var req apiwire.QueueUpdate
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if req.Paused == nil && req.MaxSize == nil && req.UrgentPriority == nil {
		return invalid("", "nothing to change: give paused, max_size or urgent_priority")
	}
	q, err := s.client.UpdateQueue(r.Context(), r.PathValue("name"),
		rota.QueueUpdate{Paused: req.Paused, MaxSize: req.MaxSize, UrgentPriority: req.UrgentPriority})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toQueue(q))
	return nil
}

// pauseQueue is POST /v1/queues/{name}/pause and /resume.
func (s *Server) pauseQueue(paused bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var empty struct{}
		if err := decodeBody(r, &empty, true); err != nil {
			return err
		}
		q, err := s.client.UpdateQueue(r.Context(), r.PathValue("name"), rota.QueueUpdate{Paused: &paused})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, toQueue(q))
		return nil
	}
}

// popRequest is POST /v1/queues/{name}/pop: the filters of OpenKAT's pop
// and how long to wait for a match.
type popRequest struct {
	Kinds    []string          `json:"kinds"`
	Metadata map[string]string `json:"metadata"`
	// Args matches top-level fields of the job's args by JSON equality.
	Args map[string]json.RawMessage `json:"args"`
	// Wait long-polls up to this long for a matching job (0: answer now).
	Wait json.RawMessage `json:"wait"`
}

// pop is POST /v1/queues/{name}/pop: take the next matching job, leased
// to this node for its lease duration; end it with /v1/jobs/{id}/complete
// or /fail. 204 when nothing matched within the wait.
func (s *Server) pop(w http.ResponseWriter, r *http.Request) error {
	var req popRequest
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	wait, err := parseDuration("wait", req.Wait)
	if err != nil {
		return err
	}
	if wait < 0 || wait > s.opts.MaxWait {
		return invalid("wait", "%s is out of range 0..%s", wait, s.opts.MaxWait)
	}
	for i, k := range req.Kinds {
		if k == "" {
			return invalid("kinds", "item %d is empty", i)
		}
	}
	f := rota.PopFilter{Kinds: req.Kinds, Metadata: req.Metadata}
	if len(req.Args) > 0 {
		f.Args = make(map[string]any, len(req.Args))
		for k, v := range req.Args {
			var val any
			if err := json.Unmarshal(v, &val); err != nil {
				return invalid("args", "field %q: %v", k, err)
			}
			f.Args[k] = val
		}
	}
	queue := r.PathValue("name")
	var job *rota.Job
	err = s.longPoll(w, r, wait, rota.EventFilter{Queues: []string{queue}, Kinds: req.Kinds}, func(ctx context.Context) (bool, error) {
		j, err := s.client.Pop(ctx, queue, f)
		switch {
		case errors.Is(err, rota.ErrNotFound):
			return false, nil
		case err != nil:
			return false, err
		}
		job = j
		return true, nil
	})
	if err != nil {
		return err
	}
	if job == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.popped.add(job.ID, job.Attempt, time.Now())
	writeJSON(w, http.StatusOK, toJob(job))
	return nil
}

// push is POST /v1/queues/{name}/push: enqueue one job into the queue.
func (s *Server) push(w http.ResponseWriter, r *http.Request) error {
	var req apiwire.EnqueueRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	name := r.PathValue("name")
	if req.Queue != "" && req.Queue != name {
		return invalid("queue", "%q differs from the queue of the path, %q", req.Queue, name)
	}
	req.Queue = name
	return s.enqueueOne(w, r, &req)
}
