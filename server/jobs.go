package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apicursor"
	"github.com/rotahq/rota/internal/apiwire"
	"github.com/rotahq/rota/store"
)

// listQuery is what GET /v1/jobs reads.
func listQuery() []string {
	return []string{"state", "kind", "queue", "key", "metadata", "created_from", "created_to",
		"run_at_from", "run_at_to", "limit", "order", "cursor"}
}

// enqueue is POST /v1/jobs: one job.
func (s *Server) enqueue(w http.ResponseWriter, r *http.Request) error {
	var req apiwire.EnqueueRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	return s.enqueueOne(w, r, &req)
}

func (s *Server) enqueueOne(w http.ResponseWriter, r *http.Request, req *apiwire.EnqueueRequest) error {
	p, err := enqueueParams(req, "")
	if err != nil {
		return err
	}
	j, err := s.client.EnqueueParams(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJob(j))
	return nil
}

// batchRequest is POST /v1/jobs/batch. Items are decoded one by one so
// that errors name their index.
type batchRequest struct {
	Jobs []json.RawMessage `json:"jobs"`
}

// enqueueBatch is POST /v1/jobs/batch: all jobs or none.
func (s *Server) enqueueBatch(w http.ResponseWriter, r *http.Request) error {
	var req batchRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	switch {
	case len(req.Jobs) == 0:
		return invalid("jobs", "want at least one job")
	case len(req.Jobs) > s.opts.MaxBatchJobs:
		return invalid("jobs", "%d jobs is over the limit of %d per batch", len(req.Jobs), s.opts.MaxBatchJobs)
	}
	ps := make([]rota.EnqueueParams, len(req.Jobs))
	for i, raw := range req.Jobs {
		prefix := fmt.Sprintf("jobs[%d].", i)
		var item apiwire.EnqueueRequest
		if err := decodeJSON(bytes.NewReader(raw), &item, false, prefix); err != nil {
			return err
		}
		p, err := enqueueParams(&item, prefix)
		if err != nil {
			return err
		}
		ps[i] = p
	}
	jobs, err := s.client.EnqueueMany(r.Context(), ps)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiwire.JobList{Jobs: toJobs(jobs)})
	return nil
}

