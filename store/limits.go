package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// MaxRateLogEntries bounds the entries of a kind's rate log (see RateLog).
const MaxRateLogEntries = 128

// Check rejects claim parameters whose kind limits cannot mean anything:
// negative caps, a rate limit with only one of N and Per, or a kind listed
// twice with different cluster-wide limits. The error names the field.
func (p ClaimParams) Check() error {
	limited := false
	for i, k := range p.Kinds {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("kinds[%d] (%q): %s", i, k.Kind, fmt.Sprintf(format, args...))
		}
		switch {
		case k.Max < 0:
			return bad("max %d is negative", k.Max)
		case k.GlobalMax < 0:
			return bad("global max %d is negative", k.GlobalMax)
		case k.Rate.N < 0:
			return bad("rate n %d is negative", k.Rate.N)
		case k.Rate.Per < 0:
			return bad("rate per %s is negative", k.Rate.Per)
		case k.Rate.N > 0 && k.Rate.Per == 0:
			return bad("rate of %d starts has no period (per)", k.Rate.N)
		case k.Rate.N == 0 && k.Rate.Per > 0:
			return bad("rate per %s has no number of starts (n)", k.Rate.Per)
		}
		limited = limited || k.Limited()
	}
	if !limited { // the usual claim: nothing more to check, nothing allocated
		return nil
	}
	seen := make(map[string]KindLimit, len(p.Kinds))
	for i, k := range p.Kinds {
		if prev, ok := seen[k.Kind]; ok && (prev.GlobalMax != k.GlobalMax || prev.Rate != k.Rate) {
			return fmt.Errorf("kinds[%d] (%q): listed twice with different cluster-wide limits", i, k.Kind)
		}
		seen[k.Kind] = k
	}
	return nil
}

// Caps returns the claim's cap per kind (the Max of a kind listed twice
// added up), without the kinds whose cap is not positive; nil when Kinds
// is nil (any kind).
func (p ClaimParams) Caps() map[string]int {
	if p.Kinds == nil {
		return nil
	}
	caps := make(map[string]int, len(p.Kinds))
	for _, k := range p.Kinds {
		if k.Max > 0 {
			caps[k.Kind] += k.Max
		}
	}
	return caps
}

// Limits returns the kinds of the claim that have a cluster-wide limit and
// a positive cap, once each, sorted by kind: the order in which drivers
// lock them, so that claims never wait on each other in a cycle.
func (p ClaimParams) Limits() []KindLimit {
	var out []KindLimit
	for _, k := range p.Kinds {
		if !k.Limited() || k.Max <= 0 || slices.ContainsFunc(out, func(o KindLimit) bool { return o.Kind == k.Kind }) {
			continue
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b KindLimit) int { return cmp.Compare(a.Kind, b.Kind) })
	return out
}

// RateEntry is N starts at At.
type RateEntry struct {
	At time.Time
	N  int
}

// RateLog is the record of a kind's recent starts that a store keeps for
// its rate limit, oldest first: a sliding window, exact while the window
// holds at most MaxRateLogEntries claims. Beyond that the two entries
// closest in time are merged into the later one, which records some starts
// later than they were: it can only hold starts back, never allow more.
type RateLog []RateEntry

// DecodeRateLog reads a log stored as JSON [[unix_micros, n], ...]. Empty
// data is an empty log.
func DecodeRateLog(data []byte) (RateLog, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var raw [][2]int64
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("rate log: %w", err)
	}
	l := make(RateLog, len(raw))
	for i, e := range raw {
		if e[1] <= 0 {
			return nil, errors.New("rate log: entry with no starts")
		}
		l[i] = RateEntry{At: time.UnixMicro(e[0]).UTC(), N: int(e[1])}
	}
	return l, nil
}

// Encode returns the log as stored: JSON [[unix_micros, n], ...].
func (l RateLog) Encode() []byte {
	raw := make([][2]int64, len(l))
	for i, e := range l {
		raw[i] = [2]int64{e.At.UnixMicro(), int64(e.N)}
	}
	b, _ := json.Marshal(raw) // cannot fail
	return b
}

// since drops the entries at or before cutoff: starts that left the window.
func (l RateLog) since(cutoff time.Time) RateLog {
	i := 0
	for i < len(l) && !l[i].At.After(cutoff) {
		i++
	}
	return l[i:]
}

// count is the number of starts in the log.
func (l RateLog) count() int {
	n := 0
	for _, e := range l {
		n += e.N
	}
	return n
}

// add records n starts at now and compacts the log to MaxRateLogEntries.
// An entry later than now (written by a node whose clock is ahead) keeps
// its place: the log stays in order.
func (l RateLog) add(now time.Time, n int) RateLog {
	if k := len(l); k > 0 && !now.After(l[k-1].At) {
		l[k-1].N += n
	} else {
		l = append(l, RateEntry{At: now, N: n})
	}
	for len(l) > MaxRateLogEntries {
		// Merge the two entries closest in time into the later one.
		best := 0
		for i := 1; i+1 < len(l); i++ {
			if l[i+1].At.Sub(l[i].At) < l[best+1].At.Sub(l[best].At) {
				best = i
			}
		}
		l[best+1].N += l[best].N
		l = slices.Delete(l, best, best+1)
	}
	return l
}

