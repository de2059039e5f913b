package schedule

import (
	"strings"
	"time"
)

// set is a set of instants: the fire times of a rule, or the instants
// inside a window.
type set interface {
	// nextIn returns the earliest instant >= t in the set.
	nextIn(t int64, b *budget) (int64, bool)
	// contains reports whether t is in the set.
	contains(t int64, b *budget) bool
	// level is the binding of the printed form: levelOr, levelAnd or
	// levelAtom.
	level() int
	write(sb *strings.Builder)
}

// cond is a set made of stretches of time (a window), which can be negated.
type cond interface {
	set
	// nextOut returns the earliest instant >= t not in the set.
	nextOut(t int64, b *budget) (int64, bool)
}

const (
	levelOr = iota
	levelAnd
	levelAtom
)

// writeAt prints s, in parentheses when it binds looser than min.
func writeAt(sb *strings.Builder, s set, min int) {
	if s.level() < min {
		sb.WriteByte('(')
		s.write(sb)
		sb.WriteByte(')')
		return
	}
	s.write(sb)
}

func writeJoined(sb *strings.Builder, parts []set, sep string, min int) {
	for i, p := range parts {
		if i > 0 {
			sb.WriteString(sep)
		}
		writeAt(sb, p, min)
	}
}

// pointsContains is contains for sets of discrete fire times.
func pointsContains(s set, t int64, b *budget) bool {
	u, ok := s.nextIn(t, b)
	return ok && u == t
}

// andSet is the intersection of its parts.
type andSet struct{ parts []set }

func (a *andSet) nextIn(t int64, b *budget) (int64, bool) {
outer:
	for b.spend() {
		u, ok := a.parts[0].nextIn(t, b)
		if !ok {
			return 0, false
		}
		for _, p := range a.parts[1:] {
			if !p.contains(u, b) {
				v, ok := p.nextIn(u, b)
				if !ok {
					return 0, false
				}
				t = v
				continue outer
			}
		}
		return u, true
	}
	return 0, false
}

func (a *andSet) contains(t int64, b *budget) bool {
	for _, p := range a.parts {
		if !p.contains(t, b) {
			return false
		}
	}
	return true
}

func (a *andSet) level() int                { return levelAnd }
func (a *andSet) write(sb *strings.Builder) { writeJoined(sb, a.parts, " & ", levelAnd) }

// andCond is the intersection of windows.
type andCond struct{ andSet }

func (a *andCond) nextOut(t int64, b *budget) (int64, bool) {
	best, have := int64(0), false
	for _, p := range a.parts {
		if u, ok := p.(cond).nextOut(t, b); ok && (!have || u < best) {
			best, have = u, true
		}
	}
	return best, have
}

// orSet is the union of its parts.
type orSet struct{ parts []set }

func (o *orSet) nextIn(t int64, b *budget) (int64, bool) {
	best, have := int64(0), false
	for _, p := range o.parts {
		if u, ok := p.nextIn(t, b); ok && (!have || u < best) {
			best, have = u, true
		}
	}
	return best, have
}

func (o *orSet) contains(t int64, b *budget) bool {
	for _, p := range o.parts {
		if p.contains(t, b) {
			return true
		}
	}
	return false
}

func (o *orSet) level() int                { return levelOr }
func (o *orSet) write(sb *strings.Builder) { writeJoined(sb, o.parts, " | ", levelAnd) }

// orCond is the union of windows.
type orCond struct{ orSet }

func (o *orCond) nextOut(t int64, b *budget) (int64, bool) {
outer:
	for b.spend() {
		u, ok := o.parts[0].(cond).nextOut(t, b)
		if !ok {
			return 0, false
		}
		for _, p := range o.parts[1:] {
			if p.contains(u, b) {
				v, ok := p.(cond).nextOut(u, b)
				if !ok {
					return 0, false
				}
				t = v
				continue outer
			}
		}
		return u, true
	}
	return 0, false
}

// notCond is the complement of a window.
type notCond struct{ c cond }

func (n *notCond) nextIn(t int64, b *budget) (int64, bool)  { return n.c.nextOut(t, b) }
func (n *notCond) nextOut(t int64, b *budget) (int64, bool) { return n.c.nextIn(t, b) }
func (n *notCond) contains(t int64, b *budget) bool         { return !n.c.contains(t, b) }
func (n *notCond) level() int                               { return levelAtom }
func (n *notCond) write(sb *strings.Builder) {
	sb.WriteByte('~')
	writeAt(sb, n.c, levelAtom)
}

// cronRule fires at the wall times of a cron spec.
type cronRule struct {
	spec *cronSpec
	text string // the fields or descriptor as written
	loc  *time.Location
}

func (r *cronRule) nextIn(t int64, b *budget) (int64, bool) {
	u, _, ok := nextFire(r.spec, r.loc, t, r.spec.wildHour, b)
	return u, ok
}
func (r *cronRule) contains(t int64, b *budget) bool { return pointsContains(r, t, b) }
func (r *cronRule) level() int                       { return levelAtom }
func (r *cronRule) write(sb *strings.Builder)        { sb.WriteString(r.text) }

// onceRule fires once.
type onceRule struct {
	at  int64
	loc *time.Location
}

func (r *onceRule) nextIn(t int64, _ *budget) (int64, bool) { return r.at, r.at >= t }
func (r *onceRule) contains(t int64, _ *budget) bool        { return r.at == t }
func (r *onceRule) level() int                              { return levelAtom }
func (r *onceRule) write(sb *strings.Builder) {
	sb.WriteString("once at ")
	t := time.Unix(r.at, 0).In(r.loc)
	if _, off := t.Zone(); off%60 != 0 {
		t = t.UTC() // RFC 3339 offsets have no seconds (local mean time before 1900)
	}
	sb.WriteString(t.Format(time.RFC3339))
}

// everyRule fires at a fixed interval: on a grid of the local wall clock
// when the interval divides a day or is a whole number of days, else on a
// grid of elapsed time from the Unix epoch.
type everyRule struct {
	d   int64 // seconds
	loc *time.Location
}

// gridAnchor is the origin of wall-clock grids: Monday 1970-01-05 00:00.
const gridAnchor = 4 * secsPerDay

// localGrid reports whether the interval follows the wall clock.
func (r *everyRule) localGrid() bool {
	return (r.d <= secsPerDay && secsPerDay%r.d == 0) || r.d%secsPerDay == 0
}

func (r *everyRule) nextWall(w int64) (int64, bool) {
	return gridAnchor + ceilDiv(w-gridAnchor, r.d)*r.d, true
}

func (r *everyRule) nextIn(t int64, b *budget) (int64, bool) {
	if !r.localGrid() {
		return ceilDiv(t, r.d) * r.d, true
	}
	u, _, ok := nextFire(r, r.loc, t, r.d < secsPerDay, b)
	return u, ok
}
func (r *everyRule) contains(t int64, b *budget) bool { return pointsContains(r, t, b) }
func (r *everyRule) level() int                       { return levelAtom }
func (r *everyRule) write(sb *strings.Builder) {
	sb.WriteString("every ")
	sb.WriteString(formatDuration(r.d))
}
