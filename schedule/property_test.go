package schedule

import (
	"fmt"
	"testing"
	"time"
)

// testZones are the zones the issue names: whole-hour, half-hour
// (Lord Howe's 30-minute shift), 45-minute offsets and no DST at all.
func testZones() []string {
	return []string{"America/New_York", "Europe/Amsterdam", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata", "UTC"}
}

// TestDailyOncePerLocalDay walks every fire of daily rules from 2000 to
// 2040 in each zone: exactly one fire on every local calendar day, each
// later than the one before. The times are chosen to fall into the DST gaps
// and folds of the zones (02:30 New York and Amsterdam, 01:45 New York and
// Lord Howe, 03:00 Chatham).
func TestDailyOncePerLocalDay(t *testing.T) {
	t.Parallel()
	specs := []string{"daily", "daily at 02:30", "daily at 01:45", "daily at 03:00"}
	if testing.Short() {
		specs = specs[:2]
	}
	for _, zone := range testZones() {
		for _, spec := range specs {
			t.Run(zone+"/"+spec, func(t *testing.T) {
				t.Parallel()
				loc := mustLoad(t, zone)
				s := mustParse(t, spec, refNow, loc)
				start := time.Date(2000, 1, 1, 0, 0, 0, 0, loc)
				end := time.Date(2041, 1, 1, 0, 0, 0, 0, loc)
				day := start // the local day the next fire must fall on
				prev := start.Add(-time.Second)
				for {
					next, ok := s.Next(prev)
					if !ok {
						t.Fatalf("no fire after %s", prev)
					}
					if !next.After(prev) {
						t.Fatalf("Next(%s) = %s, not later", prev, next)
					}
					if !next.Before(end) {
						break
					}
					y, m, d := next.In(loc).Date()
					wy, wm, wd := day.Date()
					if y != wy || m != wm || d != wd {
						t.Fatalf("after %s: fire %s falls on %d-%02d-%02d, want one on %d-%02d-%02d", prev, next, y, m, d, wy, wm, wd)
					}
					day = time.Date(wy, wm, wd+1, 12, 0, 0, 0, loc)
					prev = next
				}
				if y, m, d := day.Date(); y != 2041 || m != 1 || d != 1 {
					t.Fatalf("fires stop before %d-%02d-%02d", y, m, d)
				}
			})
		}
	}
}

// propertySpecs are rules of every form, for the properties below.
func propertySpecs() []string {
	return []string{
		"hourly", "minutely", "*/15 * * * *", "30 1 * * *", "0 0 L * *", "0 0 13 * FRI",
		"every 10 minutes", "every 7 minutes", "every 2 hours", "every 36h",
		"daily between 01:00 and 03:00", "hourly at 45:00", "weekly on Sunday", "monthly starting 3rd",
		"every 20 minutes & time of day between 01:00 and 03:00",
		"daily & ~time of day before 02:30", "hourly & time of week between Saturday and Sunday",
		"(daily at 01:30 | hourly after 30:00) & time of month between 28th and 5th",
		"0 */2 * * * & every 3 hours",
	}
}

// TestNextProperties checks, for rules of every form in every test zone,
// around the DST changes of 2026: Next(t) > t; the next fire does not
// depend on where in the gap between two fires one asks; and the instants
// that a spec's String() parses to fire at the same times.
func TestNextProperties(t *testing.T) {
	t.Parallel()
	for _, zone := range testZones() {
		for _, spec := range propertySpecs() {
			t.Run(fmt.Sprintf("%s/%s", zone, spec), func(t *testing.T) {
				t.Parallel()
				loc := mustLoad(t, zone)
				s := mustParse(t, spec, refNow, loc)
				again := mustParse(t, s.String(), refNow, loc)
				// The DST changes of 2026 in the southern and northern zones.
				for _, month := range []time.Month{time.March, time.April, time.September, time.October, time.November} {
					after := time.Date(2026, month, 1, 0, 0, 0, 0, loc).Add(-37 * time.Minute)
					for i := 0; i < 200; i++ {
						next, ok := s.Next(after)
						if !ok {
							t.Fatalf("no fire after %s", after)
						}
						if !next.After(after) {
							t.Fatalf("Next(%s) = %s, not later", after, next)
						}
						if n2, ok := again.Next(after); !ok || !n2.Equal(next) {
							t.Fatalf("%q fires at %s after %s, its String %q at %s", spec, next, after, s.String(), n2)
						}
						// Asking from anywhere between two fires gives the same next fire.
						gap := next.Sub(after)
						for _, f := range []time.Duration{gap / 3, gap / 2, gap - time.Second} {
							if f <= 0 {
								continue
							}
							if n3, _ := s.Next(after.Add(f)); !n3.Equal(next) {
								t.Fatalf("Next(%s) = %s but Next(%s) = %s", after, next, after.Add(f), n3)
							}
						}
						after = next
						if i%50 == 49 {
							after = after.Add(time.Duration(i) * 97 * time.Second) // skip ahead now and then
						}
					}
				}
			})
		}
	}
}