// next is when one more start is allowed by r, given the log of the
// window ending now: the time at which enough of its starts have left it.
func (l RateLog) next(r RateLimit) time.Time {
	over := l.count() - (r.N - 1)
	for _, e := range l {
		if over <= 0 {
			break
		}
		over -= e.N
		if over <= 0 {
			return e.At.Add(r.Per)
		}
	}
	return time.Time{}
}

// LimitState is what a driver reads, under its lock, for one limited kind.
type LimitState struct {
	// Running is the number of the kind's jobs in state running (read
	// when the kind has a GlobalMax).
	Running int
	// Log is the kind's rate log as stored (read when it has a Rate).
	Log RateLog
}

// Limiter is the driver-neutral part of a claim with cluster-wide limits.
// Inside the transaction that claims, a driver locks the limited kinds
// (ClaimParams.Limits, in that order), reads their LimitState and then:
//
//  1. calls Admit, which lowers the claim's caps to what the limits allow;
//  2. claims with those caps;
//  3. calls Started with the jobs it claimed, writes the rate logs it
//     returns (only those that changed) and returns its ClaimResult.
type Limiter struct {
	now    time.Time
	limits []KindLimit
	logs   map[string]RateLog
	global map[string]int  // room left by the GlobalMax, per kind that has one
	room   map[string]int  // starts the rate limit allows now, per rate-limited kind
	bound  map[string]bool // the rate limit lowered the kind's cap
}

// NewLimiter returns a Limiter for the claim p at p.Now.
func NewLimiter(p ClaimParams) *Limiter {
	return &Limiter{now: p.Now.UTC(), limits: p.Limits(), logs: map[string]RateLog{},
		global: map[string]int{}, room: map[string]int{}, bound: map[string]bool{}}
}

// Kinds returns the limited kinds, in lock order.
func (l *Limiter) Kinds() []string {
	out := make([]string, len(l.limits))
	for i, k := range l.limits {
		out[i] = k.Kind
	}
	return out
}

// GlobalKinds returns the limited kinds that have a GlobalMax, in order:
// those whose running jobs the driver must count.
func (l *Limiter) GlobalKinds() []string {
	var out []string
	for _, k := range l.limits {
		if k.GlobalMax > 0 {
			out = append(out, k.Kind)
		}
	}
	return out
}

// Admit lowers caps (as ClaimParams.Caps returns them) to what the limits
// allow given the states read (a kind without a state has nothing running
// and an empty log), and deletes the kinds left without room.
func (l *Limiter) Admit(caps map[string]int, states map[string]LimitState) {
	for _, k := range l.limits {
		st := states[k.Kind]
		c := caps[k.Kind]
		if k.GlobalMax > 0 {
			room := max(k.GlobalMax-st.Running, 0)
			l.global[k.Kind] = room
			c = min(c, room)
		}
		if k.Rate.N > 0 {
			log := st.Log.since(l.now.Add(-k.Rate.Per))
			l.logs[k.Kind] = log
			room := max(k.Rate.N-log.count(), 0)
			l.room[k.Kind] = room
			if room < c {
				c = room
				l.bound[k.Kind] = true
			}
		}
		if c > 0 {
			caps[k.Kind] = c
		} else {
			delete(caps, k.Kind)
		}
	}
}

// Started records the jobs the claim took (per kind) in res, which holds
// them already, fills in res.AtMax and res.NextStart, and returns the
// rate logs to write back, by kind.
func (l *Limiter) Started(res *ClaimResult) map[string]RateLog {
	claimed := make(map[string]int)
	for _, j := range res.Jobs {
		claimed[j.Kind]++
	}
	out := make(map[string]RateLog)
	for _, k := range l.limits {
		if room, ok := l.global[k.Kind]; ok && claimed[k.Kind] >= room {
			res.AtMax = append(res.AtMax, k.Kind)
		}
		if k.Rate.N <= 0 {
			continue
		}
		log := l.logs[k.Kind]
		if n := claimed[k.Kind]; n > 0 {
			log = log.add(l.now, n)
			out[k.Kind] = log
		}
		// Held back: the rate allowed fewer than the claim could take,
		// and the claim took all it allowed, so more may be waiting.
		if l.bound[k.Kind] && claimed[k.Kind] >= l.room[k.Kind] {
			if t := log.next(k.Rate); !t.IsZero() {
				if res.NextStart == nil {
					res.NextStart = make(map[string]time.Time)
				}
				res.NextStart[k.Kind] = t
			}
		}
	}
	return out
}