// listJobs is GET /v1/jobs.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	q, err := newQuery(r, listQuery()...)
	if err != nil {
		return err
	}
	var p rota.ListParams
	for _, st := range q.all("state") {
		state := rota.State(st)
		if !state.Valid() {
			return invalid("state", "%q is not a state (%s)", st, stateNames())
		}
		p.States = append(p.States, state)
	}
	p.Kinds = q.all("kind")
	p.Queues = q.all("queue")
	if p.Key, err = q.one("key"); err != nil {
		return err
	}
	for _, kv := range q.v["metadata"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return invalid("metadata", "%q is not key=value", kv)
		}
		if p.Metadata == nil {
			p.Metadata = map[string]string{}
		}
		p.Metadata[k] = v
	}
	for _, tf := range []struct {
		name string
		out  *time.Time
	}{{"created_from", &p.CreatedFrom}, {"created_to", &p.CreatedTo}, {"run_at_from", &p.RunAtFrom}, {"run_at_to", &p.RunAtTo}} {
		if *tf.out, err = q.time(tf.name); err != nil {
			return err
		}
	}
	if !p.CreatedFrom.IsZero() && !p.CreatedTo.IsZero() && !p.CreatedFrom.Before(p.CreatedTo) {
		return invalid("created_to", "not after created_from")
	}
	if !p.RunAtFrom.IsZero() && !p.RunAtTo.IsZero() && !p.RunAtFrom.Before(p.RunAtTo) {
		return invalid("run_at_to", "not after run_at_from")
	}
	if p.Limit, err = q.int("limit", store.DefaultListLimit, 1, store.MaxListLimit); err != nil {
		return err
	}
	order, err := q.one("order")
	if err != nil {
		return err
	}
	switch order {
	case "", "desc":
		p.Desc = true
	case "asc":
	default:
		return invalid("order", "%q is not asc or desc", order)
	}
	cur, err := q.one("cursor")
	if err != nil {
		return err
	}
	if cur != "" {
		desc, after, err := decodeCursor(cur)
		if err != nil {
			return err
		}
		if order != "" && desc != p.Desc {
			return invalid("cursor", "the cursor belongs to order=%s, not %s", orderName(desc), order)
		}
		p.Desc, p.AfterID = desc, after
	}
	page, err := s.client.List(r.Context(), p)
	if err != nil {
		return err
	}
	resp := apiwire.JobList{Jobs: toJobs(page.Jobs)}
	if page.NextAfterID != 0 {
		resp.Next = encodeCursor(p.Desc, page.NextAfterID)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// encodeCursor makes the opaque cursor of the page after id.
func encodeCursor(desc bool, id int64) string { return apicursor.Jobs(desc, id) }

func decodeCursor(c string) (desc bool, id int64, err error) {
	desc, id, ok := apicursor.ParseJobs(c)
	if !ok {
		return false, 0, invalid("cursor", "not a cursor from a previous page's next")
	}
	return desc, id, nil
}

func orderName(desc bool) string { return apicursor.Order(desc) }

func stateNames() string {
	states := store.States()
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// getJob is GET /v1/jobs/{id}: the job with its attempts and result.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	j, err := s.client.Get(r.Context(), id)
	if err != nil {
		return s.jobError(r.Context(), id, "get", err)
	}
	writeJSON(w, http.StatusOK, toJobDetail(j))
	return nil
}

// abortJob is POST /v1/jobs/{id}/abort.
func (s *Server) abortJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req apiwire.AbortRequest
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	j, err := s.client.Abort(r.Context(), id, req.Reason)
	if err != nil {
		return s.jobError(r.Context(), id, "abort", err)
	}
	writeJSON(w, http.StatusOK, toJob(j))
	return nil
}

// abortByKey is POST /v1/jobs/abort: the active job of a kind and key.
func (s *Server) abortByKey(w http.ResponseWriter, r *http.Request) error {
	var req apiwire.AbortKeyRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	switch {
	case req.Kind == "":
		return invalid("kind", "required")
	case req.Key == "":
		return invalid("key", "required")
	}
	j, err := s.client.AbortKey(r.Context(), req.Kind, req.Key, req.Reason)
	if errors.Is(err, rota.ErrNotFound) {
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("no active %s job with key %q", req.Kind, req.Key), err: err}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJob(j))
	return nil
}

// jobAction is a POST (or DELETE) on one job with no body: retry, release, delete.
func (s *Server) jobAction(act func(context.Context, int64) (*rota.Job, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		var empty struct{}
		if err := decodeBody(r, &empty, true); err != nil {
			return err
		}
		j, err := act(r.Context(), id)
		if err != nil {
			return s.jobError(r.Context(), id, actionName(r), err)
		}
		writeJSON(w, http.StatusOK, toJob(j))
		return nil
	}
}

// actionName is the last path element, or "delete".
func actionName(r *http.Request) string {
	if r.Method == http.MethodDelete {
		return "delete"
	}
	return r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
}

// jobError words a failed action on job id: "job 7 not found", "cannot
// retry job 7: it is running".
func (s *Server) jobError(ctx context.Context, id int64, action string, err error) error {
	switch {
	case errors.Is(err, rota.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Field: "id", Message: fmt.Sprintf("job %d not found", id), err: err}
	case errors.Is(err, rota.ErrConflict):
		if j, gerr := s.client.Get(ctx, id); gerr == nil {
			return &apiError{Status: http.StatusConflict, Code: CodeConflict,
				Message: fmt.Sprintf("cannot %s job %d: it is %s", action, id, j.State), err: err}
		}
	}
	return err
}

