package apicursor

import "testing"

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc bool
		id   int64
	}{{true, 1}, {false, 42}, {true, 1<<63 - 1}} {
		desc, id, ok := ParseJobs(Jobs(tc.desc, tc.id))
		if !ok || desc != tc.desc || id != tc.id {
			t.Errorf("jobs %v %d: got %v %d %v", tc.desc, tc.id, desc, id, ok)
		}
	}
	for _, key := range []string{"a", "nightly/report:1", "x.y-z_9"} {
		if got, ok := ParseSchedules(Schedules(key)); !ok || got != key {
			t.Errorf("schedules %q: got %q %v", key, got, ok)
		}
	}
}

func TestRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"", "abc", "!!", Schedules("k"), Jobs(true, 5) + "x"} {
		if _, _, ok := ParseJobs(c); ok {
			t.Errorf("ParseJobs(%q) accepted", c)
		}
	}
	for _, c := range []string{"", "abc", Jobs(true, 5), "czE6"} { // czE6 is "s1:"
		if _, ok := ParseSchedules(c); ok {
			t.Errorf("ParseSchedules(%q) accepted", c)
		}
	}
}
