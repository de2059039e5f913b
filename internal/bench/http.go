package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the workloads over HTTP (RunHTTP): smaller than in-process,
// since every job costs requests.
const (
	DefaultHTTPThroughputJobs = 20_000
	DefaultHTTPWorkers        = 16
	// HTTPLeaseBatch is how many jobs a remote worker leases at once.
	HTTPLeaseBatch         = 100
	DefaultHTTPLatencyJobs = 1_000
	DefaultHTTPEvery       = 10 * time.Millisecond
	DefaultHTTPEnqueueJobs = 20_000
	DefaultHTTPConcurrency = 32
	// httpBatch is the enqueue batch of the throughput workload's inserts.
	httpBatch = 1_000
	// httpWait is the long poll of the remote workers.
	httpWait = "10s"
)

// HTTPRun is a workload's run through the HTTP API of a `rota serve`: its
// jobs go to a fresh queue named bench-<random> (Queue), which Cleanup
// empties after the run.
type HTTPRun struct {
	base   string
	token  string
	client *http.Client
	queue  string

	mu sync.Mutex
	// held maps the token of each lease the run's workers hold (leased,
	// not yet completed) to its job: Cleanup fails them.
	held map[string]int64
}

// statusError is an answer of the server other than 200.
type statusError struct {
	method, path string
	status       int
	body         []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, bytes.TrimSpace(e.body))
}

// call POSTs (or GETs, with body "") path and decodes a 200 answer into
// v; another status is a *statusError.
func (h *HTTPRun) call(ctx context.Context, method, path, body string, v any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return err
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{method: method, path: path, status: resp.StatusCode, body: b}
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// hasStatus reports whether err is an answer of the server with status.
func hasStatus(err error, status int) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == status
}

// hold records leases the run's workers hold, and release (held false)
// leases they have ended.
func (h *HTTPRun) hold(held bool, ls ...httpLease) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range ls {
		if held {
			h.held[l.Token] = l.Job.ID
		} else {
			delete(h.held, l.Token)
		}
	}
}

// httpLease is what a remote worker reads of a lease.
type httpLease struct {
	Token string `json:"token"`
	Job   struct {
		ID   int64           `json:"id"`
		Args json.RawMessage `json:"args"`
	} `json:"job"`
}

// lease takes up to max jobs of the bench's queue, long-polling.
func (h *HTTPRun) lease(ctx context.Context, max int) ([]httpLease, error) {
	var resp struct {
		Leases []httpLease `json:"leases"`
	}
	body := fmt.Sprintf(`{"kinds":[%q],"queues":[%q],"max":%d,"wait":%q,"worker":"rota-bench"}`, Kind, h.queue, max, httpWait)
	if err := h.call(ctx, "POST", "/v1/leases", body, &resp); err != nil {
		return nil, err
	}
	h.hold(true, resp.Leases...)
	return resp.Leases, nil
}

// completeAll completes the leases ls in one POST /v1/leases/complete/batch;
// an item refused is an error (the bench's leases are all live).
func (h *HTTPRun) completeAll(ctx context.Context, ls []httpLease) error {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		tok, _ := json.Marshal(l.Token)
		b.WriteString(`{"token":`)
		b.Write(tok)
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	var resp struct {
		Results []struct {
			ID    int64           `json:"id"`
			Error json.RawMessage `json:"error"`
		} `json:"results"`
	}
	if err := h.call(ctx, "POST", "/v1/leases/complete/batch", b.String(), &resp); err != nil {
		return err
	}
	if len(resp.Results) != len(ls) {
		return fmt.Errorf("complete batch: %d results for %d leases", len(resp.Results), len(ls))
	}
	for i, r := range resp.Results {
		if len(r.Error) > 0 {
			return fmt.Errorf("complete batch: job %d: %s", r.ID, r.Error)
		}
		h.hold(false, ls[i])
	}
	return nil
}

func (h *HTTPRun) complete(ctx context.Context, l httpLease) error {
	b, _ := json.Marshal(l.Token)
	if err := h.call(ctx, "POST", "/v1/leases/complete", `{"token":`+string(b)+`}`, nil); err != nil {
		return err
	}
	h.hold(false, l)
	return nil
}

// NewHTTPRun returns a run through the HTTP API of a `rota serve` at base
// (http://host:port), with token as its bearer token ("" for none), in a
// fresh queue named bench-<random>. Close it when done.
func NewHTTPRun(base, token string) *HTTPRun {
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	return &HTTPRun{
		base:  strings.TrimSuffix(base, "/"),
		token: token,
		queue: "bench-" + hex.EncodeToString(suffix[:]),
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute,
		}},
		held: make(map[string]int64),
	}
}

// Queue is the name of the run's queue.
func (h *HTTPRun) Queue() string { return h.queue }

