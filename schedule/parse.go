package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits of the parser.
const (
	// MaxSpecLen is the longest spec Parse accepts, in bytes.
	MaxSpecLen = 4096
	maxDepth   = 32 // nesting of ( and ~
	maxAlts    = 64 // alternatives after distributing & over |
	maxSeconds = 100 * 366 * secsPerDay
)

type token struct {
	text string
	pos  int // 0-based byte offset
}

func isOp(c byte) bool { return c == '&' || c == '|' || c == '~' || c == '(' || c == ')' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// lex splits a spec into words and the operators & | ~ ( ).
func lex(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case isSpace(c):
			i++
		case isOp(c):
			toks = append(toks, token{s[i : i+1], i})
			i++
		default:
			j := i
			for j < len(s) && !isSpace(s[j]) && !isOp(s[j]) {
				j++
			}
			toks = append(toks, token{s[i:j], i})
			i = j
		}
	}
	return toks
}

type parser struct {
	spec  string
	toks  []token
	i     int
	now   time.Time
	loc   *time.Location
	zone  string
	depth int
}

// kind is what an expression denotes.
type kind int

const (
	kCond   kind = iota // a window: stretches of time
	kPoints             // fire times
	kPeriod             // a period phrase, possibly filtered
	kUnion              // alternatives, one at least a period phrase
)

type expr struct {
	k    kind
	s    set
	alts []expr // kUnion
	tok  token  // where the expression starts, for errors
}

func (p *parser) cur() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return token{"", len(p.spec)}
}

func (p *parser) atEnd() bool { return p.i >= len(p.toks) }

func (p *parser) errAt(t token, format string, args ...any) *SyntaxError {
	return &SyntaxError{Spec: p.spec, Pos: t.pos + 1, Token: t.text, Msg: fmt.Sprintf(format, args...)}
}

// describe names a token in messages.
func describe(t token) string {
	if t.text == "" {
		return "end of spec"
	}
	return strconv.Quote(t.text)
}

func (p *parser) expectWord(words ...string) (token, error) {
	t := p.cur()
	for _, w := range words {
		if strings.EqualFold(t.text, w) {
			p.i++
			return t, nil
		}
	}
	return t, p.errAt(t, "unexpected %s, expected %s", describe(t), strings.Join(words, " or "))
}

