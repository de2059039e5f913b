package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEnqueueRejectedDuplicateOverHTTP runs `rota enqueue --on-conflict
// reject --server URL` in process against a stand-in server that answers
// 409 duplicate: the message names the active job the answer's existing
// names, and falls back to the kind and key of the command when the
// answer names none (a server from before existing); both exit 1.
func TestEnqueueRejectedDuplicateOverHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"names the job",
			`{"error":{"code":"duplicate","message":"job 38, of kind \"dup\", is active with the key \"k\" (on_conflict reject)","field":"key","existing":{"id":38,"kind":"dup","key":"k"}}}`,
			`rota: job 38, of kind "dup", is active with the key "k" (--on-conflict reject)`},
		{"names no job",
			`{"error":{"code":"duplicate","message":"duplicate key","field":"key"}}`,
			`rota: a dup job with key "k" is active (--on-conflict reject): duplicate`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/jobs" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			env := map[string]string{"ROTA_SERVER": srv.URL, "ROTA_LOG_LEVEL": "warn"}
			var stdout, stderr bytes.Buffer
			code := run([]string{"enqueue", "dup", "{}", "--key", "k", "--on-conflict", "reject"},
				func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
			if code != exitError || strings.TrimSpace(stderr.String()) != tc.want || stdout.Len() != 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout.String(), stderr.String(), exitError, tc.want)
			}
		})
	}
}
