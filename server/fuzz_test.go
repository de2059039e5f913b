package server

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rotahq/rota/internal/apiwire"
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
					Error *apiwire.Error `json:"error"`
				}
				if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
					t.Fatalf("POST %s %q: %d with a body not in the error shape: %s", path, body, r.status, r.body)
				}
			}
		}
	})
}

// FuzzLease sends arbitrary bodies to the lease protocol's endpoints: the
// server must never answer 5xx nor panic, and every error must be in the
// API's shape. The longest wait is a millisecond, so that a valid lease
// request does not hold the fuzzer.
func FuzzLease(f *testing.F) {
	f.Add([]byte(`{"kinds":["a.b"],"queues":["q1","default"],"max":10,"wait":"1ms","lease":"30s","worker":"w-1"}`))
	f.Add([]byte(`{"token":"rl1.1.1.30000.0123456789abcdef0123456789abcdef","lease":90}`))
	f.Add([]byte(`{"token":"rl1.1.1.30000.0123456789abcdef0123456789abcdef","error":"x","retry_after":"1m","final":false}`))
	f.Add([]byte(`{"token":"rl1.9223372036854775807.2147483648.3600000.ffffffffffffffffffffffffffffffff","result":{"a":[1,2]},"delay":"1h"}`))
	f.Add([]byte(`{"items":[{"token":"rl1.1.1.30000.0123456789abcdef0123456789abcdef","result":[1]},{"token":"x"},{}]}`))
	e := newEnv(f, envOptions{noStart: true, server: Options{MaxBodyBytes: 16 << 10, MaxWait: time.Millisecond}})
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/v1/leases", "/v1/leases/heartbeat", "/v1/leases/complete", "/v1/leases/fail", "/v1/leases/snooze", "/v1/leases/complete/batch"} {
			r := serve(h, "POST", path, "", string(body))
			if r.status >= 500 {
				t.Fatalf("POST %s %q: %d %s", path, body, r.status, r.body)
			}
			if r.status != http.StatusOK {
				var eb struct {
					Error *apiwire.Error `json:"error"`
				}
				if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
					t.Fatalf("POST %s %q: %d with a body not in the error shape: %s", path, body, r.status, r.body)
				}
			}
		}
	})
}