func (p *parser) parse() (*Schedule, error) {
	if len(p.spec) > MaxSpecLen {
		return nil, &SyntaxError{Spec: p.spec[:64] + "...", Pos: MaxSpecLen + 1, Msg: fmt.Sprintf("spec longer than %d bytes", MaxSpecLen)}
	}
	if len(p.toks) == 0 {
		return nil, p.errAt(p.cur(), "empty spec: expected a rule such as daily, every 10 minutes or 0 * * * *")
	}
	if t := p.cur(); strings.HasPrefix(t.text, "TZ=") || strings.HasPrefix(t.text, "CRON_TZ=") {
		_, name, _ := strings.Cut(t.text, "=")
		if name == "" || name == "Local" {
			return nil, p.errAt(t, "expected an IANA time zone name after =, such as Europe/Amsterdam")
		}
		loc, err := time.LoadLocation(name)
		if err != nil {
			e := p.errAt(t, "unknown time zone %q", name)
			e.Err = err
			return nil, e
		}
		p.loc, p.zone = loc, name
		p.i++
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if !p.atEnd() {
		t := p.cur()
		return nil, p.errAt(t, "unexpected %s, expected & or | or the end of the spec", describe(t))
	}
	if e.k == kCond {
		return nil, p.errAt(e.tok, "a window alone never fires: join it to a rule with &, as in every 10 minutes & time of day between 08:00 and 18:00")
	}
	return &Schedule{root: e.s, loc: p.loc, zone: p.zone}, nil
}

func (p *parser) parseOr() (expr, error) {
	first, err := p.parseAnd()
	if err != nil {
		return expr{}, err
	}
	parts := []expr{first}
	for p.cur().text == "|" {
		p.i++
		e, err := p.parseAnd()
		if err != nil {
			return expr{}, err
		}
		parts = append(parts, e)
	}
	return p.disj(parts)
}

func (p *parser) parseAnd() (expr, error) {
	first, err := p.parseUnary()
	if err != nil {
		return expr{}, err
	}
	parts := []expr{first}
	for p.cur().text == "&" {
		p.i++
		e, err := p.parseUnary()
		if err != nil {
			return expr{}, err
		}
		parts = append(parts, e)
	}
	return p.conj(parts)
}

func (p *parser) parseUnary() (expr, error) {
	t := p.cur()
	switch t.text {
	case "~", "(":
		if p.depth >= maxDepth {
			return expr{}, p.errAt(t, "nested more than %d deep", maxDepth)
		}
		p.depth++
		defer func() { p.depth-- }()
		p.i++
		if t.text == "~" {
			e, err := p.parseUnary()
			if err != nil {
				return expr{}, err
			}
			if e.k != kCond {
				return expr{}, p.errAt(t, "~ negates a window (time of day ..., time of week ...), not a rule that fires")
			}
			return expr{k: kCond, s: &notCond{c: e.s.(cond)}, tok: t}, nil
		}
		e, err := p.parseOr()
		if err != nil {
			return expr{}, err
		}
		if c := p.cur(); c.text != ")" {
			return expr{}, p.errAt(c, "unexpected %s, expected ) to close the ( at %d", describe(c), t.pos+1)
		}
		p.i++
		return e, nil
	}
	return p.parseAtom()
}

// disj joins alternatives with |.
func (p *parser) disj(parts []expr) (expr, error) {
	if len(parts) == 1 {
		return parts[0], nil
	}
	conds := 0
	for _, e := range parts {
		if e.k == kCond {
			conds++
		}
	}
	if conds > 0 && conds < len(parts) {
		for _, e := range parts[1:] {
			if (e.k == kCond) != (parts[0].k == kCond) {
				return expr{}, p.errAt(e.tok, "| cannot join a window (time of ...) and a rule that fires: a window only restricts a rule, with &")
			}
		}
	}
	var flat []set
	var alts []expr
	k := kPoints
	for _, e := range parts {
		switch e.k {
		case kUnion:
			k = kUnion
			alts = append(alts, e.alts...)
		case kPeriod:
			k = kUnion
			alts = append(alts, e)
		default:
			alts = append(alts, e)
		}
	}
	if len(alts) > maxAlts {
		return expr{}, p.errAt(parts[0].tok, "more than %d alternatives joined by |", maxAlts)
	}
	for _, e := range alts {
		if o, ok := e.s.(*orSet); ok {
			flat = append(flat, o.parts...)
		} else if o, ok := e.s.(*orCond); ok {
			flat = append(flat, o.parts...)
		} else {
			flat = append(flat, e.s)
		}
	}
	switch {
	case conds > 0:
		return expr{k: kCond, s: &orCond{orSet{flat}}, tok: parts[0].tok}, nil
	case k == kPoints:
		return expr{k: kPoints, s: &orSet{flat}, tok: parts[0].tok}, nil
	}
	return expr{k: kUnion, s: &orSet{flat}, alts: alts, tok: parts[0].tok}, nil
}

// conj joins parts with &: a period phrase takes the others as its filter;
// rules intersect; windows restrict rules; & distributes over alternatives
// that hold a period phrase.
func (p *parser) conj(parts []expr) (expr, error) {
	if len(parts) == 1 {
		return parts[0], nil
	}
	for i, e := range parts {
		if e.k != kUnion {
			continue
		}
		var alts []expr
		for _, a := range e.alts {
			rest := append([]expr(nil), parts...)
			rest[i] = a
			c, err := p.conj(rest)
			if err != nil {
				return expr{}, err
			}
			alts = append(alts, c)
			if len(alts) > maxAlts {
				return expr{}, p.errAt(e.tok, "more than %d alternatives after distributing & over |", maxAlts)
			}
		}
		return p.disj(alts)
	}
	var period *periodRule
	var periodTok token
	var points, conds []set
	for _, e := range parts {
		switch e.k {
		case kPeriod:
			if period != nil {
				return expr{}, p.errAt(e.tok, "two period phrases joined by & (%s and this one): a rule has one period; use | for either, or a window (time of ...) to restrict", periodTok.text)
			}
			period, periodTok = e.s.(*periodRule), e.tok
		case kPoints:
			points = append(points, flattenAnd(e.s)...)
		case kCond:
			conds = append(conds, flattenAnd(e.s)...)
		}
	}
	filters := append(points, conds...)
	switch {
	case period != nil:
		return expr{k: kPeriod, s: period.withFilter(filters), tok: parts[0].tok}, nil
	case len(points) > 0:
		return expr{k: kPoints, s: &andSet{filters}, tok: parts[0].tok}, nil
	}
	return expr{k: kCond, s: &andCond{andSet{conds}}, tok: parts[0].tok}, nil
}

func flattenAnd(s set) []set {
	switch a := s.(type) {
	case *andSet:
		return a.parts
	case *andCond:
		return a.parts
	}
	return []set{s}
}

func (p *parser) parseAtom() (expr, error) {
	t := p.cur()
	w := strings.ToLower(t.text)
	switch {
	case t.text == "" || t.text == "&" || t.text == "|" || t.text == ")":
		return expr{}, p.errAt(t, "unexpected %s, expected a rule such as daily, every 10 minutes, 0 * * * *, or a window such as time of day between 08:00 and 18:00", describe(t))
	case w == "cron":
		p.i++
		return p.parseCron(t)
	case strings.HasPrefix(w, "@"), w[0] >= '0' && w[0] <= '9', w[0] == '*', w[0] == '?':
		return p.parseCron(t)
	case w == "every":
		p.i++
		d, err := p.parseDuration(true)
		if err != nil {
			return expr{}, err
		}
		return expr{k: kPoints, s: &everyRule{d: d, loc: p.loc}, tok: t}, nil
	case w == "in":
		p.i++
		d, err := p.parseDuration(false)
		if err != nil {
			return expr{}, err
		}
		at := p.now.Add(time.Duration(d) * time.Second)
		return expr{k: kPoints, s: &onceRule{at: ceilSecond(at), loc: p.loc}, tok: t}, nil
	case w == "once":
		p.i++
		if _, err := p.expectWord("at"); err != nil {
			return expr{}, err
		}
		return p.parseOnce(t)
	case w == "time":
		p.i++
		if _, err := p.expectWord("of"); err != nil {
			return expr{}, err
		}
		ut := p.cur()
		u, ok := unitByNoun(strings.ToLower(ut.text))
		if !ok {
			return expr{}, p.errAt(ut, "unexpected %s, expected minute, hour, day, week or month after time of", describe(ut))
		}
		p.i++
		sp, err := p.parseSpan(u, false)
		if err != nil {
			return expr{}, err
		}
		return expr{k: kCond, s: newWindow(u, sp, p.loc), tok: t}, nil
	}
	if u, ok := unitByAdverb(w); ok {
		p.i++
		sp, err := p.parseSpan(u, true)
		if err != nil {
			return expr{}, err
		}
		return expr{k: kPeriod, s: newPeriodRule(u, sp, p.loc), tok: t}, nil
	}
	return expr{}, p.errAt(t, "unknown word %q, expected a rule (daily, hourly at 15:00, weekly on Monday, every 10 minutes, cron 0 * * * *, once at 2026-01-02T15:04:05Z, in 12h) or a window (time of day between 08:00 and 18:00)", t.text)
}

func unitByAdverb(w string) (unit, bool) {
	for u := uSecond; u <= uMonth; u++ {
		if u.adverb() == w {
			return u, true
		}
	}
	return 0, false
}

func unitByNoun(w string) (unit, bool) {
	for u := uMinute; u <= uMonth; u++ {
		if u.noun() == w {
			return u, true
		}
	}
	return 0, false
}

func ceilSecond(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}

// parseCron reads a descriptor or 5 or 6 fields, up to an operator.
func (p *parser) parseCron(start token) (expr, error) {
	t := p.cur()
	if strings.HasPrefix(t.text, "@") {
		p.i++
		if strings.EqualFold(t.text, "@every") {
			d, err := p.parseDuration(true)
			if err != nil {
				return expr{}, err
			}
			return expr{k: kPoints, s: &everyRule{d: d, loc: p.loc}, tok: start}, nil
		}
		fields, ok := cronDescriptor(t.text)
		if !ok {
			return expr{}, p.errAt(t, "unknown descriptor %q, expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>", t.text)
		}
		c, _, err := parseCron(strings.Fields(fields))
		if err != nil {
			panic(err) // the descriptors are valid
		}
		return expr{k: kPoints, s: &cronRule{spec: c, text: strings.ToLower(t.text), loc: p.loc}, tok: start}, nil
	}
	var toks []token
	for !p.atEnd() && !isOp(p.cur().text[0]) && len(toks) < 7 {
		toks = append(toks, p.cur())
		p.i++
	}
	fields := make([]string, len(toks))
	for i, tk := range toks {
		fields[i] = tk.text
	}
	c, i, err := parseCron(fields)
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			at := token{fe.text, toks[i].pos + fe.off}
			return expr{}, p.errAt(at, "%s", fe.msg)
		}
		at := p.cur()
		if len(toks) > 6 {
			at = toks[6]
		} else if len(toks) > 0 && len(toks) < 5 {
			at = token{"", toks[len(toks)-1].pos + len(toks[len(toks)-1].text)}
		}
		return expr{}, p.errAt(at, "%s", err.Error())
	}
	text := strings.Join(fields, " ")
	if strings.EqualFold(start.text, "cron") {
		text = "cron " + text
	}
	return expr{k: kPoints, s: &cronRule{spec: c, text: text, loc: p.loc}, tok: start}, nil
}

