package schedule

import (
	"fmt"
	"strings"
	"time"
)

// unit is the period of a phrase or a window.
type unit int

const (
	uSecond unit = iota
	uMinute
	uHour
	uDay
	uWeek
	uMonth
)

func (u unit) adverb() string {
	return [...]string{"secondly", "minutely", "hourly", "daily", "weekly", "monthly"}[u]
}

func (u unit) noun() string {
	return [...]string{"second", "minute", "hour", "day", "week", "month"}[u]
}

// length is the nominal length of the period in seconds (31 days for a
// month: positions are clipped to the month's real length).
func (u unit) length() int64 {
	return [...]int64{1, 60, 3600, secsPerDay, 7 * secsPerDay, 31 * secsPerDay}[u]
}

// span is the length of "at X": one unit below the period (Rocketry's
// definition: daily at 10:00 is 10:00 to 11:00).
func (u unit) span() int64 {
	return [...]int64{1, 1, 60, 3600, secsPerDay, secsPerDay}[u]
}

// dayGranular units take days as positions; the end of "between X and Y"
// then includes the whole day Y.
func (u unit) dayGranular() bool { return u == uWeek || u == uMonth }

// repeat: periods shorter than a day start again at each reading of their
// start on the clock, so a repeated hour (fall back) is two periods.
func (u unit) repeat() bool { return u < uDay }

// lookback is more than the longest real duration of one period.
func (u unit) lookback() int64 {
	return [...]int64{2, 3 * 60, 3 * 3600, 26 * 3600, 7*secsPerDay + 3*3600, 32 * secsPerDay}[u]
}

// startSpec returns the wall times at which the clock reads position pos of
// the period (the start of the period when pos is 0).
func (u unit) startSpec(pos int64) *cronSpec {
	all := func(lo, hi int) uint64 { return bits(lo, hi) }
	one := func(v int64) uint64 { return 1 << uint(v) }
	switch u {
	case uSecond:
		return newCronSpec(all(0, 59), all(0, 59), all(0, 23))
	case uMinute:
		return newCronSpec(one(pos), all(0, 59), all(0, 23))
	case uHour:
		return newCronSpec(one(pos%60), one(pos/60), all(0, 23))
	case uDay:
		return newCronSpec(one(pos%60), one(pos/60%60), one(pos/3600))
	case uWeek:
		c := newCronSpec(one(pos%60), one(pos/60%60), one(pos/3600%24))
		c.dow, c.dowStar = one((pos/secsPerDay+1)%7), false // position 0 is Monday
		return c
	default:
		c := newCronSpec(one(pos%60), one(pos/60%60), one(pos/3600%24))
		c.dom, c.domStar = one(pos/secsPerDay+1), false
		return c
	}
}

// position returns where the wall time w lies in its period, in seconds.
func (u unit) position(w int64) int64 {
	switch u {
	case uSecond:
		return 0
	case uMinute, uHour, uDay:
		return floorMod(w, u.length())
	case uWeek:
		return floorMod(w-gridAnchor, u.length()) // the anchor is a Monday
	default:
		return int64(civil(w).Day()-1)*secsPerDay + floorMod(w, secsPerDay)
	}
}

// periodEnd returns the wall time at which the period that starts at wall
// time p ends.
func (u unit) periodEnd(p int64) int64 {
	if u == uMonth {
		return civil(p).AddDate(0, 1, 0).Unix()
	}
	return p + u.length()
}

// formatPos prints a position of the unit as the parser reads it.
func (u unit) formatPos(pos int64) string {
	switch u {
	case uMinute:
		return fmt.Sprintf("%02d", pos)
	case uHour:
		return fmt.Sprintf("%02d:%02d", pos/60, pos%60)
	case uDay:
		if pos%60 != 0 {
			return fmt.Sprintf("%02d:%02d:%02d", pos/3600, pos/60%60, pos%60)
		}
		return fmt.Sprintf("%02d:%02d", pos/3600, pos/60%60)
	case uWeek:
		return weekdayNames()[pos/secsPerDay]
	case uMonth:
		return ordinal(pos/secsPerDay + 1)
	}
	return ""
}

