package schedule

import (
	"math"
	"time"
)

// Times inside the package are whole seconds: instants are Unix seconds and
// wall-clock (civil) times are seconds since 1970-01-01 00:00:00 on the local
// clock, that is the wall clock read as if it were UTC.

const (
	secsPerDay = 86400
	maxInstant = math.MaxInt64
)

// civil returns the wall time w as a UTC time.Time, for calendar arithmetic.
func civil(w int64) time.Time { return time.Unix(w, 0).UTC() }

// wallOf returns the wall-clock reading, in loc, of the instant t.
func wallOf(t int64, loc *time.Location) int64 {
	_, off := time.Unix(t, 0).In(loc).Zone()
	return t + int64(off)
}

// resolve returns the instants at which the clock in loc reads the wall
// time w: n is 1 normally, 2 in a fall-back fold (first < second), and 0 in a
// spring-forward gap, where first is the first instant after the gap (the
// transition itself).
func resolve(w int64, loc *time.Location) (first, second int64, n int) {
	type zone struct{ start, end, off int64 }
	var zs [6]zone
	k := 0
	lo, hi := w-15*3600, w+15*3600
	t := time.Unix(lo, 0).In(loc)
	for k < len(zs) {
		_, off := t.Zone()
		s, e := t.ZoneBounds()
		z := zone{start: math.MinInt64, end: maxInstant, off: int64(off)}
		if !s.IsZero() {
			z.start = s.Unix()
		}
		if !e.IsZero() {
			z.end = e.Unix()
		}
		zs[k] = z
		k++
		if e.IsZero() || z.end > hi {
			break
		}
		t = e
	}
	for i := 0; i < k; i++ {
		u := w - zs[i].off
		if u >= zs[i].start && u < zs[i].end {
			switch n {
			case 0:
				first = u
			case 1:
				second = u
			}
			n++
		}
	}
	if n > 0 {
		return first, second, min(n, 2)
	}
	for i := 0; i+1 < k; i++ {
		tr := zs[i].end
		if tr+zs[i].off <= w && w < tr+zs[i+1].off {
			return tr, 0, 0
		}
	}
	// Not reached with real zone data; fall back on the standard library.
	c := civil(w)
	return time.Date(c.Year(), c.Month(), c.Day(), c.Hour(), c.Minute(), c.Second(), 0, loc).Unix(), 0, 1
}

// atOrAfter returns the earliest instant >= s at which the clock reads w, or
// the end of the gap w falls in if that is >= s.
func atOrAfter(w, s int64, loc *time.Location) (int64, bool) {
	f, sec, n := resolve(w, loc)
	switch {
	case f >= s:
		return f, true
	case n == 2 && sec >= s:
		return sec, true
	}
	return 0, false
}

// nextTransition returns the earliest instant >= t at which loc's offset
// changes.
func nextTransition(t int64, loc *time.Location) (int64, bool) {
	s, e := time.Unix(t, 0).In(loc).ZoneBounds()
	if !s.IsZero() && s.Unix() == t {
		return t, true
	}
	if e.IsZero() {
		return 0, false
	}
	return e.Unix(), true
}

// pattern is a set of wall-clock times.
type pattern interface {
	// nextWall returns the earliest wall time >= w in the set, false if
	// there is none within the pattern's search horizon.
	nextWall(w int64) (int64, bool)
}

// budget bounds the work of one Next call, so that combinations whose parts
// never meet cannot search forever.
type budget struct{ n int }

func (b *budget) spend() bool {
	b.n--
	return b.n >= 0
}

// nextBudget is the number of search steps one Next call may take.
const nextBudget = 100000

// nextFire returns the earliest instant >= t at which the clock in loc reads
// a wall time of p, and that wall time. A wall time that falls in a gap
// fires at the end of the gap; one that the clock reads twice (a fold)
// fires at its first reading, and also at its second when repeat is set.
func nextFire(p pattern, loc *time.Location, t int64, repeat bool, b *budget) (inst, wall int64, ok bool) {
	tt := time.Unix(t, 0).In(loc)
	_, o := tt.Zone()
	off := int64(o)
	w0 := t + off
	have := false
	if repeat {
		// t may lie in the first pass of a fold ahead: wall times before
		// w0 are then read again, after t.
		if _, end := tt.ZoneBounds(); !end.IsZero() {
			_, on := end.Zone()
			offN := int64(on)
			if offN < off {
				tr := end.Unix()
				fs, fe := tr+offN, tr+off
				if w0 >= fs {
					if w, ok := p.nextWall(fs); ok && w < fe {
						inst, wall, have = w-offN, w, true
					}
				}
			}
		}
	}
	// t may be the very end of a gap: the wall times in the gap, before
	// w0, fire at t.
	if s, _ := tt.ZoneBounds(); !have && !s.IsZero() && s.Unix() == t {
		_, op := time.Unix(t-1, 0).In(loc).Zone()
		if offP := int64(op); offP < off {
			if w, ok := p.nextWall(t + offP); ok && w < w0 {
				return t, w, true
			}
		}
	}
	w := w0
	for b.spend() {
		var ok bool
		if w, ok = p.nextWall(w); !ok {
			break
		}
		f, s, n := resolve(w, loc)
		c, found := int64(0), false
		switch {
		case f >= t:
			c, found = f, true
		case repeat && n == 2 && s >= t:
			c, found = s, true
		}
		if found {
			if !have || c < inst {
				inst, wall = c, w
			}
			return inst, wall, true
		}
		w++
	}
	return inst, wall, have
}

// floorDiv and floorMod divide rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// ceilDiv divides rounding towards plus infinity (b > 0).
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