// Close closes the run's idle connections.
func (h *HTTPRun) Close() { h.client.CloseIdleConnections() }

// Run runs one workload: jobs are enqueued over HTTP and worked by
// remote workers speaking the lease protocol, in the run's queue.
// Workloads: throughput (insert in batches, then workers lease
// HTTPLeaseBatch jobs at a time and complete them in one POST
// /v1/leases/complete/batch), latency (one long-polling worker;
// insert-to-start is from before the enqueue request to the lease's
// answer) and enqueue (single-job requests from Concurrency goroutines).
// Its workers have stopped when it returns, but may still hold leases if
// it failed: Cleanup ends them.
func (h *HTTPRun) Run(ctx context.Context, p Params) (Result, error) {
	res := Result{Workload: p.Workload, Store: "http", Queue: h.queue}
	var err error
	switch p.Workload {
	case Throughput:
		err = h.throughput(ctx, p, &res)
	case Latency:
		err = h.latency(ctx, p, &res)
	case Enqueue:
		err = h.enqueue(ctx, p, &res)
	default:
		return res, fmt.Errorf("workload: %q is not one of throughput, latency, enqueue (over HTTP)", p.Workload)
	}
	res.MaxRSSMB = maxRSSMB()
	return res, err
}

// CheckCleanup's answers when the run could not clean up: the server
// does not know the token (401), or its role may not delete jobs (403: a
// token of role read or write).
var (
	ErrTokenRefused     = errors.New("the server does not accept the token")
	ErrCleanupForbidden = errors.New("the token may not delete jobs")
)

// CheckCleanup asks the server, before a run, whether the run's token may
// delete jobs, as Cleanup will: a DELETE of job 0, which no job has, is
// refused (401 or 403) before the server looks for the job when the token
// may not, and answered 400 or 404 when it may. A refusal wraps
// ErrTokenRefused or ErrCleanupForbidden; nothing is changed on the
// server either way.
func (h *HTTPRun) CheckCleanup(ctx context.Context) error {
	err := h.call(ctx, "DELETE", "/v1/jobs/0", "", nil)
	switch {
	case hasStatus(err, http.StatusUnauthorized):
		return fmt.Errorf("%w (%w)", ErrTokenRefused, err)
	case hasStatus(err, http.StatusForbidden):
		return fmt.Errorf("%w (%w)", ErrCleanupForbidden, err)
	case err == nil, hasStatus(err, http.StatusNotFound), hasStatus(err, http.StatusBadRequest):
		return nil
	}
	return err
}

// cleanupConcurrency is how many requests Cleanup sends at once.
const cleanupConcurrency = 16

