package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const e2eSecret = "e2e-secret-0123456789"

// TestServeHTTPAPI starts rota serve with the HTTP API on a free loopback
// port and a token, enqueues over HTTP, and sees the job done by an exec
// worker, with its result, attempt and metrics; then stops it with SIGTERM.
func TestServeHTTPAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "ROTA_LOG_LEVEL=info", "ROTA_TOKENS=e2e:admin:"+e2eSecret+",dash:read:dash-secret-0123456789")
	workers := filepath.Join(e.dir, "workers")
	if err := os.Mkdir(workers, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(workers, "e2e.echo.json"),
		[]byte(`{"exec": "cat >/dev/null; echo '{\"ok\":true}'"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.vars = append(e.vars, "ROTA_WORKERS_DIR="+workers)
	p := startServe(t, e)
	base := p.base

	call := func(method, path, secret, body string, v any) int {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if v != nil && resp.StatusCode < 300 {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("%s %s: %v in %s", method, path, err, b)
			}
		}
		return resp.StatusCode
	}
	waitFor(t, 30*time.Second, "readiness", func() bool { return call("GET", "/readyz", "", "", nil) == http.StatusOK })
	if code := call("POST", "/v1/jobs", "", `{"kind":"e2e.echo"}`, nil); code != http.StatusUnauthorized {
		t.Errorf("enqueue without a token: %d", code)
	}
	if code := call("POST", "/v1/jobs", "dash-secret-0123456789", `{"kind":"e2e.echo"}`, nil); code != http.StatusForbidden {
		t.Errorf("enqueue with a read token: %d", code)
	}
	var job struct {
		ID       int64           `json:"id"`
		State    string          `json:"state"`
		Result   json.RawMessage `json:"result"`
		Attempts []struct {
			Outcome string `json:"outcome"`
		} `json:"attempts"`
	}
	if code := call("POST", "/v1/jobs", e2eSecret, `{"kind":"e2e.echo","args":{"hello":"world"}}`, &job); code != http.StatusOK {
		t.Fatalf("enqueue: %d", code)
	}
	id := job.ID
	waitFor(t, 30*time.Second, "the job to be done", func() bool {
		call("GET", fmt.Sprintf("/v1/jobs/%d", id), "dash-secret-0123456789", "", &job)
		return job.State == "done"
	})
	if string(job.Result) != `{"ok":true}` || len(job.Attempts) != 1 || job.Attempts[0].Outcome != "done" {
		t.Errorf("done job: %+v", job)
	}
	// The CLI on the same store sees it too.
	if out := e.ok("jobs", "show", fmt.Sprint(id)); !strings.Contains(out, "done") {
		t.Errorf("jobs show: %s", out)
	}
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer dash-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `rota_attempts_total{kind="e2e.echo",outcome="done"} 1`) {
		t.Errorf("metrics lack the attempt:\n%s", metrics)
	}

	p.stop(t)
}

// TestServeRefusesOpenAPIOnTheNetwork: rota serve on an address that is
// not loopback, without tokens, exits 2 before starting anything, and a
// bad token setting exits 2 without showing the secret.
func TestServeRefusesOpenAPIOnTheNetwork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		vars  []string
		args  []string
		wants []string
	}{
		{"all interfaces", []string{"ROTA_LISTEN=0.0.0.0:0"}, nil, []string{"ROTA_LISTEN", "not a loopback address", "ROTA_TOKENS"}},
		{"empty host", nil, []string{"--listen", ":0"}, []string{"ROTA_LISTEN", "not a loopback address"}},
		{"bad token role", []string{"ROTA_TOKENS=ci:root:topsecret-0123456789"}, nil, []string{"ROTA_TOKENS", `the role (second part) is not read, write or admin`}},
		{"bad token flag", nil, []string{"--tokens", "ci:root:topsecret-0123456789"}, []string{"--tokens", `the role (second part) is not read, write or admin`}},
		{"missing tokens file", []string{"ROTA_TOKENS_FILE=/nonexistent/tokens"}, nil, []string{"ROTA_TOKENS_FILE", "not readable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.vars...)
			_, errOut, code := e.cli(append([]string{"serve"}, tt.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, errOut)
			}
			for _, w := range tt.wants {
				if !strings.Contains(errOut, w) {
					t.Errorf("message %q does not say %q", errOut, w)
				}
			}
			if strings.Contains(errOut, "topsecret") {
				t.Errorf("message shows the secret: %s", errOut)
			}
			if _, err := os.Stat(e.db); err == nil {
				t.Errorf("the store was opened (%s exists)", e.db)
			}
		})
	}
	// With a token it starts on any address; ROTA_LISTEN=off serves no HTTP.
	e := newEnv(t, "ROTA_LISTEN=off", "ROTA_LOG_LEVEL=info")
	cmd := e.command("serve")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	found := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), `msg="rota serving"`) {
			found = strings.Contains(sc.Text(), "http=off")
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	if err := cmd.Wait(); err != nil || !found {
		t.Errorf("serve with ROTA_LISTEN=off: %v, http=off logged: %v", err, found)
	}
}
