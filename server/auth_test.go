package server

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rotahq/rota"
)

// samplePath fills a route's wildcards.
func samplePath(path string, id int64) string {
	return strings.NewReplacer("{id}", fmt.Sprint(id), "{name}", "default").Replace(path)
}

// TestRolesMatrix calls every route with no token and each role's, and
// checks who is let in: nobody but the public routes without a token, and
// each role exactly the routes at or below it.
func TestRolesMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: Options{Tokens: testTokens()}})
	j, err := e.client.Enqueue(context.Background(), "t.auth", nil, rota.Hold())
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[Role]string{RoleRead: readSecret, RoleWrite: writeSecret, RoleAdmin: adminSecret}
	want := map[string]Role{ // the matrix as documented
		"GET /healthz": rolePublic, "GET /readyz": rolePublic, "GET /v1/openapi.json": rolePublic,
		"GET /metrics": RoleRead, "GET /v1/jobs": RoleRead, "GET /v1/jobs/{id}": RoleRead, "GET /v1/queues": RoleRead,
		"GET /v1/stats": RoleRead, "GET /v1/nodes": RoleRead, "GET /v1/kinds": RoleRead,
		"GET /v1/events": RoleRead,
		"POST /v1/jobs":  RoleWrite, "POST /v1/jobs/batch": RoleWrite, "POST /v1/jobs/abort": RoleWrite,
		"POST /v1/jobs/{id}/abort": RoleWrite, "POST /v1/jobs/{id}/retry": RoleWrite, "POST /v1/jobs/{id}/release": RoleWrite,
		"POST /v1/jobs/{id}/complete": RoleWrite, "POST /v1/jobs/{id}/fail": RoleWrite,
		"POST /v1/queues/{name}/pause": RoleWrite, "POST /v1/queues/{name}/resume": RoleWrite,
		"POST /v1/queues/{name}/pop": RoleWrite, "POST /v1/queues/{name}/push": RoleWrite,
		"DELETE /v1/jobs/{id}": RoleAdmin, "PATCH /v1/queues/{name}": RoleAdmin,
		"POST /v1/leases": RoleWrite, "POST /v1/leases/heartbeat": RoleWrite, "POST /v1/leases/complete": RoleWrite,
		"POST /v1/leases/fail": RoleWrite, "POST /v1/leases/snooze": RoleWrite,
		"POST /v1/leases/complete/batch": RoleWrite,
	}
	for pattern, role := range map[string]Role{ // schedules
		"GET /v1/schedules": RoleRead, "GET /v1/schedules/{key}": RoleRead, "GET /v1/schedule-preview": RoleRead,
		"POST /v1/schedules": RoleWrite, "PATCH /v1/schedules/{key}": RoleWrite,
		"POST /v1/schedules/{key}/enable": RoleWrite, "POST /v1/schedules/{key}/disable": RoleWrite,
		"DELETE /v1/schedules/{key}": RoleAdmin,
	} {
		want[pattern] = role
	}
	if len(want) != len(e.srv.routes) {
		t.Errorf("%d routes, the matrix has %d", len(e.srv.routes), len(want))
	}
	for _, rt := range e.srv.routes {
		need, ok := want[rt.pattern()]
		if !ok || need != rt.role {
			t.Errorf("%s needs %s, the documented matrix says %s", rt.pattern(), rt.role, need)
		}
		path := samplePath(rt.path, j.ID)
		if rt.path == "/v1/events" {
			// A stream would not end: a bad id answers 400 once let in
			// (values are checked after the token).
			path += "?last_event_id=x"
		}
		for _, as := range []Role{rolePublic, RoleRead, RoleWrite, RoleAdmin} {
			r := e.do(rt.method, path, secrets[as], "")
			switch {
			case rt.role == rolePublic || as >= rt.role:
				if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
					t.Errorf("%s as %s: %d, want it let in: %s", rt.pattern(), as, r.status, r.body)
				}
			case as == rolePublic:
				if r.status != http.StatusUnauthorized {
					t.Errorf("%s without a token: %d, want 401", rt.pattern(), r.status)
				}
			default:
				if r.status != http.StatusForbidden {
					t.Errorf("%s as %s: %d, want 403", rt.pattern(), as, r.status)
				}
			}
		}
	}
}