// Cleanup removes what the run left on the server, and returns how many
// jobs it deleted. It fails the leases the run's workers still hold
// (final: their jobs end in error), then deletes every job of the run's
// queue, one DELETE /v1/jobs/{id} each (the API has no bulk delete; it
// needs a token of role admin). The queue has no settings, so once its
// jobs are gone the server no longer lists it. Jobs it cannot delete (on
// a lease the run never saw, its request cut short, they run until the
// lease runs out) are counted in the error, as is a failure (a token of
// role write: 403); the jobs not reached then are left too.
func (h *HTTPRun) Cleanup(ctx context.Context) (int, error) {
	h.mu.Lock()
	held := make([]string, 0, len(h.held))
	for tok := range h.held {
		held = append(held, tok)
	}
	h.mu.Unlock()
	err := forEachConcurrently(ctx, held, func(ctx context.Context, tok string) error {
		b, _ := json.Marshal(tok)
		err := h.call(ctx, "POST", "/v1/leases/fail", `{"token":`+string(b)+`,"error":"rota bench ended before completing it","final":true}`, nil)
		if hasStatus(err, http.StatusConflict) { // the lease had ended (lease_lost)
			err = nil
		}
		if err == nil {
			h.hold(false, httpLease{Token: tok})
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("end the run's leases of queue %s: %w", h.queue, err)
	}
	// Passes over the queue until one finds nothing to delete: an enqueue
	// the run gave up on may still be committed after the first.
	deleted := 0
	for {
		n, running, err := h.deleteJobs(ctx)
		deleted += n
		switch {
		case err != nil:
			return deleted, fmt.Errorf("delete the jobs of queue %s: %w", h.queue, err)
		case n > 0:
			continue
		case running > 0:
			return deleted, fmt.Errorf("%d jobs of queue %s are running on leases the run lost: they end in error when their leases run out (then rota jobs delete them)", running, h.queue)
		}
		return deleted, nil
	}
}

// deleteJobs deletes the jobs of the run's queue, page by page, and
// returns how many it deleted and how many it could not, running.
func (h *HTTPRun) deleteJobs(ctx context.Context) (deleted, running int, err error) {
	var nDeleted, nRunning atomic.Int64
	q := url.Values{"queue": {h.queue}, "limit": {strconv.Itoa(cleanupPage)}}
	for {
		var page struct {
			Jobs []struct {
				ID int64 `json:"id"`
			} `json:"jobs"`
			Next string `json:"next"`
		}
		if err := h.call(ctx, "GET", "/v1/jobs?"+q.Encode(), "", &page); err != nil {
			return int(nDeleted.Load()), int(nRunning.Load()), err
		}
		ids := make([]int64, len(page.Jobs))
		for i, j := range page.Jobs {
			ids[i] = j.ID
		}
		err := forEachConcurrently(ctx, ids, func(ctx context.Context, id int64) error {
			err := h.call(ctx, "DELETE", fmt.Sprintf("/v1/jobs/%d", id), "", nil)
			switch {
			case err == nil:
				nDeleted.Add(1)
			case hasStatus(err, http.StatusConflict): // running
				nRunning.Add(1)
			case hasStatus(err, http.StatusNotFound): // gone already
			default:
				return err
			}
			return nil
		})
		if err != nil || page.Next == "" {
			return int(nDeleted.Load()), int(nRunning.Load()), err
		}
		q.Set("cursor", page.Next)
	}
}

// cleanupPage is how many jobs Cleanup lists at a time.
const cleanupPage = 1000

// forEachConcurrently calls f for each item, cleanupConcurrency at a
// time, and returns the first error; after one, the items not started
// are left.
func forEachConcurrently[T any](ctx context.Context, items []T, f func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan T)
	var wg sync.WaitGroup
	for range min(cleanupConcurrency, len(items)) {
		wg.Go(func() {
			for it := range next {
				if err := f(ctx, it); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case next <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// jobJSON is one job to enqueue in the bench's queue.
func (h *HTTPRun) jobJSON(args string) string {
	return fmt.Sprintf(`{"kind":%q,"queue":%q,"max_attempts":1,"args":%s}`, Kind, h.queue, args)
}

func (h *HTTPRun) throughput(ctx context.Context, p Params, res *Result) error {
	n := orDefault(p.Jobs, DefaultHTTPThroughputJobs)
	workers := orDefault(p.Workers, DefaultHTTPWorkers)
	res.Jobs, res.Workers = n, workers
	for i := 0; i < n; i += httpBatch {
		var b strings.Builder
		b.WriteString(`{"jobs":[`)
		for j := i; j < min(n, i+httpBatch); j++ {
			if j > i {
				b.WriteByte(',')
			}
			b.WriteString(h.jobJSON(`{}`))
		}
		b.WriteString(`]}`)
		if err := h.call(ctx, "POST", "/v1/jobs/batch", b.String(), nil); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
	}
	stopHeap := make(chan struct{})
	heapPeak := heapWatch(stopHeap)
	var done atomic.Int64
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for done.Load() < int64(n) {
				ls, err := h.lease(wctx, HTTPLeaseBatch)
				if err != nil {
					if wctx.Err() == nil {
						errs <- err
						cancel()
					}
					return
				}
				if len(ls) == 0 {
					continue
				}
				if err := h.completeAll(wctx, ls); err != nil {
					if wctx.Err() == nil {
						errs <- err
						cancel()
					}
					return
				}
				if done.Add(int64(len(ls))) == int64(n) {
					cancel() // the others stop waiting
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopHeap)
	res.HeapMaxMB = heapPeak()
	select {
	case err := <-errs:
		return err
	default:
	}
	if got := done.Load(); got != int64(n) {
		return fmt.Errorf("bench: %d of %d jobs completed", got, n)
	}
	res.Seconds = elapsed.Seconds()
	res.JobsPerS = float64(n) / elapsed.Seconds()
	return h.verifyDone(ctx, n)
}

// verifyDone checks through the API that the bench's queue holds n done jobs.
func (h *HTTPRun) verifyDone(ctx context.Context, n int) error {
	var qs struct {
		Queues []struct {
			Name   string           `json:"name"`
			Counts map[string]int64 `json:"counts"`
		} `json:"queues"`
	}
	if err := h.call(ctx, "GET", "/v1/queues", "", &qs); err != nil {
		return err
	}
	for _, q := range qs.Queues {
		if q.Name == h.queue {
			if q.Counts["done"] != int64(n) {
				return fmt.Errorf("bench: %d of %d jobs done in %s", q.Counts["done"], n, h.queue)
			}
			return nil
		}
	}
	return fmt.Errorf("bench: queue %s not found", h.queue)
}

func (h *HTTPRun) latency(ctx context.Context, p Params, res *Result) error {
	n := orDefault(p.Jobs, DefaultHTTPLatencyJobs)
	every := p.Every
	if every <= 0 {
		every = DefaultHTTPEvery
	}
	res.Jobs, res.Workers = n, 1
	sent := make([]atomic.Int64, n) // unix nanos before each enqueue request
	lat := make([]time.Duration, n)
	stopHeap := make(chan struct{})
	heapPeak := heapWatch(stopHeap)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The warm-up job (LatencyWarmUp): enqueued, leased and completed
	// before the clock starts.
	if err := h.call(ctx, "POST", "/v1/jobs", h.jobJSON(`{"i":-1}`), nil); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	if ls, err := h.lease(ctx, 1); err != nil || len(ls) != 1 {
		return errors.Join(fmt.Errorf("bench: the warm-up job was not leased (%d leases)", len(ls)), err)
	} else if err := h.complete(ctx, ls[0]); err != nil {
		return err
	}
	werr := make(chan error, 1)
	stopped := make(chan struct{})
	// An early return stops the worker and waits for it, so that its
	// leases are settled (completed or held) before a Cleanup.
	defer func() {
		cancel()
		<-stopped
	}()
	go func() {
		defer close(stopped)
		// The worker's lease loop does not wait for its completes: they
		// run beside it, as a real worker's jobs do (the Python worker's
		// loop leases while its jobs run), so a job enqueued while the
		// previous one is being completed finds the worker waiting.
		var completes background
		got := 0
		for got < n {
			ls, err := h.lease(wctx, 1)
			if err != nil {
				werr <- errors.Join(err, completes.wait())
				return
			}
			now := time.Now()
			for _, l := range ls {
				var a struct {
					I int `json:"i"`
				}
				if err := json.Unmarshal(l.Job.Args, &a); err != nil || a.I < 0 || a.I >= n {
					werr <- errors.Join(fmt.Errorf("bench: job %d: bad args %s", l.Job.ID, l.Job.Args), completes.wait())
					return
				}
				lat[a.I] = now.Sub(time.Unix(0, sent[a.I].Load()))
				completes.do(func() error { return h.complete(wctx, l) })
				got++
			}
		}
		werr <- completes.wait()
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	start := time.Now()
	for i := range n {
		sent[i].Store(time.Now().UnixNano())
		if err := h.call(ctx, "POST", "/v1/jobs", h.jobJSON(fmt.Sprintf(`{"i":%d}`, i)), nil); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		if i == n-1 {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		case err := <-werr:
			if err == nil {
				err = fmt.Errorf("bench: the worker stopped early")
			}
			return err
		}
	}
	if err := <-werr; err != nil {
		return err
	}
	elapsed := time.Since(start)
	close(stopHeap)
	res.HeapMaxMB = heapPeak()
	res.Seconds = elapsed.Seconds()
	res.JobsPerS = float64(n) / elapsed.Seconds()
	res.P50Ms, res.P99Ms, res.MaxMs = percentiles(lat)
	return h.verifyDone(ctx, n+LatencyWarmUp)
}

func (h *HTTPRun) enqueue(ctx context.Context, p Params, res *Result) error {
	n := orDefault(p.Jobs, DefaultHTTPEnqueueJobs)
	conc := orDefault(p.Concurrency, DefaultHTTPConcurrency)
	res.Jobs, res.Concurrency = n, conc
	stopHeap := make(chan struct{})
	heapPeak := heapWatch(stopHeap)
	var next atomic.Int64
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	body := h.jobJSON(`{}`)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := h.call(ctx, "POST", "/v1/jobs", body, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopHeap)
	res.HeapMaxMB = heapPeak()
	select {
	case err := <-errs:
		return err
	default:
	}
	res.Seconds = elapsed.Seconds()
	res.JobsPerS = float64(n) / elapsed.Seconds()
	var qs struct {
		Queues []struct {
			Name   string           `json:"name"`
			Counts map[string]int64 `json:"counts"`
		} `json:"queues"`
	}
	if err := h.call(ctx, "GET", "/v1/queues", "", &qs); err != nil {
		return err
	}
	for _, q := range qs.Queues {
		if q.Name == h.queue {
			var total int64
			for _, c := range q.Counts {
				total += c
			}
			if total != int64(n) {
				return fmt.Errorf("bench: %d of %d jobs stored in %s", total, n, h.queue)
			}
			return nil
		}
	}
	return fmt.Errorf("bench: queue %s not found", h.queue)
}

// background runs functions in goroutines and keeps the first error.
type background struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	first error
}

func (g *background) do(f func() error) {
	g.wg.Go(func() {
		if err := f(); err != nil {
			g.mu.Lock()
			if g.first == nil {
				g.first = err
			}
			g.mu.Unlock()
		}
	})
}

// wait waits for every function and returns the first error.
func (g *background) wait() error {
	g.wg.Wait()
	return g.first
}
