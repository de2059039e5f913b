package main

import (
	"strings"
	"testing"
)

func TestSchedulesNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("json across a DST gap", func(t *testing.T) {
		t.Parallel()
		var out nextOut
		e.jsonOut(&out, "schedules", "next", "daily at 02:30", "--tz", "America/New_York", "-n", "3", "--after", "2026-03-07T12:00:00Z")
		want := []string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"}
		if strings.Join(out.Fires, " ") != strings.Join(want, " ") || out.Never || out.Zone != "America/New_York" ||
			out.Normalized != "daily at 02:30" || out.After != "2026-03-07T07:00:00-05:00" {
			t.Fatalf("got %+v, want fires %v", out, want)
		}
	})
	t.Run("table, spec in several arguments", func(t *testing.T) {
		t.Parallel()
		out := e.ok("schedules", "next", "every", "10", "minutes", "&", "time of day between 08:00 and 18:00",
			"--tz", "Asia/Kolkata", "-n", "2", "--after", "2026-02-04T12:25:00Z")
		for _, want := range []string{"every 10m & time of day between 08:00 and 18:00  (zone Asia/Kolkata",
			"1  Thu 2026-02-05 08:00:00 +05:30 IST  2026-02-05 02:30:00Z", "2  Thu 2026-02-05 08:10:00 +05:30 IST", "IN"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "18:00:00 +05:30") {
			t.Errorf("fires at the end of the window, which is excluded:\n%s", out)
		}
	})
	t.Run("a one-off stops", func(t *testing.T) {
		t.Parallel()
		var out nextOut
		e.jsonOut(&out, "schedules", "next", "in 12h", "--after", "2026-01-01T00:00:00Z")
		if len(out.Fires) != 1 || out.Fires[0] != "2026-01-01T12:00:00Z" || !out.Never {
			t.Fatalf("got %+v", out)
		}
	})
	bad := []struct {
		name string
		args []string
		want string // must appear in the message
	}{
		{"bad spec", []string{"schedules", "next", "daily at 25:00"}, `schedule: "daily at 25:00": at 10: hour 25 out of range 0-23`},
		{"unknown word", []string{"schedules", "next", "fortnightly"}, `unknown word "fortnightly"`},
		{"unknown zone", []string{"schedules", "next", "daily", "--tz", "Mars/Olympus"}, "--tz"},
		{"unknown zone in the spec", []string{"schedules", "next", "TZ=Mars/Olympus daily"}, "Mars/Olympus"},
		{"bad count", []string{"schedules", "next", "daily", "-n", "0"}, "-n"},
		{"bad after", []string{"schedules", "next", "daily", "--after", "tomorrow"}, "--after"},
		{"no spec", []string{"schedules", "next"}, "SPEC"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ce := *e
			ce.t = t
			_, errOut, code := ce.cli(tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("message %q does not contain %q", errOut, tc.want)
			}
		})
	}
}