func (p *parser) parseOnce(start token) (expr, error) {
	t := p.cur()
	if tm, err := time.Parse(time.RFC3339Nano, t.text); err == nil {
		p.i++
		return expr{k: kPoints, s: &onceRule{at: ceilSecond(tm), loc: p.loc}, tok: start}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if tm, err := time.Parse(layout, t.text); err == nil {
			p.i++
			at, _, _ := resolve(tm.Unix(), p.loc)
			return expr{k: kPoints, s: &onceRule{at: at, loc: p.loc}, tok: start}, nil
		}
	}
	return expr{}, p.errAt(t, "unexpected %s, expected an RFC 3339 time such as 2026-01-02T15:04:05Z (or a local 2026-01-02T15:04 in the schedule's zone)", describe(t))
}

// parseSpan reads the qualifier of a phrase (period) or a window (!period).
func (p *parser) parseSpan(u unit, period bool) (span, error) {
	t := p.cur()
	w := strings.ToLower(t.text)
	var sp span
	switch w {
	case "at", "on":
		sp.q, sp.word = qAt, w
	case "before":
		sp.q = qBefore
	case "after":
		sp.q = qAfter
	case "between":
		sp.q = qBetween
	case "starting":
		if !period {
			return sp, p.errAt(t, "starting applies to a period phrase (daily starting 10:00), not to a window")
		}
		sp.q = qStarting
	default:
		if period {
			return sp, nil
		}
		return sp, p.errAt(t, "unexpected %s, expected between, after, before, at or on after time of %s", describe(t), u.noun())
	}
	if u == uSecond {
		return sp, p.errAt(t, "secondly takes no %s: a second has no smaller parts here", w)
	}
	p.i++
	var err error
	at := p.cur()
	if sp.a, err = p.parsePos(u, sp.q == qBefore); err != nil {
		return sp, err
	}
	if sp.q == qBetween {
		if _, err := p.expectWord("and"); err != nil {
			return sp, err
		}
		if sp.b, err = p.parsePos(u, !u.dayGranular()); err != nil {
			return sp, err
		}
	}
	start, end := sp.bounds(u)
	switch {
	case sp.q == qStarting && u == uMonth && sp.a >= 28*secsPerDay:
		return sp, p.errAt(at, "monthly starting %s: the day must be 1st to 28th, so that every month has it", at.text)
	case sp.q == qStarting && u == uDay && sp.a >= secsPerDay:
		return sp, p.errAt(at, "daily starting 24:00: use daily")
	case sp.q == qBetween && period && start >= end:
		return sp, p.errAt(at, "%s between %s and %s: the window must end after it starts within one %s (a window across the %s boundary: use time of %s between ..., or %s starting ...)",
			u.adverb(), u.formatPos(sp.a), u.formatPos(sp.b), u.noun(), u.noun(), u.noun(), u.adverb())
	case sp.q == qBetween && start == end:
		return sp, p.errAt(at, "between %s and %s is empty", u.formatPos(sp.a), u.formatPos(sp.b))
	case (sp.q == qBefore && start == end) || (sp.q == qAfter && start >= end):
		return sp, p.errAt(at, "%s %s is empty", w, at.text)
	case start >= u.length():
		return sp, p.errAt(at, "%s is past the end of the %s", at.text, u.noun())
	}
	return sp, nil
}

