package schedule_test

import (
	"fmt"
	"time"

	"github.com/rotahq/rota/schedule"
)

// show prints the next n fire times of spec in zone after after.
func show(spec, zone string, after time.Time, n int) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := schedule.Parse(spec, after, loc)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s)
	for range n {
		next, ok := s.Next(after)
		if !ok {
			fmt.Println("  never again")
			return
		}
		fmt.Println(" ", next.Format("Mon 2006-01-02 15:04:05 -07:00"))
		after = next
	}
}

func ExampleParse() {
	now := time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)
	s, err := schedule.Parse("daily between 10:00 and 12:00", now, time.UTC)
	if err != nil {
		panic(err)
	}
	next, _ := s.Next(now)
	fmt.Println(next)
	// Output: 2026-01-15 10:00:00 +0000 UTC
}

func ExampleParse_error() {
	_, err := schedule.Parse("daily at 25:00", time.Time{}, time.UTC)
	fmt.Println(err)
	// Output: schedule: "daily at 25:00": at 10: hour 25 out of range 0-23
}

// A phrase fires once per period at the start of its stretch.
func ExampleSchedule_Next_phrases() {
	after := time.Date(2026, 2, 4, 12, 0, 0, 0, time.UTC) // a Wednesday
	show("daily between 10:00 and 12:00", "UTC", after, 2)
	show("weekly on Monday", "UTC", after, 1)
	show("monthly starting 3rd", "UTC", after, 1)
	show("hourly after 45:00", "UTC", after, 2)
	// Output:
	// daily between 10:00 and 12:00
	//   Thu 2026-02-05 10:00:00 +00:00
	//   Fri 2026-02-06 10:00:00 +00:00
	// weekly on Monday
	//   Mon 2026-02-09 00:00:00 +00:00
	// monthly starting 3rd
	//   Tue 2026-03-03 00:00:00 +00:00
	// hourly after 45:00
	//   Wed 2026-02-04 12:45:00 +00:00
	//   Wed 2026-02-04 13:45:00 +00:00
}

// A rule joined to a window fires at its times inside the window; a phrase
// joined to a window fires once per period, at the first instant the window
// admits.
func ExampleSchedule_Next_combinations() {
	after := time.Date(2026, 2, 6, 17, 35, 0, 0, time.UTC) // a Friday
	show("every 10 minutes & time of day between 08:00 and 18:00", "UTC", after, 3)
	show("weekly on Monday & time of day after 10:00", "UTC", after, 1)
	show("(daily at 09:00 | daily at 17:00) & ~time of week between Saturday and Sunday", "UTC", after, 2)
	// Output:
	// every 10m & time of day between 08:00 and 18:00
	//   Fri 2026-02-06 17:40:00 +00:00
	//   Fri 2026-02-06 17:50:00 +00:00
	//   Sat 2026-02-07 08:00:00 +00:00
	// weekly on Monday & time of day after 10:00
	//   Mon 2026-02-09 10:00:00 +00:00
	// daily at 09:00 & ~time of week between Saturday and Sunday | daily at 17:00 & ~time of week between Saturday and Sunday
	//   Mon 2026-02-09 09:00:00 +00:00
	//   Mon 2026-02-09 17:00:00 +00:00
}

// Across DST changes: a missing local time fires at the end of the gap; a
// repeated one fires once, at its first reading, for fixed-hour rules, and
// at every reading for rules that repeat within the day.
func ExampleSchedule_Next_dst() {
	show("daily at 02:30", "America/New_York", time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC), 2)
	show("daily at 01:30", "America/New_York", time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC), 2)
	show("hourly", "America/New_York", time.Date(2026, 11, 1, 4, 30, 0, 0, time.UTC), 3)
	// Output:
	// daily at 02:30
	//   Sun 2026-03-08 03:00:00 -04:00
	//   Mon 2026-03-09 02:30:00 -04:00
	// daily at 01:30
	//   Sun 2026-11-01 01:30:00 -04:00
	//   Mon 2026-11-02 01:30:00 -05:00
	// hourly
	//   Sun 2026-11-01 01:00:00 -04:00
	//   Sun 2026-11-01 01:00:00 -05:00
	//   Sun 2026-11-01 02:00:00 -05:00
}

// Intervals that divide a day follow the local clock; others count elapsed
// time from the Unix epoch.
func ExampleSchedule_Next_intervals() {
	after := time.Date(2026, 2, 4, 10, 1, 0, 0, time.UTC)
	show("every 10 minutes", "Asia/Kolkata", after, 2)
	show("every 7 minutes", "Asia/Kolkata", after, 2)
	show("cron 0 9 * * MON-FRI", "Asia/Kolkata", after, 1)
	// Output:
	// every 10m
	//   Wed 2026-02-04 15:40:00 +05:30
	//   Wed 2026-02-04 15:50:00 +05:30
	// every 7m
	//   Wed 2026-02-04 15:37:00 +05:30
	//   Wed 2026-02-04 15:44:00 +05:30
	// cron 0 9 * * MON-FRI
	//   Thu 2026-02-05 09:00:00 +05:30
}

// One-offs fire once; in is relative to the reference time given to Parse.
func ExampleSchedule_Next_oneOff() {
	now := time.Date(2026, 2, 4, 10, 0, 0, 0, time.UTC)
	show("in 12h", "UTC", now, 2)
	show("once at 2026-03-01T09:00:00+01:00", "Europe/Amsterdam", now, 2)
	// Output:
	// once at 2026-02-04T22:00:00Z
	//   Wed 2026-02-04 22:00:00 +00:00
	//   never again
	// once at 2026-03-01T09:00:00+01:00
	//   Sun 2026-03-01 09:00:00 +01:00
	//   never again
}
