package remote

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apicursor"
	"github.com/rotahq/rota/internal/apiwire"
	"github.com/rotahq/rota/store"
)

// toJob converts a job the API wrote, with its attempts (nil when the
// answer has none).
func toJob(w *apiwire.Job, attempts []apiwire.Attempt) (*rota.Job, error) {
	timeout, err := parseDuration("timeout", w.Timeout)
	if err != nil {
		return nil, err
	}
	j := &rota.Job{Job: store.Job{
		ID: w.ID, Kind: w.Kind, Queue: w.Queue, Args: w.Args, Priority: w.Priority, RunAt: w.RunAt, State: w.State,
		Key: w.Key, Metadata: w.Metadata, Attempt: w.Attempt, MaxAttempts: w.MaxAttempts, Timeout: timeout,
		Result: w.Result, LastError: w.LastError, Node: w.Node, LeaseUntil: w.LeaseUntil,
		CancelRequested: w.CancelRequested, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
		StartedAt: w.StartedAt, FinishedAt: w.FinishedAt,
	}, Duplicate: w.Duplicate}
	if attempts != nil {
		j.Attempts = make([]rota.Attempt, len(attempts))
		for i, a := range attempts {
			j.Attempts[i] = rota.Attempt{Number: a.Number, Node: a.Node, StartedAt: a.StartedAt,
				FinishedAt: a.FinishedAt, Outcome: a.Outcome, Error: a.Error, Location: a.Location}
		}
	}
	return j, nil
}

// EnqueueParams enqueues one job (POST /v1/jobs). With a key and the
// default policy, the answer may be the existing job of the key.
func (c *Client) EnqueueParams(ctx context.Context, p rota.EnqueueParams) (*rota.Job, error) {
	args, err := marshalArgs(p.Args)
	if err != nil {
		return nil, err
	}
	req := apiwire.EnqueueRequest{Kind: p.Kind, Args: args, Queue: p.Queue, Priority: p.Priority, Hold: p.Hold,
		Key: p.Key, OnConflict: string(p.OnConflict), Metadata: p.Metadata, UserRequested: p.UserRequested}
	if p.MaxAttempts != 0 {
		req.MaxAttempts = &p.MaxAttempts
	}
	if !p.RunAt.IsZero() {
		req.RunAt = new(p.RunAt.Format(time.RFC3339Nano)) // as time.Time marshals
	}
	if p.Delay != 0 {
		req.Delay = durationJSON(p.Delay)
	}
	if p.Timeout != 0 {
		req.Timeout = durationJSON(p.Timeout)
	}
	return c.jobCall(ctx, "POST", "/v1/jobs", req)
}

// jobCall sends a request whose answer is one job.
func (c *Client) jobCall(ctx context.Context, method, path string, body any) (*rota.Job, error) {
	var w apiwire.JobDetail
	if err := c.call(ctx, method, path, nil, body, &w); err != nil {
		return nil, err
	}
	return toJob(&w.Job, w.Attempts)
}

func jobPath(id int64, action string) string {
	p := "/v1/jobs/" + strconv.FormatInt(id, 10)
	if action != "" {
		p += "/" + action
	}
	return p
}

// Get returns a job with its attempts and result (GET /v1/jobs/{id}).
func (c *Client) Get(ctx context.Context, id int64) (*rota.Job, error) {
	return c.jobCall(ctx, "GET", jobPath(id, ""), nil)
}

// Abort aborts a job (POST /v1/jobs/{id}/abort); a running one is asked
// to stop.
func (c *Client) Abort(ctx context.Context, id int64, reason string) (*rota.Job, error) {
	return c.jobCall(ctx, "POST", jobPath(id, "abort"), apiwire.AbortRequest{Reason: reason})
}

// AbortKey aborts the active job of kind and key (POST /v1/jobs/abort).
func (c *Client) AbortKey(ctx context.Context, kind, key, reason string) (*rota.Job, error) {
	return c.jobCall(ctx, "POST", "/v1/jobs/abort", apiwire.AbortKeyRequest{Kind: kind, Key: key, Reason: reason})
}

// Retry runs a finished, failed or waiting job again now.
func (c *Client) Retry(ctx context.Context, id int64) (*rota.Job, error) {
	return c.jobCall(ctx, "POST", jobPath(id, "retry"), nil)
}

// Release lets a held (ready) job run.
func (c *Client) Release(ctx context.Context, id int64) (*rota.Job, error) {
	return c.jobCall(ctx, "POST", jobPath(id, "release"), nil)
}

// Delete deletes a job that is not running (an admin token's).
func (c *Client) Delete(ctx context.Context, id int64) (*rota.Job, error) {
	return c.jobCall(ctx, "DELETE", jobPath(id, ""), nil)
}

// List returns a page of jobs (GET /v1/jobs) for the same parameters as
// rota.Client.List: AfterID and Desc page as there.
func (c *Client) List(ctx context.Context, p rota.ListParams) (rota.ListPage, error) {
	q := url.Values{}
	for _, s := range p.States {
		q.Add("state", string(s))
	}
	for _, k := range p.Kinds {
		q.Add("kind", k)
	}
	for _, name := range p.Queues {
		q.Add("queue", name)
	}
	if p.Key != "" {
		q.Set("key", p.Key)
	}
	for k, v := range p.Metadata {
		q.Add("metadata", k+"="+v)
	}
	for _, tf := range []struct {
		name string
		t    time.Time
	}{{"created_from", p.CreatedFrom}, {"created_to", p.CreatedTo}, {"run_at_from", p.RunAtFrom}, {"run_at_to", p.RunAtTo}} {
		if !tf.t.IsZero() {
			q.Set(tf.name, tf.t.Format(time.RFC3339Nano))
		}
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(min(p.Limit, store.MaxListLimit)))
	}
	q.Set("order", apicursor.Order(p.Desc))
	if p.AfterID > 0 {
		q.Set("cursor", apicursor.Jobs(p.Desc, p.AfterID))
	}
	var w apiwire.JobList
	if err := c.call(ctx, "GET", "/v1/jobs", q, nil, &w); err != nil {
		return rota.ListPage{}, err
	}
	page := rota.ListPage{}
	for i := range w.Jobs {
		j, err := toJob(&w.Jobs[i], nil)
		if err != nil {
			return rota.ListPage{}, err
		}
		page.Jobs = append(page.Jobs, j)
	}
	if w.Next != "" {
		_, id, ok := apicursor.ParseJobs(w.Next)
		if !ok {
			return rota.ListPage{}, fmt.Errorf("rota remote: the server's next cursor %q is not one this client reads", w.Next)
		}
		page.NextAfterID = id
	}
	return page, nil
}
