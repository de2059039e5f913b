package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
	"github.com/rotahq/rota/store/sqlite"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 15 * time.Second

// Test tokens, one per role.
const (
	readSecret  = "read-secret-0123456789"
	writeSecret = "write-secret-0123456789"
	adminSecret = "admin-secret-0123456789"
)

func testTokens() []Token {
	return []Token{
		{Name: "reader", Role: RoleRead, Secret: readSecret},
		{Name: "writer", Role: RoleWrite, Secret: writeSecret},
		{Name: "boss", Role: RoleAdmin, Secret: adminSecret},
	}
}

// logBuffer collects log output safely.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a server on a started client on a fresh SQLite store.
type env struct {
	t      testing.TB
	client *rota.Client
	srv    *Server
	logs   *logBuffer
}

type envOptions struct {
	server   Options
	noStart  bool
	register func(c *rota.Client)
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "rota.db"), sqlite.Options{Synchronous: "OFF", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := rota.New(st, rota.Options{NodeID: "test-node", Logger: logger,
		Queues: map[string]rota.QueueConfig{"default": {}, "work": {}}})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	if o.register != nil {
		o.register(c)
	}
	if !o.noStart {
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			_ = c.Stop(ctx)
		})
	}
	o.server.Logger = logger
	srv, err := New(c, o.server)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	t.Cleanup(srv.Close)
	return &env{t: t, client: c, srv: srv, logs: logs}
}

// response is a recorded response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorOf decodes an error body.
func (r response) errorOf(t testing.TB) apiwire.Error {
	t.Helper()
	var eb struct {
		Error *apiwire.Error `json:"error"`
	}
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil {
		t.Fatalf("status %d: body is not an error: %s", r.status, r.body)
	}
	return *eb.Error
}

// do sends a request to the server's handler; secret "" sends no token.
func (e *env) do(method, path, secret, body string) response {
	e.t.Helper()
	return serve(e.srv.Handler(), method, path, secret, body)
}

// serve sends a request to h and records the response.
func serve(h http.Handler, method, path, secret, body string) response {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// ok sends a request that must answer 200 and decodes its body into v.
func (e *env) ok(method, path, secret, body string, v any) {
	e.t.Helper()
	r := e.do(method, path, secret, body)
	if r.status != http.StatusOK {
		e.t.Fatalf("%s %s: status %d: %s", method, path, r.status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, r.body)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// mustJSON marshals v.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