// completeRequest is POST /v1/jobs/{id}/complete: end a popped job done.
type completeRequest struct {
	// Attempt is the popped attempt (the job's attempt when popped).
	Attempt int             `json:"attempt"`
	Result  json.RawMessage `json:"result"`
}

// failRequest is POST /v1/jobs/{id}/fail: end a popped job's attempt
// otherwise.
type failRequest struct {
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
	// RetryAfter puts the job back for later without counting the attempt.
	RetryAfter json.RawMessage `json:"retry_after"`
	// Permanent ends the job in error at once.
	Permanent bool `json:"permanent"`
	// Cancel ends the job aborted.
	Cancel bool `json:"cancel"`
}

// completeJob is POST /v1/jobs/{id}/complete.
func (s *Server) completeJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req completeRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	j, err := s.poppedAttempt(r.Context(), id, req.Attempt, "complete")
	if err != nil {
		return err
	}
	var result any
	if len(req.Result) > 0 && string(req.Result) != "null" {
		result = req.Result
	}
	if err := s.client.Complete(r.Context(), j, result); err != nil {
		return s.jobError(r.Context(), id, "complete", err)
	}
	s.popped.remove(id, req.Attempt)
	return s.writeJob(w, r, id)
}

// failJob is POST /v1/jobs/{id}/fail.
func (s *Server) failJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req failRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	delay, err := parseDuration("retry_after", req.RetryAfter)
	if err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{len(req.RetryAfter) > 0 && string(req.RetryAfter) != "null", req.Permanent, req.Cancel} {
		if set {
			n++
		}
	}
	switch {
	case delay < 0:
		return invalid("retry_after", "%s is negative", delay)
	case n > 1:
		return invalid("retry_after", "give at most one of retry_after, permanent and cancel")
	}
	j, err := s.poppedAttempt(r.Context(), id, req.Attempt, "fail")
	if err != nil {
		return err
	}
	msg := req.Error
	if msg == "" {
		msg = "failed"
	}
	var ferr error
	switch {
	case n == 1 && req.Permanent:
		ferr = rota.Fail(errors.New(msg))
	case n == 1 && req.Cancel:
		ferr = rota.Cancel(req.Error)
	case n == 1:
		ferr = rota.RetryAfter(delay)
	default:
		ferr = errors.New(msg)
	}
	if err := s.client.FailJob(r.Context(), j, ferr); err != nil {
		return s.jobError(r.Context(), id, "fail", err)
	}
	s.popped.remove(id, req.Attempt)
	return s.writeJob(w, r, id)
}

// poppedAttempt returns job id if it runs attempt, an attempt that this
// server handed out with a pop: a job that a worker claimed cannot be
// ended through the API.
func (s *Server) poppedAttempt(ctx context.Context, id int64, attempt int, action string) (*rota.Job, error) {
	if attempt < 1 {
		return nil, invalid("attempt", "want the attempt of the popped job (1 or more)")
	}
	// The job first: a job that is not there is a 404, and one that no
	// longer runs the attempt says so, whoever popped it.
	j, err := s.client.Get(ctx, id)
	if err != nil {
		return nil, s.jobError(ctx, id, action, err)
	}
	if j.State != rota.StateRunning || j.Attempt != attempt {
		return nil, &apiError{Status: http.StatusConflict, Code: CodeConflict, Field: "attempt",
			Message: fmt.Sprintf("cannot %s job %d attempt %d: the job is %s at attempt %d", action, id, attempt, j.State, j.Attempt)}
	}
	if !s.popped.has(id, attempt) {
		return nil, &apiError{Status: http.StatusConflict, Code: CodeConflict, Field: "attempt",
			Message: fmt.Sprintf("cannot %s job %d attempt %d: this server did not pop it (only popped attempts end here)", action, id, attempt)}
	}
	return j, nil
}

// writeJob writes job id as it is now.
func (s *Server) writeJob(w http.ResponseWriter, r *http.Request, id int64) error {
	j, err := s.client.Get(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJob(j))
	return nil
}
