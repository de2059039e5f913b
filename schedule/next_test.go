package schedule

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests must not depend on the machine's zoneinfo
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func mustParse(t testing.TB, spec string, now time.Time, loc *time.Location) *Schedule {
	t.Helper()
	s, err := Parse(spec, now, loc)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	return s
}

// fires returns the next n fire times after after, formatted with their
// offset; "never" ends a schedule that stops.
func fires(s *Schedule, after time.Time, n int) []string {
	var out []string
	for range n {
		next, ok := s.Next(after)
		if !ok {
			return append(out, "never")
		}
		out = append(out, next.Format("2006-01-02T15:04:05-07:00"))
		after = next
	}
	return out
}

// refNow is the reference time of relative specs in the tests.
var refNow = time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)

func TestNext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, zone, spec, after string
		want                    []string
	}{
		// America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
		{"ny gap: a missing time fires at the end of the gap", "America/New_York", "daily at 02:30", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"ny gap: cron fixed time", "America/New_York", "30 2 * * *", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"ny fold: a fixed time fires once, at its first reading", "America/New_York", "daily at 01:30", "2026-10-31T12:00:00-04:00",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"ny fold: cron fixed hour fires once", "America/New_York", "30 1 * * *", "2026-11-01T00:00:00-04:00",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"ny fold: hourly fires in both passes of the repeated hour", "America/New_York", "hourly", "2026-11-01T00:30:00-04:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"}},
		{"ny fold: cron with a wildcard hour fires in both passes", "America/New_York", "*/30 * * * *", "2026-11-01T00:45:00-04:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"}},
		{"ny fold: from inside the first pass", "America/New_York", "10 * * * *", "2026-11-01T01:50:00-04:00",
			[]string{"2026-11-01T01:10:00-05:00", "2026-11-01T02:10:00-05:00"}},
		{"ny fold: from inside the second pass", "America/New_York", "daily at 01:30", "2026-11-01T01:10:00-05:00",
			[]string{"2026-11-02T01:30:00-05:00"}},
		{"ny gap: every 10 minutes keeps real 10-minute steps", "America/New_York", "every 10 minutes", "2026-03-08T01:45:00-05:00",
			[]string{"2026-03-08T01:50:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:10:00-04:00"}},
		{"ny: every 2 hours follows the local clock", "America/New_York", "every 2 hours", "2026-03-07T21:00:00-05:00",
			[]string{"2026-03-07T22:00:00-05:00", "2026-03-08T00:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"}},
		{"ny: every 7 minutes counts elapsed time from the epoch", "America/New_York", "every 7 minutes", "2026-03-08T01:55:00-05:00",
			[]string{"2026-03-08T01:59:00-05:00", "2026-03-08T03:06:00-04:00", "2026-03-08T03:13:00-04:00"}},
		{"ny: once at a local time in the gap", "America/New_York", "once at 2026-03-08T02:30", "2026-01-01T00:00:00Z",
			[]string{"2026-03-08T03:00:00-04:00", "never"}},
		// Europe/Amsterdam: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
		{"amsterdam gap", "Europe/Amsterdam", "daily at 02:30", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"amsterdam fold", "Europe/Amsterdam", "daily at 02:30", "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"amsterdam fold hourly", "Europe/Amsterdam", "hourly", "2026-10-25T01:30:00+02:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"}},
		{"amsterdam daily between", "Europe/Amsterdam", "daily between 10:00 and 12:00", "2026-03-28T11:00:00+01:00",
			[]string{"2026-03-29T10:00:00+02:00", "2026-03-30T10:00:00+02:00"}},
		// Australia/Lord_Howe: 2026-04-05 02:00 +11 -> 01:30 +10:30; 2026-10-04 02:00 +10:30 -> 02:30 +11.
		{"lord howe fold: half-hour repeated", "Australia/Lord_Howe", "*/15 * * * *", "2026-04-05T01:10:00+11:00",
			[]string{"2026-04-05T01:15:00+11:00", "2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00",
				"2026-04-05T01:30:00+10:30", "2026-04-05T01:45:00+10:30", "2026-04-05T02:00:00+10:30"}},
		{"lord howe fold: hourly is once per clock hour", "Australia/Lord_Howe", "hourly", "2026-04-05T00:30:00+11:00",
			[]string{"2026-04-05T01:00:00+11:00", "2026-04-05T02:00:00+10:30"}},
		{"lord howe fold: hourly at 45:00 once in the 90-minute hour", "Australia/Lord_Howe", "hourly at 45:00", "2026-04-05T00:50:00+11:00",
			[]string{"2026-04-05T01:45:00+11:00", "2026-04-05T02:45:00+10:30"}},
		{"lord howe fold: a fixed time once", "Australia/Lord_Howe", "daily at 01:45", "2026-04-04T12:00:00+11:00",
			[]string{"2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"}},
		{"lord howe gap", "Australia/Lord_Howe", "daily at 02:15", "2026-10-03T12:00:00+10:30",
			[]string{"2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"}},
		{"lord howe gap hourly", "Australia/Lord_Howe", "hourly", "2026-10-04T00:30:00+10:30",
			[]string{"2026-10-04T01:00:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-04T03:00:00+11:00"}},
		// Pacific/Chatham: 2026-04-05 03:45 +13:45 -> 02:45 +12:45; 2026-09-27 02:45 +12:45 -> 03:45 +13:45.
		{"chatham gap: hour 3 starts at the end of the gap", "Pacific/Chatham", "hourly", "2026-09-27T01:30:00+12:45",
			[]string{"2026-09-27T02:00:00+12:45", "2026-09-27T03:45:00+13:45", "2026-09-27T04:00:00+13:45"}},
		{"chatham gap daily", "Pacific/Chatham", "daily at 03:00", "2026-09-26T12:00:00+12:45",
			[]string{"2026-09-27T03:45:00+13:45", "2026-09-28T03:00:00+13:45"}},
		{"chatham fold daily", "Pacific/Chatham", "daily at 03:00", "2026-04-04T12:00:00+13:45",
			[]string{"2026-04-05T03:00:00+13:45", "2026-04-06T03:00:00+12:45"}},
		{"chatham: every 10 minutes follows the local clock", "Pacific/Chatham", "every 10 minutes", "2026-01-10T10:01:00+13:45",
			[]string{"2026-01-10T10:10:00+13:45", "2026-01-10T10:20:00+13:45"}},
		// Asia/Kolkata: +05:30, no DST.
		{"kolkata hourly on the local hour", "Asia/Kolkata", "hourly", "2026-01-10T10:01:00+05:30",
			[]string{"2026-01-10T11:00:00+05:30", "2026-01-10T12:00:00+05:30"}},
		{"kolkata cron zone prefix", "UTC", "CRON_TZ=Asia/Kolkata 0 9 * * MON-FRI", "2026-01-09T12:00:00Z",
			[]string{"2026-01-12T09:00:00+05:30", "2026-01-13T09:00:00+05:30"}},
		{"kolkata every 45 minutes", "Asia/Kolkata", "every 45m", "2026-01-10T23:50:00+05:30",
			[]string{"2026-01-11T00:00:00+05:30", "2026-01-11T00:45:00+05:30"}},
		// UTC: month ends and calendar rules.
		{"the 31st skips short months", "UTC", "0 0 31 * *", "2026-01-31T00:00:00Z",
			[]string{"2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00", "2026-08-31T00:00:00+00:00"}},
		{"monthly on 31st skips short months", "UTC", "monthly on 31st", "2026-01-31T00:00:00Z",
			[]string{"2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00"}},
		{"february 29th", "UTC", "0 12 29 2 *", "2025-01-01T00:00:00Z",
			[]string{"2028-02-29T12:00:00+00:00", "2032-02-29T12:00:00+00:00"}},
		{"february 29th across 2100", "UTC", "0 0 29 2 *", "2096-03-01T00:00:00Z",
			[]string{"2104-02-29T00:00:00+00:00"}},
		{"L is the last day of the month", "UTC", "0 0 L * *", "2027-01-15T00:00:00Z",
			[]string{"2027-01-31T00:00:00+00:00", "2027-02-28T00:00:00+00:00", "2027-03-31T00:00:00+00:00", "2027-04-30T00:00:00+00:00"}},
		{"L in a leap february", "UTC", "0 0 L 2 *", "2027-03-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00+00:00"}},
		{"day of month or day of week when both are restricted", "UTC", "0 0 13 * FRI", "2026-02-01T00:00:00Z",
			[]string{"2026-02-06T00:00:00+00:00", "2026-02-13T00:00:00+00:00", "2026-02-20T00:00:00+00:00", "2026-02-27T00:00:00+00:00", "2026-03-06T00:00:00+00:00", "2026-03-13T00:00:00+00:00"}},
		{"a day field starting with * is unrestricted: both must hold", "UTC", "0 0 */2 * MON", "2026-02-01T00:00:00Z",
			[]string{"2026-02-09T00:00:00+00:00", "2026-02-23T00:00:00+00:00", "2026-03-09T00:00:00+00:00"}},
		{"6 fields with seconds", "UTC", "*/20 0 12 * * *", "2026-02-01T00:00:00Z",
			[]string{"2026-02-01T12:00:00+00:00", "2026-02-01T12:00:20+00:00", "2026-02-01T12:00:40+00:00", "2026-02-02T12:00:00+00:00"}},
		{"names and 7 for sunday", "UTC", "0 0 * JAN,dec 7", "2026-11-30T00:00:00Z",
			[]string{"2026-12-06T00:00:00+00:00"}},
		{"@weekly is sunday (cron)", "UTC", "@weekly", "2026-02-04T00:00:00Z", []string{"2026-02-08T00:00:00+00:00"}},
		{"weekly is monday (ISO, Rocketry)", "UTC", "weekly", "2026-02-04T00:00:00Z", []string{"2026-02-09T00:00:00+00:00"}},
		{"@yearly", "UTC", "@annually", "2026-02-04T00:00:00Z", []string{"2027-01-01T00:00:00+00:00"}},
		{"@every", "UTC", "@every 90s", "2026-02-04T00:00:00Z", []string{"2026-02-04T00:01:30+00:00", "2026-02-04T00:03:00+00:00"}},
		// Phrases.
		{"secondly", "UTC", "secondly", "2026-02-04T00:00:00Z", []string{"2026-02-04T00:00:01+00:00", "2026-02-04T00:00:02+00:00"}},
		{"minutely at 30", "UTC", "minutely at 30", "2026-02-04T00:00:40Z", []string{"2026-02-04T00:01:30+00:00", "2026-02-04T00:02:30+00:00"}},
		{"hourly at 15:00 is minute 15", "UTC", "hourly at 15:00", "2026-02-04T00:20:00Z", []string{"2026-02-04T01:15:00+00:00"}},
		{"hourly after 45:00", "UTC", "hourly after 45:00", "2026-02-04T00:20:00Z", []string{"2026-02-04T00:45:00+00:00", "2026-02-04T01:45:00+00:00"}},
		{"daily before 10:00 fires at the start of the day", "UTC", "daily before 10:00", "2026-02-04T00:20:00Z", []string{"2026-02-05T00:00:00+00:00"}},
		{"daily starting 22:00", "UTC", "daily starting 22:00", "2026-02-04T00:20:00Z", []string{"2026-02-04T22:00:00+00:00"}},
		{"weekly on Monday", "UTC", "weekly on Monday", "2026-02-04T00:00:00Z", []string{"2026-02-09T00:00:00+00:00", "2026-02-16T00:00:00+00:00"}},
		{"weekly between wed and fri", "UTC", "weekly between Wed and Fri", "2026-02-04T00:00:00Z", []string{"2026-02-11T00:00:00+00:00"}},
		{"monthly starting 3rd", "UTC", "monthly starting 3rd", "2026-02-04T00:00:00Z", []string{"2026-03-03T00:00:00+00:00", "2026-04-03T00:00:00+00:00"}},
		{"every 2 hours, 30 minutes", "UTC", "every 2 hours, 30 minutes", "2026-02-04T00:00:00Z", []string{"2026-02-04T00:30:00+00:00", "2026-02-04T03:00:00+00:00"}},
		{"every 2 days at local midnight", "Europe/Amsterdam", "every 2 days", "2026-02-04T12:00:00+01:00", []string{"2026-02-06T00:00:00+01:00", "2026-02-08T00:00:00+01:00"}},
		{"every week on mondays", "UTC", "every week", "2026-02-04T12:00:00Z", []string{"2026-02-09T00:00:00+00:00"}},
		// One-offs.
		{"once at", "UTC", "once at 2026-01-02T15:04:05+01:00", "2026-01-01T00:00:00Z", []string{"2026-01-02T14:04:05+00:00", "never"}},
		{"once at, passed", "UTC", "once at 2026-01-02T15:04:05Z", "2026-01-03T00:00:00Z", []string{"never"}},
		{"in 12h is relative to now", "UTC", "in 12h", "2026-01-01T00:00:00Z", []string{"2026-01-15T21:30:00+00:00", "never"}},
		{"in 2 hours and 30 minutes", "UTC", "in 2 hours and 30 minutes", "2026-01-01T00:00:00Z", []string{"2026-01-15T12:00:00+00:00", "never"}},
		// Combinations.
		{"every 10 minutes inside a window, end excluded", "UTC", "every 10 minutes & time of day between 08:00 and 18:00", "2026-02-04T17:35:00Z",
			[]string{"2026-02-04T17:40:00+00:00", "2026-02-04T17:50:00+00:00", "2026-02-05T08:00:00+00:00"}},
		{"a window across midnight", "UTC", "hourly & time of day between 22:00 and 02:00", "2026-02-04T12:00:00Z",
			[]string{"2026-02-04T22:00:00+00:00", "2026-02-04T23:00:00+00:00", "2026-02-05T00:00:00+00:00", "2026-02-05T01:00:00+00:00", "2026-02-05T22:00:00+00:00"}},
		{"a period phrase fires at the first admitted instant", "UTC", "weekly on Monday & time of day after 10:00", "2026-02-04T00:00:00Z",
			[]string{"2026-02-09T10:00:00+00:00", "2026-02-16T10:00:00+00:00"}},
		{"daily and a negated window", "UTC", "daily & ~time of day before 06:30", "2026-02-04T07:00:00Z",
			[]string{"2026-02-05T06:30:00+00:00"}},
		{"daily and a window it never meets does not fire", "UTC", "daily at 10:00 & time of day between 11:00 and 12:00 | once at 2030-01-01T00:00:00Z", "2026-02-04T07:00:00Z",
			[]string{"2030-01-01T00:00:00+00:00", "never"}},
		{"alternatives distribute over &", "UTC", "(daily at 10:00 | daily at 14:00) & time of week between Monday and Friday", "2026-02-06T12:00:00Z",
			[]string{"2026-02-06T14:00:00+00:00", "2026-02-09T10:00:00+00:00", "2026-02-09T14:00:00+00:00"}},
		{"two rules meet", "UTC", "0 * * * * & 0 */3 * * *", "2026-02-04T01:00:00Z",
			[]string{"2026-02-04T03:00:00+00:00", "2026-02-04T06:00:00+00:00"}},
		{"hourly within cron hours", "UTC", "hourly & cron 0-59 9-11 * * MON-FRI", "2026-02-06T10:30:00Z",
			[]string{"2026-02-06T11:00:00+00:00", "2026-02-09T09:00:00+00:00"}},
		{"daily filtered by a rare rule jumps ahead", "UTC", "daily & 0 6 29 2 *", "2026-02-04T00:00:00Z",
			[]string{"2028-02-29T06:00:00+00:00", "2032-02-29T06:00:00+00:00"}},
		{"month window wraps", "UTC", "daily & time of month between 28th and 2nd", "2026-02-03T00:00:00Z",
			[]string{"2026-02-28T00:00:00+00:00", "2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00", "2026-03-28T00:00:00+00:00"}},
		{"window in both passes of a fold", "America/New_York", "every 20 minutes & time of day between 01:00 and 02:00", "2026-11-01T00:00:00-04:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:20:00-04:00", "2026-11-01T01:40:00-04:00",
				"2026-11-01T01:00:00-05:00", "2026-11-01T01:20:00-05:00", "2026-11-01T01:40:00-05:00", "2026-11-02T01:00:00-05:00"}},
		{"window entered by a fold", "America/New_York", "secondly & time of day between 01:30 and 01:31", "2026-11-01T01:31:00-04:00",
			[]string{"2026-11-01T01:30:00-05:00"}},
		{"union of rules fires once at a shared time", "UTC", "hourly | every 30 minutes", "2026-02-04T00:00:00Z",
			[]string{"2026-02-04T00:30:00+00:00", "2026-02-04T01:00:00+00:00", "2026-02-04T01:30:00+00:00"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			loc := mustLoad(t, tc.zone)
			s := mustParse(t, tc.spec, refNow, loc)
			after, err := time.Parse(time.RFC3339, tc.after)
			if err != nil {
				t.Fatal(err)
			}
			got := fires(s, after, len(tc.want))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("%s in %s after %s:\n got %v\nwant %v", tc.spec, tc.zone, tc.after, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec string
		pos  int
		tok  string
		msg  string
	}{
		{"daily at 25:00", 10, "25:00", "hour 25 out of range 0-23"},
		{"", 1, "", "empty spec"},
		{"dayly", 1, "dayly", `unknown word "dayly"`},
		{"daily at", 9, "", "expected a time of day"},
		{"hourly at 15", 11, "15", "expected minute:second"},
		{"weekly on Funday", 11, "Funday", "expected a weekday"},
		{"monthly on 32nd", 12, "32nd", "day 32 out of range 1-31"},
		{"monthly starting 30th", 18, "30th", "1st to 28th"},
		{"daily between 12:00 and 10:00", 15, "12:00", "must end after it starts"},
		{"every 0 minutes", 7, "0", "at least 1 second"},
		{"every 10 parsecs", 10, "parsecs", "expected a unit"},
		{"every", 6, "", "expected a duration"},
		{"in", 3, "", "expected a duration"},
		{"once at tomorrow", 9, "tomorrow", "RFC 3339"},
		{"0 * * *", 8, "", "expected 5 cron fields"},
		{"0 * * * * * *", 13, "*", "got 7"},
		{"61 * * * *", 1, "61", "minute 61 out of range 0-59"},
		{"0 0 * * MON-FUN", 13, "FUN", "day of week"},
		{"0 0 * JAN-XYZ *", 11, "XYZ", "month"},
		{"0 0 5-1 * *", 5, "5-1", "runs backwards"},
		{"0 0 * * 1/0", 11, "0", "step"},
		{"0 0 30 2 *", 5, "30", "never occurs"},
		{"0 L * * *", 3, "L", "only allowed in the day of month"},
		{"@fortnightly", 1, "@fortnightly", "unknown descriptor"},
		{"CRON_TZ=Mars/Olympus 0 * * * *", 1, "CRON_TZ=Mars/Olympus", `unknown time zone "Mars/Olympus"`},
		{"TZ= daily", 1, "TZ=", "IANA time zone"},
		{"time of day between 08:00 and 18:00", 1, "time", "a window alone never fires"},
		{"daily | time of day after 10:00", 9, "time", "| cannot join a window"},
		{"~daily", 1, "~", "~ negates a window"},
		{"daily & hourly", 9, "hourly", "two period phrases"},
		{"(daily", 7, "", "expected ) to close the ( at 1"},
		{"daily)", 6, ")", "expected & or | or the end"},
		{"daily &", 8, "", "expected a rule"},
		{"secondly at 10", 10, "at", "secondly takes no at"},
		{"time of year after 10:00", 9, "year", "expected minute, hour, day, week or month"},
		{"time of day between 10:00 and 10:00", 21, "10:00", "is empty"},
		{"daily on 10:00 extra", 16, "extra", "expected & or |"},
		{strings.Repeat("(", 40) + "daily" + strings.Repeat(")", 40), 33, "(", "nested more than 32 deep"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tc.spec, refNow, time.UTC)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, want a *SyntaxError", tc.spec, err)
			}
			if se.Pos != tc.pos || se.Token != tc.tok || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("Parse(%q):\n got pos %d token %q: %s\nwant pos %d token %q: ...%s...", tc.spec, se.Pos, se.Token, se.Msg, tc.pos, tc.tok, tc.msg)
			}
			if want := fmt.Sprintf("schedule: %q: at %d: ", tc.spec, tc.pos); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), want)
			}
		})
	}
	t.Run("unknown zone wraps the zone error", func(t *testing.T) {
		t.Parallel()
		_, err := Parse("TZ=No/Such_Zone daily", refNow, time.UTC)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Err == nil || errors.Unwrap(err) != se.Err {
			t.Fatalf("got %v, want a SyntaxError wrapping the zone error", err)
		}
	})
	t.Run("too long", func(t *testing.T) {
		t.Parallel()
		_, err := Parse(strings.Repeat("daily | ", MaxSpecLen), refNow, time.UTC)
		if err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestString(t *testing.T) {
	t.Parallel()
	cases := []struct{ spec, want string }{
		{"daily", "daily"},
		{"Daily AT 9:05", "daily at 09:05"},
		{"daily between 10:00 and 12:00:30", "daily between 10:00 and 12:00:30"},
		{"hourly after 45:00", "hourly after 45:00"},
		{"weekly on mon", "weekly on Monday"},
		{"monthly starting 3", "monthly starting 3rd"},
		{"every 2 hours, 30 minutes", "every 2h30m"},
		{"every 90s", "every 1m30s"},
		{"every 1w", "every 7d"},
		{"0 */5 * * MON-FRI", "0 */5 * * MON-FRI"},
		{"cron 0 * * * *", "cron 0 * * * *"},
		{"@HOURLY", "@hourly"},
		{"@every 1h", "every 1h"},
		{"CRON_TZ=Europe/Amsterdam 0 9 * * *", "TZ=Europe/Amsterdam 0 9 * * *"},
		{"in 12h", "once at 2026-01-15T21:30:00Z"},
		{"once at 2026-01-02T15:04:05.5+01:00", "once at 2026-01-02T14:04:06Z"},
		{"every 10 minutes & time of day between 08:00 and 18:00", "every 10m & time of day between 08:00 and 18:00"},
		{"time of day after 10:00 & daily", "daily & time of day after 10:00"},
		{"daily & ~(time of day before 06:00 | time of week on Sat)", "daily & ~(time of day before 06:00 | time of week on Saturday)"},
		{"(daily at 10:00 | hourly) & time of week between mon and fri",
			"daily at 10:00 & time of week between Monday and Friday | hourly & time of week between Monday and Friday"},
		{"(0 * * * * | every 7m) & (time of day after 10:00 | time of day before 02:00)",
			"(0 * * * * | every 7m) & (time of day after 10:00 | time of day before 02:00)"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, tc.spec, refNow, time.UTC)
			if got := s.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			again := mustParse(t, s.String(), refNow.Add(time.Hour), time.UTC)
			if again.String() != s.String() {
				t.Errorf("printed again: %q, then %q", s.String(), again.String())
			}
		})
	}
}
