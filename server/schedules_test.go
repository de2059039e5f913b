package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
)

// TestScheduleLifecycle drives one schedule through every route: create,
// get, update, disable, enable, list and delete, and checks each answer
// against what the client stored.
func TestScheduleLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: Options{Tokens: testTokens()}})
	ctx := context.Background()
	w := writeSecret

	var sc apiwire.Schedule
	r := e.do("POST", "/v1/schedules", w, `{"key":"reports/nightly","kind":"report.build","spec":"daily at 02:00",
		"zone":"Europe/Amsterdam","args":{"full":true},"metadata":{"org":"acme"},"jitter":"30s","misfire":"skip",
		"misfire_grace":120,"overlap":"skip","priority":7}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	mustUnmarshal(t, r.body, &sc)
	if sc.Key != "reports/nightly" || sc.Kind != "report.build" || sc.Zone != "Europe/Amsterdam" || sc.Jitter != "30s" ||
		sc.MisfireGrace != "2m0s" || sc.Misfire != rota.MisfireSkip || sc.Overlap != rota.OverlapSkip || sc.Priority != 7 ||
		!sc.Enabled || sc.NextFire.IsZero() || string(sc.Args) != `{"full":true}` || sc.Metadata["org"] != "acme" {
		t.Errorf("created: %+v", sc)
	}
	if loc, _ := time.LoadLocation("Europe/Amsterdam"); sc.NextFire.In(loc).Hour() != 2 {
		t.Errorf("next fire %s is not 02:00 in Amsterdam", sc.NextFire)
	}
	stored, err := e.client.GetSchedule(ctx, "reports/nightly")
	if err != nil || !stored.NextFire.Equal(sc.NextFire) || stored.Jitter != 30*time.Second {
		t.Fatalf("stored: %+v %v", stored, err)
	}

	// A key with a '/' is percent-encoded in paths.
	var got apiwire.Schedule
	e.ok("GET", "/v1/schedules/reports%2Fnightly", readSecret, "", &got)
	if got.Key != sc.Key || !got.UpdatedAt.Equal(sc.UpdatedAt) {
		t.Errorf("get: %+v", got)
	}

	// PATCH changes what it names and keeps the rest.
	got = apiwire.Schedule{}
	e.ok("PATCH", "/v1/schedules/reports%2Fnightly", w, `{"spec":"daily at 03:00","metadata":{}}`, &got)
	if got.Spec != "daily at 03:00" || got.Zone != "Europe/Amsterdam" || got.Priority != 7 || len(got.Metadata) != 0 ||
		got.Overlap != rota.OverlapSkip || got.NextFire.Equal(sc.NextFire) {
		t.Errorf("patched: %+v", got)
	}

	e.ok("POST", "/v1/schedules/reports%2Fnightly/disable", w, `{"reason":"maintenance"}`, &got)
	if got.Enabled || got.DisabledReason != "maintenance" {
		t.Errorf("disabled: %+v", got)
	}
	e.ok("POST", "/v1/schedules/reports%2Fnightly/enable", w, "", &got)
	if !got.Enabled || got.NextFire.IsZero() {
		t.Errorf("enabled: %+v", got)
	}

	var l apiwire.ScheduleList
	e.ok("GET", "/v1/schedules", readSecret, "", &l)
	if len(l.Schedules) != 1 || l.Schedules[0].Key != "reports/nightly" || l.Next != "" {
		t.Errorf("list: %+v", l)
	}

	// Delete is admin's; the jobs stay, the schedule goes.
	if r := e.do("DELETE", "/v1/schedules/reports%2Fnightly", w, ""); r.status != http.StatusForbidden {
		t.Errorf("delete as writer: %d", r.status)
	}
	if r := e.do("DELETE", "/v1/schedules/reports%2Fnightly", adminSecret, ""); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	if _, err := e.client.GetSchedule(ctx, "reports/nightly"); !errors.Is(err, rota.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	r = e.do("GET", "/v1/schedules/reports%2Fnightly", readSecret, "")
	if ae := r.errorOf(t); r.status != http.StatusNotFound || ae.Field != "key" || !strings.Contains(ae.Message, `"reports/nightly"`) {
		t.Errorf("get after delete: %d %+v", r.status, ae)
	}
}

// TestSchedulePatchOfDisabled: a PATCH that leaves a disabled schedule
// disabled keeps its disabled_reason; one that enables it clears it.
func TestSchedulePatchOfDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		key, patch string
		enabled    bool
		reason     string
	}{
		{"spec", `{"spec":"every 5s"}`, false, "maintenance"},
		{"disabled-again", `{"enabled":false,"priority":3}`, false, "maintenance"},
		{"enabled", `{"enabled":true}`, true, ""},
	} {
		if r := e.do("POST", "/v1/schedules", "", `{"key":"`+tc.key+`","kind":"a.b","spec":"every 10 minutes"}`); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", tc.key, r.status, r.body)
		}
		e.ok("POST", "/v1/schedules/"+tc.key+"/disable", "", `{"reason":"maintenance"}`, nil)
		var patched, got apiwire.Schedule
		e.ok("PATCH", "/v1/schedules/"+tc.key, "", tc.patch, &patched)
		e.ok("GET", "/v1/schedules/"+tc.key, "", "", &got)
		for _, s := range []apiwire.Schedule{patched, got} {
			if s.Enabled != tc.enabled || s.DisabledReason != tc.reason {
				t.Errorf("after PATCH %s: enabled %v, disabled_reason %q; want %v, %q",
					tc.patch, s.Enabled, s.DisabledReason, tc.enabled, tc.reason)
			}
		}
	}
}

// TestScheduleCreateDuplicate: a second create of a key is 409 and leaves
// the first as it was.
func TestScheduleCreateDuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var first apiwire.Schedule
	r := e.do("POST", "/v1/schedules", "", `{"key":"k","kind":"a.b","spec":"every 10 minutes"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	mustUnmarshal(t, r.body, &first)
	r = e.do("POST", "/v1/schedules", "", `{"key":"k","kind":"c.d","spec":"hourly"}`)
	if ae := r.errorOf(t); r.status != http.StatusConflict || ae.Code != CodeDuplicate || ae.Field != "key" || ae.Existing != nil {
		t.Errorf("second create: %d %+v, want 409 on key naming no job", r.status, ae)
	}
	// An invalid spec names the offending token, and where it starts.
	r = e.do("POST", "/v1/schedules", "", `{"key":"k2","kind":"a.b","spec":"daily at 10:00 | weekly on Funday"}`)
	if ae := r.errorOf(t); r.status != http.StatusBadRequest || ae.Field != "spec" || !strings.Contains(ae.Message, `"Funday"`) ||
		!strings.Contains(ae.Message, "at 28:") {
		t.Errorf("bad spec: %d %+v", r.status, ae)
	}
	var got apiwire.Schedule
	e.ok("GET", "/v1/schedules/k", "", "", &got)
	if got.Kind != "a.b" || got.Spec != "every 10 minutes" || !got.UpdatedAt.Equal(first.UpdatedAt) {
		t.Errorf("after the refused create: %+v", got)
	}
}

// TestScheduleListFilters pages through schedules and filters them by
// kind, enabled, and search.
func TestScheduleListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	var keys []string
	for i := range 12 {
		kind := "scan.host"
		if i%3 == 0 {
			kind = "report.build"
		}
		key := fmt.Sprintf("s%02d", i)
		keys = append(keys, key)
		if _, err := e.client.CreateSchedule(ctx, rota.ScheduleParams{Key: key, Kind: kind, Spec: "hourly", Disabled: i%4 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(query string) (all []string, pages int) {
		t.Helper()
		cursor := ""
		for {
			path := "/v1/schedules?limit=5&" + query
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			var l apiwire.ScheduleList
			e.ok("GET", path, "", "", &l)
			pages++
			for _, s := range l.Schedules {
				all = append(all, s.Key)
			}
			if l.Next == "" {
				return all, pages
			}
			if pages > 20 {
				t.Fatalf("%s: no end of pages", query)
			}
			cursor = l.Next
		}
	}
	filter := func(keep func(i int) bool) []string {
		var out []string
		for i, k := range keys {
			if keep(i) {
				out = append(out, k)
			}
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
		pages int
	}{
		{"", keys, 3},
		{"kind=report.build", filter(func(i int) bool { return i%3 == 0 }), 1},
		{"enabled=false", filter(func(i int) bool { return i%4 == 0 }), 1},
		{"enabled=true&kind=scan.host", filter(func(i int) bool { return i%3 != 0 && i%4 != 0 }), 2},
		{"search=REPORT", filter(func(i int) bool { return i%3 == 0 }), 1},
		{"search=s0", keys[:10], 2},
		{"search=s1", keys[10:], 1},
		{"search=host", filter(func(i int) bool { return i%3 != 0 }), 2},
		{"search=nothing-matches", nil, 1},
	} {
		got, pages := list(tc.query)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") || pages != tc.pages {
			t.Errorf("%q: %v in %d pages, want %v in %d", tc.query, got, pages, tc.want, tc.pages)
		}
	}
}

// TestSchedulePreview lists fire times as rota schedules next does.
func TestSchedulePreview(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noStart: true})
	for _, tc := range []struct {
		query string
		fires []string
		zone  string
		never bool
	}{
		{"spec=" + url.QueryEscape("daily at 10:00") + "&tz=Europe/Amsterdam&after=2026-03-28T12:00:00Z&n=3",
			[]string{"2026-03-29T10:00:00+02:00", "2026-03-30T10:00:00+02:00", "2026-03-31T10:00:00+02:00"}, "Europe/Amsterdam", false},
		{"spec=" + url.QueryEscape("*/15 * * * *") + "&after=2026-01-01T00:00:00Z&n=2",
			[]string{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"}, "UTC", false},
		{"spec=" + url.QueryEscape("once at 2026-05-01T00:00:00Z") + "&after=2026-01-01T00:00:00Z",
			[]string{"2026-05-01T00:00:00Z"}, "UTC", true},
	} {
		var p apiwire.Preview
		e.ok("GET", "/v1/schedule-preview?"+tc.query, "", "", &p)
		if strings.Join(p.Fires, " ") != strings.Join(tc.fires, " ") || p.Zone != tc.zone || p.Never != tc.never || p.Normalized == "" {
			t.Errorf("%s: %+v", tc.query, p)
		}
	}
	// The default is 10 fires after now.
	var p apiwire.Preview
	e.ok("GET", "/v1/schedule-preview?spec=hourly", "", "", &p)
	if len(p.Fires) != DefaultPreviewFires {
		t.Errorf("default n: %d fires", len(p.Fires))
	}
	first, err := time.Parse(time.RFC3339, p.Fires[0])
	if err != nil || !first.After(time.Now().Add(-time.Second)) {
		t.Errorf("first fire %q is not after now: %v", p.Fires[0], err)
	}
	// A bad spec names the offending token.
	r := e.do("GET", "/v1/schedule-preview?spec="+url.QueryEscape("every 10 parsecs"), "", "")
	if ae := r.errorOf(t); r.status != http.StatusBadRequest || ae.Field != "spec" || !strings.Contains(ae.Message, `"parsecs"`) {
		t.Errorf("bad spec: %d %+v", r.status, ae)
	}
}

// mustUnmarshal decodes a response body.
func mustUnmarshal(t testing.TB, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
}

// created sends a request that must answer 201 Created.
func (e *env) created(method, path, secret, body string) {
	e.t.Helper()
	if r := e.do(method, path, secret, body); r.status != http.StatusCreated {
		e.t.Fatalf("%s %s: status %d: %s", method, path, r.status, r.body)
	}
}
