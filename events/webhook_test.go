package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/events"
)

// receiver is a webhook endpoint that checks signatures, refuses the
// first refuse POSTs with a 503, and keeps the events of the others.
type receiver struct {
	secret string

	mu     sync.Mutex
	refuse int
	posts  int
	events []map[string]any
	bad    []string
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.posts++
	if err := events.Verify(rv.secret, body, r.Header.Get(events.SignatureHeader)); err != nil {
		rv.bad = append(rv.bad, "signature: "+err.Error())
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" || r.Header.Get("X-Team") != "blue" || r.Method != http.MethodPost {
		rv.bad = append(rv.bad, "request: "+r.Method+" "+ct)
	}
	if rv.refuse > 0 {
		rv.refuse--
		http.Error(w, "busy, come back later", http.StatusServiceUnavailable)
		return
	}
	var batch []map[string]any
	if err := json.Unmarshal(body, &batch); err != nil || len(batch) == 0 {
		rv.bad = append(rv.bad, "body: "+string(body))
	} else {
		first, _ := strconv.ParseInt(r.Header.Get(events.FirstIDHeader), 10, 64)
		last, _ := strconv.ParseInt(r.Header.Get(events.LastIDHeader), 10, 64)
		if int64(batch[0]["id"].(float64)) != first || int64(batch[len(batch)-1]["id"].(float64)) != last {
			rv.bad = append(rv.bad, "id headers "+strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(last, 10))
		}
	}
	rv.events = append(rv.events, batch...)
	w.WriteHeader(http.StatusNoContent)
}

func (rv *receiver) snapshot() (posts int, evs []map[string]any, bad []string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.posts, append([]map[string]any(nil), rv.events...), append([]string(nil), rv.bad...)
}

// TestWebhook relays a node's events to an HTTP endpoint that refuses the
// first tries: every event arrives, once, signed, in order.
func TestWebhook(t *testing.T) {
	t.Parallel()
	rv := &receiver{secret: "s3cret", refuse: 2}
	hs := httptest.NewServer(rv)
	t.Cleanup(hs.Close)
	wh, err := events.NewWebhook(events.WebhookOptions{URL: hs.URL + "/hook", Secret: rv.secret,
		Header: http.Header{"X-Team": []string{"blue"}}})
	if err != nil {
		t.Fatal(err)
	}
	st := openSQLite(t)
	n := startNode(t, newClient(t, st, rota.Options{}), func(context.Context, *rota.Job) error { return nil })
	r := newRelay(t, st, events.RelayOptions{Name: "webhook", Sink: wh, Changed: n.log.Changed})
	runRelay(t, r)
	waitFor(t, "the relay to start", func() bool { _, ok, _ := st.EventCursor(t.Context(), "webhook"); return ok })
	const jobs = 10
	for i := range jobs {
		if _, err := n.c.Enqueue(t.Context(), "k", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every event", func() bool { _, evs, _ := rv.snapshot(); return len(evs) == 3*jobs })
	posts, evs, bad := rv.snapshot()
	if len(bad) > 0 {
		t.Fatalf("bad requests: %q", bad)
	}
	if posts < 3 || r.Failures() < 2 {
		t.Errorf("%d posts, %d failures: the two refusals were not retried", posts, r.Failures())
	}
	for i, e := range evs {
		if i > 0 && e["id"].(float64) != evs[i-1]["id"].(float64)+1 {
			t.Fatalf("event %d has id %v after %v", i, e["id"], evs[i-1]["id"])
		}
		if e["type"] != "job" || e["kind"] != "k" {
			t.Fatalf("event %v", e)
		}
	}
}

func TestWebhookRejects(t *testing.T) {
	t.Parallel()
	for _, o := range []events.WebhookOptions{
		{URL: ""}, {URL: "ftp://x/y"}, {URL: "http://"}, {URL: "://"}, {URL: "http://x", Timeout: -time.Second},
		{URL: "http://127.0.0.1:99999/x"}, {URL: "http://127.0.0.1:0/x"}, {URL: "http://:8080/x"},
	} {
		if _, err := events.NewWebhook(o); err == nil {
			t.Errorf("NewWebhook(%+v) succeeded", o)
		}
	}
}

func TestWebhookError(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	t.Cleanup(hs.Close)
	wh, err := events.NewWebhook(events.WebhookOptions{URL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = wh.Send(t.Context(), []events.Message{{Record: events.Record{ID: 1}, Payload: []byte(`{}`)}})
	var we *events.WebhookError
	if !errors.As(err, &we) || we.Status != http.StatusNotFound || we.Body != "no such hook" {
		t.Fatalf("Send: %v", err)
	}
}

// TestWebhookRedirectIsNoDelivery: a redirect is not followed (it would
// turn the POST into a GET without the batch) but reported, and errors do
// not show the secret path or credentials of the URL.
func TestWebhookRedirectIsNoDelivery(t *testing.T) {
	t.Parallel()
	var gets int
	var mu sync.Mutex
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/services/SECRETPATH" {
			http.Redirect(w, r, "/new/OTHERSECRET", http.StatusFound)
			return
		}
		mu.Lock()
		gets++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(hs.Close)
	wh, err := events.NewWebhook(events.WebhookOptions{URL: hs.URL + "/services/SECRETPATH"})
	if err != nil {
		t.Fatal(err)
	}
	err = wh.Send(t.Context(), []events.Message{{Record: events.Record{ID: 1}, Payload: []byte(`{}`)}})
	var we *events.WebhookError
	if !errors.As(err, &we) || we.Status != http.StatusFound || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("Send: %v, want the 302 as a failure", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gets != 0 {
		t.Errorf("the redirect was followed (%d requests to its target)", gets)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("the error shows the URL's path: %v", err)
	}
	// A connection error names only the origin too.
	wh, err = events.NewWebhook(events.WebhookOptions{URL: "http://user:hunter2@127.0.0.1:1/services/SECRETPATH?token=Q", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = wh.Send(t.Context(), []events.Message{{Record: events.Record{ID: 1}, Payload: []byte(`{}`)}})
	if err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("connection error %v: want the origin without secrets", err)
	}
}
