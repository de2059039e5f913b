package schedule

import (
	"strings"
	"time"
)

// Schedule is a parsed schedule spec: a rule that yields fire times. It is
// immutable and safe for concurrent use.
type Schedule struct {
	root set
	loc  *time.Location
	zone string // the zone named by a TZ= or CRON_TZ= prefix, "" if none
}

// Parse parses spec (see the package documentation for the language).
// now is the reference time of relative specs such as "in 12h"; loc is the
// time zone of the spec's wall-clock times unless the spec names its own
// with a TZ= or CRON_TZ= prefix (nil means UTC). Parse never reads the
// clock. A spec it cannot accept yields a *SyntaxError.
func Parse(spec string, now time.Time, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	p := &parser{spec: spec, toks: lex(spec), now: now, loc: loc}
	return p.parse()
}

// Next returns the first fire time strictly after after, in the schedule's
// zone. It returns false when the schedule never fires again: a one-off
// whose time has passed, or a combination whose parts are not found to meet
// within the search limit (documented in the package doc).
func (s *Schedule) Next(after time.Time) (time.Time, bool) {
	b := budget{n: nextBudget}
	u, ok := s.root.nextIn(after.Unix()+1, &b)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(u, 0).In(s.loc), true
}

// Location returns the time zone of the schedule's wall-clock times.
func (s *Schedule) Location() *time.Location { return s.loc }

// String returns the schedule as a spec that parses to an equivalent
// schedule: one with the same fire times, given the same default zone.
// Relative one-offs ("in 12h") print as the absolute "once at ...".
func (s *Schedule) String() string {
	var sb strings.Builder
	if s.zone != "" {
		sb.WriteString("TZ=")
		sb.WriteString(s.zone)
		sb.WriteByte(' ')
	}
	s.root.write(&sb)
	return sb.String()
}