func ordinal(n int64) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// weekdayNames are indexed from Monday.
func weekdayNames() []string {
	return []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
}

// qualifier is the part of a phrase after its period word.
type qualifier int

const (
	qNone qualifier = iota
	qAt
	qBefore
	qAfter
	qBetween
	qStarting
)

// span is a stretch of positions within a period, as written.
type span struct {
	q    qualifier
	word string // "at" or "on", as written
	a, b int64  // positions of X and Y as written
}

// bounds returns the stretch [start, end) of positions the qualifier
// selects; end may equal the period length.
func (s span) bounds(u unit) (start, end int64) {
	switch s.q {
	case qAt:
		return s.a, min(s.a+u.span(), u.length())
	case qBefore:
		return 0, s.a
	case qAfter:
		return s.a, u.length()
	case qBetween:
		end := s.b
		if u.dayGranular() {
			end += secsPerDay
		}
		return s.a, end
	}
	return 0, u.length()
}

func (s span) write(sb *strings.Builder, u unit) {
	switch s.q {
	case qAt:
		fmt.Fprintf(sb, " %s %s", s.word, u.formatPos(s.a))
	case qBefore:
		fmt.Fprintf(sb, " before %s", u.formatPos(s.a))
	case qAfter:
		fmt.Fprintf(sb, " after %s", u.formatPos(s.a))
	case qBetween:
		fmt.Fprintf(sb, " between %s and %s", u.formatPos(s.a), u.formatPos(s.b))
	case qStarting:
		fmt.Fprintf(sb, " starting %s", u.formatPos(s.a))
	}
}

// periodRule is a phrase such as "daily between 10:00 and 12:00": it fires
// once per period, at the earliest instant of the period's window that its
// filter (the rules and windows it is joined with by &) admits.
type periodRule struct {
	u      unit
	sp     span
	loc    *time.Location
	starts *cronSpec // wall times at which periods start
	filter []set     // all must admit; none: the window's start
}

func newPeriodRule(u unit, sp span, loc *time.Location) *periodRule {
	var first int64
	if sp.q == qStarting {
		first = sp.a
	}
	return &periodRule{u: u, sp: sp, loc: loc, starts: u.startSpec(first)}
}

// withFilter returns a copy of r that also requires the given sets.
func (r *periodRule) withFilter(fs []set) *periodRule {
	c := *r
	c.filter = append(append([]set(nil), r.filter...), fs...)
	return &c
}

// fireState is the outcome of looking at one period.
type fireState int

const (
	noFire     fireState = iota // no fire in this period
	fired                       // fires at the returned instant
	jumpTo                      // no fire before the returned instant
	neverAgain                  // the filter admits nothing more
)

// fireIn returns the fire of the period [s, sn) that starts at wall time p.
func (r *periodRule) fireIn(s, p, sn int64, b *budget) (int64, fireState) {
	ws, we := p, r.u.periodEnd(p)
	if r.sp.q != qStarting {
		a, e := r.sp.bounds(r.u)
		ws, we = p+a, min(p+e, we)
		if ws >= r.u.periodEnd(p) {
			return 0, noFire // the 31st of a short month
		}
	}
	us, ok := atOrAfter(ws, s, r.loc)
	if !ok || us >= sn {
		return 0, noFire
	}
	if len(r.filter) == 0 {
		return us, fired
	}
	ue, ok := atOrAfter(we, s, r.loc)
	if !ok || ue > sn {
		ue = sn
	}
	f := r.filterSet()
	if ue <= us { // the window lies in a gap: its one instant is the gap's end
		if f.contains(us, b) {
			return us, fired
		}
		return 0, noFire
	}
	u, ok := f.nextIn(us, b)
	if !ok {
		return 0, neverAgain
	}
	if u < ue {
		return u, fired
	}
	return u, jumpTo
}

