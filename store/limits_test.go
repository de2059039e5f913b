package store_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// simulate runs claims of kind "r" limited by r at the given times, each
// asking for want jobs, through a Limiter and a stored rate log as a
// driver would, and returns the time of every start it granted.
func simulate(t *testing.T, r store.RateLimit, times []time.Time, want func(i int) int) []time.Time {
	t.Helper()
	var stored []byte
	var starts []time.Time
	for i, now := range times {
		p := store.ClaimParams{Limit: want(i), Now: now, Kinds: []store.KindLimit{{Kind: "r", Max: want(i), Rate: r}}}
		log, err := store.DecodeRateLog(stored)
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		lim := store.NewLimiter(p)
		caps := p.Caps()
		lim.Admit(caps, map[string]store.LimitState{"r": {Log: log}})
		var res store.ClaimResult
		for range caps["r"] {
			res.Jobs = append(res.Jobs, &store.Job{Kind: "r"})
			starts = append(starts, now)
		}
		logs := lim.Started(&res)
		if l, ok := logs["r"]; ok {
			if len(l) > store.MaxRateLogEntries {
				t.Fatalf("claim %d: rate log of %d entries, max %d", i, len(l), store.MaxRateLogEntries)
			}
			stored = l.Encode()
		}
		if next, ok := res.NextStart["r"]; ok && !next.After(now) {
			t.Fatalf("claim %d at %v: next start %v is not later", i, now, next)
		}
	}
	return starts
}

// maxInWindow is the most starts in any half-open interval of length per.
func maxInWindow(starts []time.Time, per time.Duration) int {
	best, lo := 0, 0
	for hi := range starts {
		for !starts[hi].Before(starts[lo].Add(per)) {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		rate     store.RateLimit
		claims   int
		step     func(rng *rand.Rand) time.Duration
		want     func(rng *rand.Rand) int
		minTotal int // starts the limiter must grant at least
	}{
		{
			name: "few claims, exact", rate: store.RateLimit{N: 10, Per: time.Second}, claims: 200,
			step:     func(rng *rand.Rand) time.Duration { return time.Duration(rng.IntN(200)) * time.Millisecond },
			want:     func(rng *rand.Rand) int { return 1 + rng.IntN(6) },
			minTotal: 180, // 20.8 s of claims every ~100 ms at 10/s
		},
		{
			// Many more claims per window than log entries: compacted.
			name: "many claims, compacted", rate: store.RateLimit{N: 1000, Per: time.Minute}, claims: 12000,
			step:     func(rng *rand.Rand) time.Duration { return time.Duration(rng.IntN(40)) * time.Millisecond },
			want:     func(rng *rand.Rand) int { return 1 },
			minTotal: 3900, // 3.9 windows with more claims than the rate
		},
		{
			name: "bursts", rate: store.RateLimit{N: 50, Per: 10 * time.Second}, claims: 2000,
			step: func(rng *rand.Rand) time.Duration {
				if rng.IntN(10) == 0 {
					return time.Duration(rng.IntN(3000)) * time.Millisecond
				}
				return time.Duration(rng.IntN(3)) * time.Millisecond
			},
			want:     func(rng *rand.Rand) int { return 1 + rng.IntN(20) },
			minTotal: 1300, // 31 windows of 50, with gaps
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, 2))
			times := make([]time.Time, c.claims)
			wants := make([]int, c.claims)
			now := base
			for i := range times {
				now = now.Add(c.step(rng))
				times[i] = now
				wants[i] = c.want(rng)
			}
			starts := simulate(t, c.rate, times, func(i int) int { return wants[i] })
			if got := maxInWindow(starts, c.rate.Per); got > c.rate.N {
				t.Errorf("%d starts in one window of %s, rate %d", got, c.rate.Per, c.rate.N)
			}
			t.Logf("granted %d starts over %s", len(starts), times[len(times)-1].Sub(base))
			if len(starts) < c.minTotal {
				t.Errorf("granted %d starts, want at least %d", len(starts), c.minTotal)
			}
		})
	}
}

func TestRateLimiterFullRateUntilCompaction(t *testing.T) {
	t.Parallel()
	// One start asked every 10 ms at 100 per second: the sliding window
	// grants all of them while the log is exact.
	r := store.RateLimit{N: 100, Per: time.Second}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	times := make([]time.Time, 100)
	for i := range times {
		times[i] = base.Add(time.Duration(i) * 10 * time.Millisecond)
	}
	if starts := simulate(t, r, times, func(int) int { return 1 }); len(starts) != len(times) {
		t.Errorf("granted %d of %d starts within the rate", len(starts), len(times))
	}
}

func TestDecodeRateLog(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{`{}`, `[[1]]x`, `[[1, 0]]`, `[["a", 1]]`} {
		if _, err := store.DecodeRateLog([]byte(bad)); err == nil || !strings.Contains(err.Error(), "rate log") {
			t.Errorf("DecodeRateLog(%s) error %v, want a rate log error", bad, err)
		}
	}
	l, err := store.DecodeRateLog([]byte(`[[1000000, 2], [2000000, 1]]`))
	if err != nil || len(l) != 2 || l[1].N != 1 || !l[1].At.Equal(time.Unix(2, 0)) {
		t.Fatalf("DecodeRateLog = %v, %v", l, err)
	}
	if got := string(l.Encode()); got != `[[1000000,2],[2000000,1]]` {
		t.Errorf("Encode = %s", got)
	}
}

// TestUnlimitedClaimChecksAllocateNothing guards the usual claim: checking
// a claim without cluster-wide limits and finding it has none costs no
// allocation.
func TestUnlimitedClaimChecksAllocateNothing(t *testing.T) {
	p := store.ClaimParams{Limit: 10, Kinds: []store.KindLimit{{Kind: "a", Max: 10}, {Kind: "b", Max: 3}}}
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Check(); err != nil {
			t.Fatal(err)
		}
		if l := p.Limits(); l != nil {
			t.Fatalf("Limits = %v", l)
		}
	})
	if allocs != 0 {
		t.Errorf("Check and Limits of an unlimited claim: %v allocations, want 0", allocs)
	}
}
