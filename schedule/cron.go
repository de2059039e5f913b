package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronSpec is a set of wall-clock times given by cron fields.
type cronSpec struct {
	sec, min, hour, dom, month, dow uint64
	// domStar, dowStar: the field starts with '*' or is '?'; when both
	// day fields are restricted a day matches either (cron's OR rule).
	domStar, dowStar bool
	lastDom          bool // L: the last day of the month
	wildHour         bool // the hour field starts with '*'
}

// cronHorizon is how many years a cron search looks ahead: a day-of-month
// and weekday combination recurs within a 28-year cycle.
const cronHorizon = 30

func bits(lo, hi int) uint64 {
	var b uint64
	for i := lo; i <= hi; i++ {
		b |= 1 << uint(i)
	}
	return b
}

// everyDay returns a spec matching every day, at the given second, minute
// and hour bit sets.
func newCronSpec(sec, min, hour uint64) *cronSpec {
	return &cronSpec{sec: sec, min: min, hour: hour, dom: bits(1, 31), month: bits(1, 12), dow: bits(0, 6),
		domStar: true, dowStar: true, wildHour: hour == bits(0, 23)}
}

func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func (c *cronSpec) dayMatch(t time.Time) bool {
	d := t.Day()
	domOK := c.dom&(1<<uint(d)) != 0 || (c.lastDom && d == daysIn(t.Month(), t.Year()))
	dowOK := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

func (c *cronSpec) nextWall(w int64) (int64, bool) {
	t := civil(w)
	limit := t.Year() + cronHorizon
outer:
	for t.Year() <= limit {
		for c.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			if t.Year() > limit {
				return 0, false
			}
		}
		for !c.dayMatch(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			if t.Day() == 1 {
				continue outer
			}
		}
		for c.hour&(1<<uint(t.Hour())) == 0 {
			t = t.Truncate(time.Hour).Add(time.Hour)
			if t.Hour() == 0 {
				continue outer
			}
		}
		for c.min&(1<<uint(t.Minute())) == 0 {
			t = t.Truncate(time.Minute).Add(time.Minute)
			if t.Minute() == 0 {
				continue outer
			}
		}
		for c.sec&(1<<uint(t.Second())) == 0 {
			t = t.Add(time.Second)
			if t.Second() == 0 {
				continue outer
			}
		}
		return t.Unix(), true
	}
	return 0, false
}

// cronField describes one cron field.
type cronField struct {
	name   string
	lo, hi int
	names  []string // names[i] is value lo+i... indexed from nameBase
	base   int      // the value of names[0]
}

func monthNames() []string {
	return []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
}