func (r *periodRule) filterSet() set {
	if len(r.filter) == 1 {
		return r.filter[0]
	}
	return &andSet{parts: r.filter}
}

func (r *periodRule) nextIn(t int64, b *budget) (int64, bool) {
	rep := r.u.repeat()
	s, p, ok := nextFire(r.starts, r.loc, t-r.u.lookback(), rep, b)
	if !ok {
		return 0, false
	}
	for b.spend() {
		sn, pn, more := nextFire(r.starts, r.loc, s+1, rep, b)
		if !more {
			return 0, false
		}
		if sn <= t {
			s, p = sn, pn
			continue
		}
		f, st := r.fireIn(s, p, sn, b)
		switch st {
		case fired:
			if f >= t {
				return f, true
			}
		case neverAgain:
			return 0, false
		case jumpTo:
			if f > sn {
				// Nothing fires before f: go to the period that holds f.
				t = max(t, f)
				if s, p, ok = nextFire(r.starts, r.loc, t-r.u.lookback(), rep, b); !ok {
					return 0, false
				}
				continue
			}
		}
		s, p = sn, pn
	}
	return 0, false
}

func (r *periodRule) contains(t int64, b *budget) bool { return pointsContains(r, t, b) }

func (r *periodRule) level() int {
	if len(r.filter) > 0 {
		return levelAnd
	}
	return levelAtom
}

func (r *periodRule) write(sb *strings.Builder) {
	sb.WriteString(r.u.adverb())
	r.sp.write(sb, r.u)
	for _, f := range r.filter {
		sb.WriteString(" & ")
		writeAt(sb, f, levelAnd)
	}
}

// window is a "time of <unit> ..." condition: the instants whose wall clock
// lies in a stretch of positions of the unit's period.
type window struct {
	u          unit
	sp         span
	loc        *time.Location
	start, end int64 // [start, end) positions; start > end wraps around
	enter      []*cronSpec
	leave      []*cronSpec
}

func newWindow(u unit, sp span, loc *time.Location) *window {
	w := &window{u: u, sp: sp, loc: loc}
	w.start, w.end = sp.bounds(u)
	periodStart := u.startSpec(0)
	w.enter = []*cronSpec{u.startSpec(w.start), periodStart}
	w.leave = []*cronSpec{periodStart}
	if w.end < u.length() && (u != uMonth || w.end < 31*secsPerDay) {
		w.leave = append(w.leave, u.startSpec(w.end))
	}
	return w
}

func (w *window) contains(t int64, _ *budget) bool {
	pos := w.u.position(wallOf(t, w.loc))
	if w.start <= w.end {
		return w.start <= pos && pos < w.end
	}
	return pos >= w.start || pos < w.end
}

// edge returns the earliest instant >= t at which contains is want: the
// clock enters or leaves a window where it reads a boundary, passes a
// period start (months differ in length), or jumps at a transition.
func (w *window) edge(t int64, pats []*cronSpec, want bool, b *budget) (int64, bool) {
	if w.contains(t, b) == want {
		return t, true
	}
	cur := t
	for b.spend() {
		best, have := int64(0), false
		for _, p := range pats {
			if c, _, ok := nextFire(p, w.loc, cur, true, b); ok && (!have || c < best) {
				best, have = c, true
			}
		}
		if tr, ok := nextTransition(cur, w.loc); ok && (!have || tr < best) {
			best, have = tr, true
		}
		if !have {
			return 0, false
		}
		if w.contains(best, b) == want {
			return best, true
		}
		cur = best + 1
	}
	return 0, false
}

func (w *window) nextIn(t int64, b *budget) (int64, bool)  { return w.edge(t, w.enter, true, b) }
func (w *window) nextOut(t int64, b *budget) (int64, bool) { return w.edge(t, w.leave, false, b) }
func (w *window) level() int                               { return levelAtom }
func (w *window) write(sb *strings.Builder) {
	sb.WriteString("time of ")
	sb.WriteString(w.u.noun())
	w.sp.write(sb, w.u)
}
