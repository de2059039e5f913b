package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/rotahq/rota/internal/apiwire"
)

// FuzzScheduleRequests sends arbitrary bodies to the schedule routes that
// read one, and arbitrary specs and zones to the preview: the server must
// never answer 5xx nor panic, and every error must be in the API's shape.
func FuzzScheduleRequests(f *testing.F) {
	f.Add([]byte(`{"key":"k","kind":"a.b","spec":"daily at 02:00","zone":"Europe/Amsterdam","jitter":"30s","misfire":"all"}`), "every 10 minutes & time of day between 08:00 and 18:00", "UTC")
	f.Add([]byte(`{"spec":"*/5 * * * *","metadata":{},"enabled":false,"misfire_grace":90}`), "TZ=Asia/Tokyo 0 9 * * 1-5", "")
	e := newEnv(f, envOptions{noStart: true, server: Options{MaxBodyBytes: 16 << 10}})
	h := e.srv.Handler()
	if r := serve(h, "POST", "/v1/schedules", "", `{"key":"k","kind":"a.b","spec":"hourly"}`); r.status != http.StatusCreated {
		f.Fatalf("create: %d %s", r.status, r.body)
	}
	f.Fuzz(func(t *testing.T, body []byte, spec, tz string) {
		for _, req := range []struct{ method, path, body string }{
			{"POST", "/v1/schedules", string(body)},
			{"PATCH", "/v1/schedules/k", string(body)},
			{"POST", "/v1/schedules/k/disable", string(body)},
			{"GET", "/v1/schedule-preview?" + url.Values{"spec": {spec}, "tz": {tz}, "n": {"3"}}.Encode(), ""},
		} {
			r := serve(h, req.method, req.path, "", req.body)
			if r.status >= 500 {
				t.Fatalf("%s %s %q: %d %s", req.method, req.path, req.body, r.status, r.body)
			}
			if r.status >= 300 {
				var eb struct {
					Error *apiwire.Error `json:"error"`
				}
				if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
					t.Fatalf("%s %s %q: %d with a body not in the error shape: %s", req.method, req.path, req.body, r.status, r.body)
				}
			}
		}
	})
}
