package schedule

import (
	"testing"
	"time"
)

// FuzzParse: Parse never panics, and a spec that parses prints (String) as
// a spec that parses again to a schedule with the same fire times, from a
// few reference instants in a zone with DST.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"daily", "daily at 10:00", "hourly after 45:00", "weekly on Monday", "monthly starting 3rd",
		"every 10 minutes", "every 2 hours, 30 minutes", "every 90s", "in 12h", "once at 2026-01-02T15:04:05Z",
		"0 * * * *", "*/5 0 12 * * MON-FRI", "CRON_TZ=Asia/Kolkata 0 9 * * *", "@every 1h30m", "0 0 L * *",
		"every 10 minutes & time of day between 08:00 and 18:00", "daily & ~(time of week on Sat | time of week on Sun)",
		"(daily at 10:00 | hourly) & time of month between 28th and 3rd",
	} {
		f.Add(s)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	refs := []time.Time{
		time.Date(2026, 3, 8, 1, 30, 0, 0, ny),  // before the spring gap
		time.Date(2026, 11, 1, 1, 15, 0, 0, ny), // inside the fall fold
		time.Date(2028, 2, 28, 23, 59, 59, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec, refNow, ny)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse(%q) error %T %v, want *SyntaxError", spec, err, err)
			}
			return
		}
		printed := s.String()
		again, err := Parse(printed, refNow.Add(time.Hour), ny)
		if err != nil {
			t.Fatalf("Parse(%q) printed %q, which does not parse: %v", spec, printed, err)
		}
		if again.String() != printed {
			t.Fatalf("%q printed %q, then %q", spec, printed, again.String())
		}
		for _, ref := range refs {
			after := ref
			for range 3 {
				n1, ok1 := s.Next(after)
				n2, ok2 := again.Next(after)
				if ok1 != ok2 || !n1.Equal(n2) {
					t.Fatalf("%q and its String %q differ after %s: %s %v, %s %v", spec, printed, after, n1, ok1, n2, ok2)
				}
				if !ok1 {
					break
				}
				if !n1.After(after) {
					t.Fatalf("%q: Next(%s) = %s, not later", spec, after, n1)
				}
				after = n1
			}
		}
	})
}
