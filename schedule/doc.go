// Package schedule parses schedule specs and computes their fire times in
// any IANA time zone.
//
// A spec is parsed once, with the reference time of relative specs and the
// default zone given by the caller (Parse never reads the clock):
//
//	s, err := schedule.Parse("daily between 10:00 and 12:00", now, amsterdam)
//	next, ok := s.Next(now) // the first fire strictly after now; false: never again
//
// All fire times are whole seconds. Next is a pure function of the spec, the
// zone and its argument: fire times come from the rule, never from when a
// previous run happened, so a recurring schedule cannot drift.
//
// # Forms
//
// Cron, with 5 fields (minute hour day-of-month month day-of-week) or 6
// (a leading seconds field), written bare or after the word cron:
//
//	0 * * * *             cron 0 9 * * MON-FRI      */20 0 12 * * *
//
// Fields take *, numbers, ranges (1-5), steps (*/15, 10-50/10, 5/15 meaning
// 5-max/15), lists (1,15,L), month names JAN-DEC and weekday names SUN-SAT
// (any case; 0 and 7 are Sunday), and ? in the day fields for *. L in the
// day-of-month field is the last day of the month; no other Quartz
// extensions (W, #, L in the day-of-week field) are accepted. When both day
// fields are restricted a day matches if either matches (0 0 13 * FRI: the
// 13th and every Friday); as in Vixie cron, a day field that starts with * is
// unrestricted, so 0 0 */2 * MON means odd days that are Mondays. A spec
// whose day-of-month never occurs in its months (0 0 30 2 *) is an error.
// Descriptors: @yearly and @annually (0 0 1 1 *), @monthly (0 0 1 * *),
// @weekly (0 0 * * 0, Sunday as in cron), @daily and @midnight (0 0 * * *),
// @hourly (0 * * * *), and @every <duration>, the same as every.
//
// A spec may start with TZ=<zone> or CRON_TZ=<zone>: the zone of the whole
// spec, in place of the default zone given to Parse.
//
// Period phrases, after Rocketry (the syntax of Machina's worker intervals):
// secondly, minutely, hourly, daily, weekly and monthly, each alone or with
// one qualifier. A phrase fires once per period of the local clock (a
// minute, an hour, a day, a week starting on Monday, a month), at the start
// of the stretch of the period its qualifier selects:
//
//	daily                          00:00 every day
//	daily at 10:00                 10:00 (at X spans one unit below the period:
//	                               10:00-11:00; the span matters with &)
//	daily between 10:00 and 12:00  10:00 (the stretch is 10:00-12:00)
//	daily after 22:30              22:30 (22:30 to the end of the day)
//	daily before 06:00             00:00 (the start of the day to 06:00)
//	daily starting 22:00           22:00: the period runs 22:00 to 22:00
//	hourly at 15:00                minute 15 of every hour (hourly takes minute:second)
//	hourly after 45:00             minute 45
//	minutely at 30                 second 30 of every minute (minutely takes seconds)
//	weekly                         Monday 00:00
//	weekly on Friday               Friday 00:00 (weekdays by name or three letters)
//	weekly between Monday and Friday  Monday 00:00 (the stretch includes Friday)
//	monthly on 3rd                 the 3rd at 00:00 (ordinals 1st-31st, or numbers)
//	monthly starting 3rd           the 3rd at 00:00; the period runs 3rd to 3rd (1st-28th)
//	monthly on 31st                the 31st, in the months that have one
//
// A stretch given in days (weekly, monthly) includes its last day; one given
// as a clock time excludes it (between 10:00 and 12:00 ends at 12:00). In a
// phrase, between must end after it starts within the period; secondly takes
// no qualifier.
//
// Intervals: every 10 minutes, every 2 hours, 30 minutes, every 2 hours and
// 30 minutes, every 90s, every 1h30m, every 2d, every hour (units s, m, h,
// d, w and their words; whole seconds, at least 1s). An interval is anchored
// to the rule, not to a previous run:
//
//   - one that divides a day (10 minutes, 90 seconds, 2 hours, 8 hours) or
//     is a whole number of days follows the local wall clock, on a grid that
//     starts at local midnight (for days: at Monday 1970-01-05, so every 7
//     days fires on Mondays and every 2 days on alternate days from then):
//     every 10 minutes fires at :00, :10, ... in every zone, Kolkata and
//     Chatham included;
//   - any other (7 minutes, 5 hours, 36 hours) fires at the multiples of the
//     interval since the Unix epoch (1970-01-01T00:00:00Z): exactly the
//     interval apart at all times, wherever that falls on the local clock.
//
// One-offs: once at 2026-01-02T15:04:05Z (RFC 3339; a time without an offset,
// 2026-01-02T15:04 or 2026-01-02, is in the schedule's zone), and in 12h /
// in 2 hours and 30 minutes, relative to the reference time given to Parse.
// Fractions of a second round up. A one-off prints (String) as once at.
//
// Windows restrict rules; alone they never fire: time of minute, hour, day,
// week or month, with between X and Y, after X, before X, or at/on X:
//
//	time of day between 08:00 and 18:00   time of week on Saturday
//	time of month between 28th and 3rd    time of hour after 30:00
//
// A window holds at the instants whose local clock reading lies in its
// stretch (same endpoint rules as phrases). Unlike a phrase, a window may
// wrap around its period: time of day between 22:00 and 02:00 is the night.
//
// # Combinations
//
// Rules and windows combine with & (and), | (or), ~ (not, windows only) and
// parentheses; ~ binds tightest, then &, then |.
//
//   - rule & window: the rule's fire times at which the window holds:
//     every 10 minutes & time of day between 08:00 and 18:00 fires at 08:00,
//     08:10, ..., 17:50.
//   - rule & rule: the times at which both fire: 0 * * * * & every 3 hours.
//   - phrase & anything: once per period, at the earliest instant of the
//     phrase's stretch that all the others admit (a window: any instant it
//     holds; a rule: its fire times). weekly on Monday & time of day after
//     10:00 fires Mondays at 10:00; daily & ~time of day before 06:30 at
//     06:30; a period in which nothing is admitted does not fire. Two
//     phrases cannot be joined by &.
//   - rule | rule: the fire times of either; a time both share fires once.
//   - window | window, window & window, ~window: windows again. A window and
//     a rule cannot be joined by |.
//   - & distributes over | when an alternative is a phrase:
//     (daily at 10:00 | hourly) & W is daily at 10:00 & W | hourly & W.
//
// # Time zones and DST
//
// Wall-clock rules (cron, phrases, windows, intervals on the local grid)
// are defined on the local clock of the schedule's zone; an instant is a fire
// time when the clock reads a wall time of the rule then, with two rules for
// the readings that a DST change removes or repeats:
//
//   - a wall time that does not exist (spring forward) fires at the first
//     instant after the gap: daily at 02:30 in New York fires at 03:00 EDT
//     on the day clocks go from 02:00 to 03:00;
//   - a wall time the clock reads twice (fall back) fires once, at its first
//     reading, for rules with a fixed hour: daily at 01:30, cron 30 1 * * *,
//     daily, weekly, monthly, every N days. Rules that repeat within the day
//     (cron whose hour field starts with *, hourly, minutely, secondly,
//     every N minutes/hours on the local grid) fire at every reading, as
//     Vixie cron runs its wildcard jobs: a repeated hour is an hour that
//     happens, and skipping it would silently lose its fires. hourly fires
//     at 01:00 EDT and 01:00 EST; */30 * * * * at 01:00, 01:30 of both.
//
// A phrase's periods start where the clock reads the period's start (for
// hours and shorter: at each reading; for days and longer: the first), or at
// the end of a gap that swallows it. A clock hour that a 30-minute fold
// (Lord Howe) stretches to 90 minutes is one period: hourly at 45:00 fires
// once in it, while cron 45 * * * * fires at both readings of 01:45. Days
// are therefore exactly one fire each for daily, whatever the zone. The
// windows of a phrase follow the same rules; a window that lies wholly in a
// gap shrinks to the instant after it.
//
// Windows (time of ...) hold at every reading of their stretch, so a window
// holds during both passes of a repeated hour.
//
// # Limits
//
// A spec is at most MaxSpecLen bytes, nests ( and ~ at most 32 deep, and
// has at most 64 alternatives after & is distributed over |. Next searches
// at most 100,000 steps per call and cron at most 30 years ahead: a
// combination whose parts meet more rarely than that (rules that never fire
// at the same instant) reports false, as never.
package schedule