func dowNames() []string { return []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"} }

func cronFields(withSeconds bool) []cronField {
	f := []cronField{
		{name: "minute", lo: 0, hi: 59},
		{name: "hour", lo: 0, hi: 23},
		{name: "day of month", lo: 1, hi: 31},
		{name: "month", lo: 1, hi: 12, names: monthNames(), base: 1},
		{name: "day of week", lo: 0, hi: 7, names: dowNames(), base: 0},
	}
	if withSeconds {
		f = append([]cronField{{name: "second", lo: 0, hi: 59}}, f...)
	}
	return f
}

// fieldError is a problem at an offset inside one cron field.
type fieldError struct {
	off  int
	text string // the offending part of the field
	msg  string
}

func (e *fieldError) Error() string { return e.msg }

func (f cronField) value(s string, off int) (int, error) {
	if s == "" {
		return 0, &fieldError{off, s, fmt.Sprintf("empty value in the %s field", f.name)}
	}
	if s[0] >= '0' && s[0] <= '9' {
		n, err := strconv.Atoi(s)
		if err != nil || n < f.lo || n > f.hi {
			return 0, &fieldError{off, s, fmt.Sprintf("%s %s out of range %d-%d", f.name, s, f.lo, f.hi)}
		}
		return n, nil
	}
	for i, name := range f.names {
		if strings.EqualFold(s, name) {
			return f.base + i, nil
		}
	}
	want := "a number"
	if len(f.names) > 0 {
		want = fmt.Sprintf("a number or a name %s-%s", f.names[0], f.names[len(f.names)-1])
	}
	return 0, &fieldError{off, s, fmt.Sprintf("%q in the %s field: expected %s", s, f.name, want)}
}

// parse returns the bit set of one field, whether it counts as unrestricted
// ('*...' or '?') and whether it holds L (day of month only).
func (f cronField) parse(s string) (b uint64, star, last bool, err error) {
	star = strings.HasPrefix(s, "*") || s == "?"
	off := 0
	for _, part := range strings.Split(s, ",") {
		if err := func() error {
			if part == "L" || part == "l" {
				if f.name != "day of month" {
					return &fieldError{off, part, fmt.Sprintf("L is only allowed in the day of month field, not in the %s field", f.name)}
				}
				last = true
				return nil
			}
			rng, stepStr, hasStep := strings.Cut(part, "/")
			step := 1
			if hasStep {
				n, err := strconv.Atoi(stepStr)
				if err != nil || n < 1 || n > f.hi+1 {
					return &fieldError{off + len(rng) + 1, stepStr, fmt.Sprintf("step %q in the %s field: expected a number 1-%d", stepStr, f.name, f.hi+1)}
				}
				step = n
			}
			lo, hi := f.lo, f.hi
			switch {
			case rng == "*" || rng == "?":
				if rng == "?" && f.name != "day of month" && f.name != "day of week" {
					return &fieldError{off, rng, fmt.Sprintf("? is only allowed in the day fields, not in the %s field", f.name)}
				}
			default:
				a, bs, isRange := strings.Cut(rng, "-")
				v, err := f.value(a, off)
				if err != nil {
					return err
				}
				lo = v
				if isRange {
					w, err := f.value(bs, off+len(a)+1)
					if err != nil {
						return err
					}
					if w < v {
						return &fieldError{off, rng, fmt.Sprintf("range %s in the %s field runs backwards", rng, f.name)}
					}
					hi = w
				} else if !hasStep {
					hi = v
				}
			}
			for i := lo; i <= hi; i += step {
				b |= 1 << uint(i)
			}
			return nil
		}(); err != nil {
			return 0, false, false, err
		}
		off += len(part) + 1
	}
	return b, star, last, nil
}

// cronDescriptors maps @descriptors to their fields.
func cronDescriptor(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "@yearly", "@annually":
		return "0 0 1 1 *", true
	case "@monthly":
		return "0 0 1 * *", true
	case "@weekly":
		return "0 0 * * 0", true
	case "@daily", "@midnight":
		return "0 0 * * *", true
	case "@hourly":
		return "0 * * * *", true
	}
	return "", false
}

// parseCron parses 5 or 6 cron fields. On error it returns the index of the
// offending field and a *fieldError.
func parseCron(fields []string) (*cronSpec, int, error) {
	if len(fields) != 5 && len(fields) != 6 {
		return nil, len(fields), fmt.Errorf("expected 5 cron fields (minute hour day-of-month month day-of-week) or 6 (with leading seconds), got %d", len(fields))
	}
	defs := cronFields(len(fields) == 6)
	c := &cronSpec{sec: 1}
	var out [6]uint64
	for i, s := range fields {
		b, star, last, err := defs[i].parse(s)
		if err != nil {
			return nil, i, err
		}
		j := i
		if len(fields) == 5 {
			j = i + 1
		}
		out[j] = b
		switch j {
		case 2:
			c.wildHour = star && s != "?"
		case 3:
			c.domStar, c.lastDom = star, last
		case 5:
			c.dowStar = star
		}
	}
	if len(fields) == 6 {
		c.sec = out[0]
	}
	c.min, c.hour, c.dom, c.month = out[1], out[2], out[3], out[4]
	c.dow = out[5]
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow = c.dow&^(1<<7) | 1
	}
	if c.domStar || c.dowStar {
		// Days must satisfy both fields: make sure some month has the day.
		ok := c.lastDom
		for m := time.January; m <= time.December && !ok; m++ {
			if c.month&(1<<uint(m)) == 0 {
				continue
			}
			maxDay := daysIn(m, 2000) // a leap year: February has 29
			if c.dom&bits(1, maxDay) != 0 {
				ok = true
			}
		}
		if !ok {
			i := 2
			if len(fields) == 6 {
				i = 3
			}
			return nil, i, &fieldError{0, fields[i], fmt.Sprintf("day of month %s never occurs in month %s", fields[i], fields[i+1])}
		}
	}
	return c, 0, nil
}
