package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// enqueueHTTP enqueues a job of kind over HTTP and returns its id.
func (p *serveProc) enqueueHTTP(t *testing.T, kind string) int64 {
	t.Helper()
	resp, err := http.Post(p.base+"/v1/jobs", "application/json", strings.NewReader(fmt.Sprintf(`{"kind":%q,"queue":"idle"}`, kind)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j struct {
		ID int64 `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || resp.StatusCode != http.StatusOK || j.ID == 0 {
		t.Fatalf("enqueue: status %d, %v", resp.StatusCode, err)
	}
	return j.ID
}

// streamEvent is one SSE event of GET /v1/events.
type streamEvent struct {
	id    int64
	typ   string
	jobID int64
	to    string
}

// openEvents opens GET /v1/events, with Last-Event-ID lastID when it is
// not negative, and returns its events and a function that closes it.
func (p *serveProc) openEvents(t *testing.T, lastID int64) (<-chan streamEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /v1/events: %v %v", resp, err)
	}
	ch := make(chan streamEvent, 100)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev streamEvent
		for sc.Scan() {
			field, value, _ := strings.Cut(sc.Text(), ": ")
			switch field {
			case "id":
				ev.id, _ = strconv.ParseInt(value, 10, 64)
			case "event":
				ev.typ = value
			case "data":
				var d struct {
					JobID int64  `json:"job_id"`
					To    string `json:"to"`
				}
				_ = json.Unmarshal([]byte(value), &d)
				ev.jobID, ev.to = d.JobID, d.To
			case "":
				if ev.typ != "" {
					ch <- ev
				}
				ev = streamEvent{}
			}
		}
	}()
	stop := func() { cancel() }
	t.Cleanup(stop)
	return ch, stop
}

// nextEvent returns the next event of ch.
func nextEvent(t *testing.T, ch <-chan streamEvent) streamEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for an event")
	}
	return streamEvent{}
}

// TestEventsResumeAcrossRestart: a stream resumed with Last-Event-ID after
// rota serve restarted gets exactly the events it missed: those the first
// process logged after the stream went away, and those of the second.
func TestEventsResumeAcrossRestart(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, e *env, driver string) {
		first := startServe(t, e)
		events, closeStream := first.openEvents(t, -1)
		var last int64
		for range 3 {
			id := first.enqueueHTTP(t, "e2e.wait")
			ev := nextEvent(t, events)
			if ev.typ != "job" || ev.jobID != id || ev.to != "queued" {
				t.Fatalf("event %+v, want job %d queued", ev, id)
			}
			last = ev.id
		}
		closeStream()
		// Missed: two jobs while no stream listens, a restart, one more.
		missed := []int64{first.enqueueHTTP(t, "e2e.wait"), first.enqueueHTTP(t, "e2e.wait")}
		first.stop(t)
		second := startServe(t, e)
		missed = append(missed, second.enqueueHTTP(t, "e2e.wait"))

		resumed, _ := second.openEvents(t, last)
		for i, id := range missed {
			ev := nextEvent(t, resumed)
			if ev.typ != "job" || ev.jobID != id || ev.id != last+int64(i)+1 {
				t.Fatalf("resumed event %d: %+v, want id %d of job %d", i, ev, last+int64(i)+1, id)
			}
		}
		// Then nothing old again: the next event is a new job's.
		marker := second.enqueueHTTP(t, "e2e.wait")
		if ev := nextEvent(t, resumed); ev.jobID != marker || ev.id != last+int64(len(missed))+1 {
			t.Fatalf("after the missed events: %+v, want job %d", ev, marker)
		}
		second.stop(t)
	}, "ROTA_LOG_LEVEL=info")
}

// TestEventsOfCLICommands: the job events of a command run on the store
// (not through --server) reach the event streams of a rota serve on that
// store, through the durable event log; with ROTA_EVENT_LOG=off the
// command logs none. (Only changes made through the server were shown.)
func TestEventsOfCLICommands(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, e *env, driver string) {
		p := startServe(t, e)
		events, _ := p.openEvents(t, -1)
		var job struct {
			ID int64 `json:"id"`
		}
		e.jsonOut(&job, "enqueue", "e2e.wait", "{}", "--queue", "idle")
		if ev := nextEvent(t, events); ev.typ != "job" || ev.jobID != job.ID || ev.to != "queued" {
			t.Fatalf("event %+v, want job %d queued", ev, job.ID)
		}
		e.ok("jobs", "abort", strconv.FormatInt(job.ID, 10))
		if ev := nextEvent(t, events); ev.typ != "job" || ev.jobID != job.ID || ev.to != "aborted" {
			t.Fatalf("event %+v, want job %d aborted", ev, job.ID)
		}

		off := *e
		off.vars = append(append([]string(nil), e.vars...), "ROTA_EVENT_LOG=off")
		off.jsonOut(&job, "enqueue", "e2e.wait", "{}", "--queue", "idle")
		marker := p.enqueueHTTP(t, "e2e.wait")
		if ev := nextEvent(t, events); ev.jobID != marker {
			t.Fatalf("event %+v after a command with ROTA_EVENT_LOG=off (job %d), want the next one, job %d's", ev, job.ID, marker)
		}
		p.stop(t)
	}, "ROTA_LOG_LEVEL=info")
}
