package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
)

// The lease protocol for remote workers (decision 0015,
// docs/guide.md "Remote workers"): POST /v1/leases takes jobs under lease
// tokens; heartbeat, complete, fail and snooze name the token in the body
// (never in the path or query: paths are logged). The handlers decode and
// check the JSON; the rota.Client methods do the rest.

// leaseRequest is POST /v1/leases.
type leaseRequest struct {
	Kinds  []string        `json:"kinds"`
	Queues []string        `json:"queues"`
	Max    *int            `json:"max"`
	Wait   json.RawMessage `json:"wait"`
	Lease  json.RawMessage `json:"lease"`
	Worker string          `json:"worker"`
}

// leaseJSON is one lease handed out.
type leaseJSON struct {
	Token    string      `json:"token"`
	Deadline time.Time   `json:"deadline"`
	Job      apiwire.Job `json:"job"`
}

type leasesResponse struct {
	Leases []leaseJSON `json:"leases"`
}

// heartbeatRequest is POST /v1/leases/heartbeat.
type heartbeatRequest struct {
	Token string          `json:"token"`
	Lease json.RawMessage `json:"lease"`
}

type heartbeatResponse struct {
	Deadline       time.Time `json:"deadline"`
	AbortRequested bool      `json:"abort_requested"`
}

// leaseCompleteRequest is POST /v1/leases/complete.
type leaseCompleteRequest struct {
	Token  string          `json:"token"`
	Result json.RawMessage `json:"result"`
}

// leaseFailRequest is POST /v1/leases/fail.
type leaseFailRequest struct {
	Token      string          `json:"token"`
	Error      string          `json:"error"`
	RetryAfter json.RawMessage `json:"retry_after"`
	Final      bool            `json:"final"`
}

// leaseSnoozeRequest is POST /v1/leases/snooze.
type leaseSnoozeRequest struct {
	Token string          `json:"token"`
	Delay json.RawMessage `json:"delay"`
}

// leaseJobResponse is the answer of complete, fail and snooze.
type leaseJobResponse struct {
	Job apiwire.JobDetail `json:"job"`
}

// absent reports whether an optional JSON value was left out (or null).
func absent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// leaseLength reads an optional lease length: 0 when absent (the
// default), else within the bounds of a remote lease.
func leaseLength(raw json.RawMessage) (time.Duration, error) {
	if absent(raw) {
		return 0, nil
	}
	d, err := parseDuration("lease", raw)
	if err != nil {
		return 0, err
	}
	if d < rota.MinRemoteLease || d > rota.MaxRemoteLease {
		return 0, invalid("lease", "%s is out of range %s..%s", d, rota.MinRemoteLease, rota.MaxRemoteLease)
	}
	return d, nil
}

// lease is POST /v1/leases: take up to max jobs, long-polling up to wait.
func (s *Server) lease(w http.ResponseWriter, r *http.Request) error {
	var req leaseRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if len(req.Kinds) == 0 {
		return invalid("kinds", "required: name the kinds the worker runs")
	}
	p := rota.LeaseParams{Kinds: req.Kinds, Queues: req.Queues, Worker: req.Worker}
	if req.Max != nil {
		if *req.Max < 1 || *req.Max > rota.MaxLeaseMax {
			return invalid("max", "%d is out of range 1..%d", *req.Max, rota.MaxLeaseMax)
		}
		p.Max = *req.Max
	}
	wait, err := parseDuration("wait", req.Wait)
	if err != nil {
		return err
	}
	if wait < 0 || wait > s.opts.MaxWait {
		return invalid("wait", "%s is out of range 0..%s", wait, s.opts.MaxWait)
	}
	if p.Lease, err = leaseLength(req.Lease); err != nil {
		return err
	}
	queues := req.Queues
	if len(queues) == 0 {
		queues = []string{"default"}
	}
	resp := leasesResponse{Leases: []leaseJSON{}}
	err = s.longPoll(w, r, wait, rota.EventFilter{Kinds: req.Kinds, Queues: queues}, func(ctx context.Context) (bool, error) {
		ls, err := s.client.Lease(ctx, p)
		if err != nil {
			return false, err
		}
		for _, l := range ls {
			resp.Leases = append(resp.Leases, leaseJSON{Token: l.Token, Deadline: l.Deadline, Job: toJob(l.Job)})
		}
		return len(ls) > 0, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// heartbeat is POST /v1/leases/heartbeat: extend a lease; learn of an abort.
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) error {
	var req heartbeatRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	d, err := leaseLength(req.Lease)
	if err != nil {
		return err
	}
	st, err := s.client.ExtendLease(r.Context(), req.Token, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, heartbeatResponse{Deadline: st.Deadline, AbortRequested: st.AbortRequested})
	return nil
}

// completeLease is POST /v1/leases/complete.
func (s *Server) completeLease(w http.ResponseWriter, r *http.Request) error {
	var req leaseCompleteRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	var result any
	if !absent(req.Result) {
		result = req.Result
	}
	j, err := s.client.CompleteLease(r.Context(), req.Token, result)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, leaseJobResponse{Job: toJobDetail(j)})
	return nil
}

// failLease is POST /v1/leases/fail.
func (s *Server) failLease(w http.ResponseWriter, r *http.Request) error {
	var req leaseFailRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	delay, err := parseDuration("retry_after", req.RetryAfter)
	if err != nil {
		return err
	}
	if !absent(req.RetryAfter) && delay <= 0 {
		return invalid("retry_after", "want a positive delay, not %s", delay)
	}
	j, err := s.client.FailLease(r.Context(), req.Token, rota.LeaseFailure{Error: req.Error, RetryAfter: delay, Final: req.Final})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, leaseJobResponse{Job: toJobDetail(j)})
	return nil
}

// snoozeLease is POST /v1/leases/snooze.
func (s *Server) snoozeLease(w http.ResponseWriter, r *http.Request) error {
	var req leaseSnoozeRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if absent(req.Delay) {
		return invalid("delay", "required: how long to snooze")
	}
	delay, err := parseDuration("delay", req.Delay)
	if err != nil {
		return err
	}
	j, err := s.client.SnoozeLease(r.Context(), req.Token, delay)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, leaseJobResponse{Job: toJobDetail(j)})
	return nil
}