// TestOpenWithoutTokens: a server without tokens lets every request in.
func TestOpenWithoutTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if r := e.do("PATCH", "/v1/queues/default", "", `{"max_size":3}`); r.status != http.StatusOK {
		t.Errorf("admin route without tokens: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/jobs", "anything-at-all-here", ""); r.status != http.StatusOK {
		t.Errorf("a token sent to an open server: %d", r.status)
	}
}

// TestTokensComparedInConstantTime: every request with a token compares it
// with every configured token through the constant-time comparison, also
// when the first one matches, and hashes of equal length are compared.
func TestTokensComparedInConstantTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: Options{Tokens: testTokens()}})
	var calls atomic.Int64
	var badLength atomic.Bool
	e.srv.auth.compare = func(a, b []byte) int {
		calls.Add(1)
		if len(a) != len(b) {
			badLength.Store(true)
		}
		return subtle.ConstantTimeCompare(a, b)
	}
	for _, secret := range []string{readSecret, adminSecret, "wrong-secret-0123456789", "x"} {
		calls.Store(0)
		e.do("GET", "/v1/queues", secret, "")
		if n := calls.Load(); n != int64(len(testTokens())) {
			t.Errorf("token %q...: %d comparisons, want one per token (%d)", secret[:1], n, len(testTokens()))
		}
	}
	if badLength.Load() {
		t.Error("compared values of different lengths (the length would leak)")
	}
}

// TestSecretsNeverLogged: the debug log of requests names the token, never
// its secret, whether it was right, wrong or not allowed.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: Options{Tokens: testTokens()}})
	e.do("GET", "/v1/jobs", readSecret, "")
	e.do("POST", "/v1/jobs", readSecret, `{"kind":"t.a"}`)
	e.do("POST", "/v1/jobs", writeSecret, `{"kind":"t.a"}`)
	e.do("DELETE", "/v1/jobs/1", adminSecret, "")
	e.do("GET", "/v1/jobs", "wrong-secret-0123456789", "")
	e.do("GET", "/v1/jobs", "Basic "+adminSecret, "")
	logs := e.logs.String()
	for _, s := range []string{readSecret, writeSecret, adminSecret, "wrong-secret"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains a secret %q:\n%s", s, logs)
		}
	}
	for _, name := range []string{"token=reader", "token=writer", "token=boss"} {
		if !strings.Contains(logs, name) {
			t.Errorf("the log does not name %s:\n%s", name, logs)
		}
	}
}

func TestNewRefusesBadTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noStart: true})
	for _, ts := range [][]Token{
		{{Name: "a", Role: RoleRead, Secret: "short"}},
		{{Name: "", Role: RoleRead, Secret: readSecret}},
		{{Name: "a", Secret: readSecret}},
		{{Name: "a", Role: RoleRead, Secret: readSecret}, {Name: "a", Role: RoleAdmin, Secret: adminSecret}},
	} {
		if _, err := New(e.client, Options{Tokens: ts}); err == nil || strings.Contains(err.Error(), readSecret) {
			t.Errorf("New(%d tokens): %v; want an error without the secret", len(ts), err)
		}
	}
}

func TestNeedsTokens(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:7700": false, "127.3.4.5:1": false, "[::1]:7700": false, "localhost:7700": false, "LOCALHOST:1": false,
		":7700": true, "0.0.0.0:7700": true, "[::]:7700": true, "10.0.0.1:7700": true, "example.org:80": true, "nonsense": true,
	} {
		if got := NeedsTokens(addr); got != want {
			t.Errorf("NeedsTokens(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]Role{"read": RoleRead, "WRITE": RoleWrite, "Admin": RoleAdmin} {
		if r, err := ParseRole(s); err != nil || r != want || !strings.EqualFold(r.String(), s) {
			t.Errorf("ParseRole(%q) = %v, %v", s, r, err)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("ParseRole(root): no error")
	}
}