// parsePos reads a position within a period of unit u. end allows 24:00.
func (p *parser) parsePos(u unit, end bool) (int64, error) {
	t := p.cur()
	s := strings.ToLower(t.text)
	bad := func(format string, args ...any) (int64, error) {
		return 0, p.errAt(t, format, args...)
	}
	switch u {
	case uWeek:
		for i, name := range weekdayNames() {
			if s == strings.ToLower(name) || s == strings.ToLower(name[:3]) {
				p.i++
				return int64(i) * secsPerDay, nil
			}
		}
		return bad("unexpected %s, expected a weekday such as Monday or Mon", describe(t))
	case uMonth:
		digits := strings.TrimRight(s, "stndrh")
		suffix := s[len(digits):]
		n, err := strconv.Atoi(digits)
		if err != nil || (suffix != "" && suffix != "st" && suffix != "nd" && suffix != "rd" && suffix != "th") {
			return bad("unexpected %s, expected a day of the month such as 3rd or 15", describe(t))
		}
		if n < 1 || n > 31 {
			return bad("day %d out of range 1-31", n)
		}
		p.i++
		return int64(n-1) * secsPerDay, nil
	}
	parts := strings.Split(s, ":")
	var want string
	var max []int
	switch u {
	case uMinute:
		want, max = "a second such as 30", []int{59}
	case uHour:
		want, max = "minute:second such as 15:00", []int{59, 59}
	default:
		want, max = "a time of day such as 10:00 or 10:00:30", []int{23, 59, 59}
	}
	n := len(parts)
	if n > len(max) || (u == uHour && n != 2) || (u == uDay && n < 2) {
		return bad("unexpected %s, expected %s", describe(t), want)
	}
	if u == uDay && end && (s == "24:00" || s == "24:00:00") {
		p.i++
		return secsPerDay, nil
	}
	names := []string{"hour", "minute", "second"}[3-len(max):]
	var pos int64
	for i, part := range parts {
		v, err := strconv.Atoi(part)
		if err != nil || part == "" || len(part) > 2 || part[0] == '+' || part[0] == '-' {
			return bad("unexpected %s, expected %s", describe(t), want)
		}
		if v > max[i] {
			return bad("%s %d out of range 0-%d", names[i], v, max[i])
		}
		pos = pos*60 + int64(v)
	}
	for i := n; i < len(max); i++ {
		pos *= 60
	}
	p.i++
	return pos, nil
}

