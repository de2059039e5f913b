package server

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzEnqueue sends arbitrary bodies to POST /v1/jobs and to the batch
// endpoint: the server must never answer 5xx nor panic, and every error
// must be in the API's shape. The seed corpus is in testdata/fuzz/FuzzEnqueue.
func FuzzEnqueue(f *testing.F) {
	f.Add([]byte(`{"kind":"a.b","args":{"x":1},"priority":5,"delay":"1h","key":"k","on_conflict":"replace"}`))
	f.Add([]byte(`{"kind":"a.b","run_at":"2030-01-01T00:00:00Z","timeout":1.5,"metadata":{"a":"b"},"hold":true}`))
	e := newEnv(f, envOptions{noStart: true, server: Options{MaxBodyBytes: 16 << 10}})
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/v1/jobs", "/v1/jobs/batch", "/v1/queues/fuzz/push"} {
			in := string(body)
			if path == "/v1/jobs/batch" {
				in = `{"jobs":[` + in + `]}`
			}
			r := serve(h, "POST", path, "", in)
			if r.status >= 500 {
				t.Fatalf("POST %s %q: %d %s", path, body, r.status, r.body)
			}
			if r.status != http.StatusOK {
				var eb struct {
					Error *apiError `json:"error"`
				}
				if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
					t.Fatalf("POST %s %q: %d with a body not in the error shape: %s", path, body, r.status, r.body)
				}
			}
		}
	})
}
