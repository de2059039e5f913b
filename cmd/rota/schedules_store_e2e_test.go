package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

func TestSchedulesStoredCLI(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, e *env, _ string) { testSchedulesStoredCLI(t, e) })
}

func testSchedulesStoredCLI(t *testing.T, e *env) {
	var s rota.Schedule
	e.jsonOut(&s, "schedules", "create", "nightly", "--kind", "report", "--spec", "daily at 02:00", "--tz", "Europe/Amsterdam",
		"--args", `{"week":1}`, "--misfire", "skip", "--overlap", "queue_one", "--jitter", "30s",
		"--condition", "signal 'nodes.elf' >= 10 within 1h", "--metadata", "org=acme")
	if s.Key != "nightly" || s.Kind != "report" || s.Zone != "Europe/Amsterdam" || s.Misfire != rota.MisfireSkip ||
		s.Overlap != rota.OverlapQueueOne || !s.Enabled || s.NextFire.IsZero() || s.Metadata["org"] != "acme" ||
		s.NextFire.In(mustZone(t, "Europe/Amsterdam")).Hour() != 2 {
		t.Fatalf("created %+v", s)
	}
	out := e.ok("schedules", "ls")
	for _, want := range []string{"KEY", "NEXT FIRE", "nightly", "daily at 02:00", "Europe/Amsterdam", "yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls lacks %q:\n%s", want, out)
		}
	}
	e.jsonOut(&s, "schedules", "update", "nightly", "--spec", "daily at 03:00", "--overlap", "skip")
	if s.Spec != "daily at 03:00" || s.Overlap != rota.OverlapSkip || s.Misfire != rota.MisfireSkip ||
		s.NextFire.In(mustZone(t, "Europe/Amsterdam")).Hour() != 3 {
		t.Errorf("updated %+v", s)
	}
	e.jsonOut(&s, "schedules", "disable", "nightly", "--reason", "holidays")
	if s.Enabled || s.DisabledReason != "holidays" {
		t.Errorf("disabled %+v", s)
	}
	if out := e.ok("schedules", "show", "nightly"); !strings.Contains(out, "no (holidays)") || !strings.Contains(out, "daily at 03:00") {
		t.Errorf("show:\n%s", out)
	}
	e.jsonOut(&s, "schedules", "enable", "nightly")
	if !s.Enabled {
		t.Errorf("enabled %+v", s)
	}
	var page rota.SchedulePage
	e.jsonOut(&page, "schedules", "ls")
	if len(page.Schedules) != 1 {
		t.Errorf("ls --json: %+v", page)
	}
	var raw map[string]json.RawMessage
	e.jsonOut(&raw, "schedules", "ls")
	if _, ok := raw["schedules"]; !ok || len(raw) != 1 {
		t.Errorf("ls --json, the last page: keys %v, want schedules only", slices.Sorted(maps.Keys(raw)))
	}
	e.ok("schedules", "rm", "nightly")
	if _, errOut, code := e.cli("schedules", "show", "nightly"); code != exitError || !strings.Contains(errOut, "not found") {
		t.Errorf("show after rm: exit %d %q", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"schedules", "create", "x", "--kind", "report", "--spec", "daily at 25:00"}, "invalid spec: at 10: hour 25"},
		{[]string{"schedules", "create", "x", "--kind", "report"}, "invalid spec: required"},
		{[]string{"schedules", "create", "x", "--spec", "daily"}, "invalid kind: required"},
		{[]string{"schedules", "create", "x", "--kind", "report", "--spec", "daily", "--tz", "Mars/Olympus"}, "invalid zone"},
		{[]string{"schedules", "create", "x", "--kind", "report", "--spec", "daily", "--misfire", "later"}, "invalid misfire"},
		{[]string{"schedules", "create", "x", "--kind", "report", "--spec", "daily", "--overlap", "no"}, "invalid overlap"},
		{[]string{"schedules", "create", "x", "--kind", "report", "--spec", "daily", "--condition", "rain"}, "invalid condition"},
		{[]string{"schedules", "create", "x", "--kind", "report", "--spec", "daily", "--args", "{"}, "invalid args"},
		{[]string{"schedules", "create", "a b", "--kind", "report", "--spec", "daily"}, "invalid key"},
		{[]string{"schedules", "ls", "--limit", "0"}, "invalid limit"},
		{[]string{"schedules", "ls", "--limit", "10001"}, "invalid limit"},
	} {
		if _, errOut, code := e.cli(tc.args...); code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit %d with %q", tc.args, code, errOut, exitUsage, tc.want)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestSchedulesTables checks the tables of schedules show and ls: a schedule
// disabled without a reason is "no" (not "no ()"), and the hint to the next
// page goes to stderr, as jobs ls gives it, not into the table; and that an
// update without a change is refused.
func TestSchedulesTables(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("schedules", "create", "a", "--kind", "report", "--spec", "daily", "--disabled")
	e.ok("schedules", "create", "b", "--kind", "report", "--spec", "daily")
	show := e.ok("schedules", "show", "a")
	if !strings.Contains(show, "enabled:       no\n") {
		t.Errorf("show of a schedule disabled without a reason:\n%s", show)
	}
	out, errOut, code := e.cli("schedules", "ls", "--limit", "1")
	if code != 0 {
		t.Fatalf("ls: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "a ") || !strings.Contains(lines[1], " no ") || strings.Contains(lines[1], "no:") {
		t.Errorf("ls --limit 1: want the header and schedule a, disabled (no reason), got:\n%s", out)
	}
	if strings.TrimSpace(errOut) != "more: rota schedules ls --after a" {
		t.Errorf("ls --limit 1: stderr %q, want the next page's command", errOut)
	}
	// An update that names nothing to change is bad input, as queues set is.
	for _, args := range [][]string{{"schedules", "update", "b"}, {"schedules", "update", "b", "--json"}} {
		if _, errOut, code := e.cli(args...); code != exitUsage || !strings.Contains(errOut, "nothing to change") {
			t.Errorf("%v: exit %d, %q; want %d, nothing to change", args, code, errOut, exitUsage)
		}
	}
}