// durationUnit returns the seconds of a duration unit word.
func durationUnit(w string) (int64, bool) {
	switch w {
	case "s", "sec", "secs", "second", "seconds":
		return 1, true
	case "m", "min", "mins", "minute", "minutes":
		return 60, true
	case "h", "hr", "hrs", "hour", "hours":
		return 3600, true
	case "d", "day", "days":
		return secsPerDay, true
	case "w", "week", "weeks":
		return 7 * secsPerDay, true
	}
	return 0, false
}

// compactDuration parses 90s, 1h30m, 2d, 1w2d: whole numbers with units.
func compactDuration(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var total int64
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 10 || i == len(s) {
			return 0, false
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64)
		mult, ok := durationUnit(s[i : i+1])
		if !ok {
			return 0, false
		}
		total += n * mult
		if total > maxSeconds {
			return total, true
		}
		s = s[i+1:]
	}
	return total, true
}

// parseDuration reads "10 minutes", "2 hours, 30 minutes", "2 hours and 30
// minutes", "90s", "1h30m" or, for every, a bare unit ("every hour").
func (p *parser) parseDuration(every bool) (int64, error) {
	start := p.cur()
	want := "a duration such as 10 minutes, 2 hours, 30 minutes or 1h30m"
	var total int64
	if d, ok := compactDuration(strings.ToLower(start.text)); ok {
		p.i++
		total = d
	} else {
		for n := 0; ; n++ {
			t := p.cur()
			w := strings.TrimSuffix(strings.ToLower(t.text), ",")
			count := int64(1)
			if v, err := strconv.ParseInt(w, 10, 64); err == nil && v >= 0 && w[0] != '+' {
				if v > maxSeconds {
					return 0, p.errAt(t, "%s is too large", t.text)
				}
				count = v
				p.i++
				t = p.cur()
				w = strings.TrimSuffix(strings.ToLower(t.text), ",")
			} else if n > 0 || !every {
				return 0, p.errAt(t, "unexpected %s, expected %s", describe(t), want)
			}
			mult, ok := durationUnit(w)
			if !ok && n == 0 && t == start {
				return 0, p.errAt(t, "unexpected %s, expected %s", describe(t), want)
			}
			if !ok {
				return 0, p.errAt(t, "unexpected %s, expected a unit (seconds, minutes, hours, days, weeks) in %s", describe(t), want)
			}
			p.i++
			total += count * mult
			if total > maxSeconds {
				return 0, p.errAt(start, "duration longer than 100 years")
			}
			more := strings.HasSuffix(t.text, ",")
			if nx := p.cur(); nx.text == "," || strings.EqualFold(nx.text, "and") {
				if p.i+1 < len(p.toks) {
					if _, err := strconv.Atoi(p.toks[p.i+1].text); err == nil {
						p.i++
						more = true
					}
				}
			}
			if !more {
				break
			}
		}
	}
	if total > maxSeconds {
		return 0, p.errAt(start, "duration longer than 100 years")
	}
	if total < 1 {
		if every {
			return 0, p.errAt(start, "interval must be at least 1 second")
		}
		return 0, p.errAt(start, "in needs a positive duration")
	}
	return total, nil
}

// formatDuration prints seconds as 1d12h30m15s.
func formatDuration(d int64) string {
	var sb strings.Builder
	for _, u := range []struct {
		n    int64
		name string
	}{{secsPerDay, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if d >= u.n {
			fmt.Fprintf(&sb, "%d%s", d/u.n, u.name)
			d %= u.n
		}
	}
	return sb.String()
}
