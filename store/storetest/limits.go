package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

func limitTests() []test {
	return []test{
		{"GlobalMax", testGlobalMax},
		{"GlobalMaxAcrossQueues", testGlobalMaxAcrossQueues},
		{"GlobalMaxWithLocalCap", testGlobalMaxWithLocalCap},
		{"GlobalMaxCountsEveryRunningJob", testGlobalMaxCountsEveryRunningJob},
		{"GlobalMaxLeavesOtherKinds", testGlobalMaxLeavesOtherKinds},
		{"GlobalMaxConcurrent", testGlobalMaxConcurrent},
		{"Rate", testRate},
		{"RateSlidingWindow", testRateSlidingWindow},
		{"RateAcrossQueues", testRateAcrossQueues},
		{"RateConcurrent", testRateConcurrent},
		{"RateAndGlobalMax", testRateAndGlobalMax},
		{"PausedQueue", testLimitsPausedQueue},
		{"BadLimits", testBadLimits},
		{"FreedNotice", testFreedNotice},
	}
}

// limitClaim is a claim of up to limit jobs of queue for node, of the
// given kinds.
func limitClaim(queue, node string, now time.Time, limit int, kinds ...store.KindLimit) store.ClaimParams {
	return store.ClaimParams{Queue: queue, Node: node, Limit: limit, Kinds: kinds, Now: now, LeaseUntil: now.Add(time.Hour)}
}

// globalMax is kind with a local cap and a global maximum.
func globalMax(kind string, localCap, max int) store.KindLimit {
	return store.KindLimit{Kind: kind, Max: localCap, GlobalMax: max}
}

// rated is kind with a local cap and a rate limit of n per per.
func rated(kind string, localCap, n int, per time.Duration) store.KindLimit {
	return store.KindLimit{Kind: kind, Max: localCap, Rate: store.RateLimit{N: n, Per: per}}
}

// running counts the jobs of kind in state running.
func running(t *testing.T, s store.Store, kind string) int64 {
	t.Helper()
	counts, err := s.Counts(t.Context())
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	var n int64
	for _, c := range counts {
		if c.Kind == kind && c.State == store.StateRunning {
			n += c.N
		}
	}
	return n
}

// wantClaim claims with p and checks how many jobs it took and which
// kinds it reported at their maximum.
func wantClaim(t *testing.T, s store.Store, what string, p store.ClaimParams, n int, atMax ...string) []*store.Job {
	t.Helper()
	res := claimResult(t, s, p)
	if len(res.Jobs) != n {
		t.Fatalf("%s: claimed %d jobs %v, want %d", what, len(res.Jobs), ids(res.Jobs), n)
	}
	if !slices.Equal(res.AtMax, atMax) {
		t.Errorf("%s: AtMax = %v, want %v", what, res.AtMax, atMax)
	}
	return res.Jobs
}

func testGlobalMax(t *testing.T, s store.Store) {
	insertN(t, s, base(), 10, func(int) store.InsertParams { return params("g") })
	now := at(time.Second)
	got := wantClaim(t, s, "first claim", limitClaim(store.DefaultQueue, "n1", now, 10, globalMax("g", 10, 3)), 3, "g")
	wantClaim(t, s, "claim at the maximum", limitClaim(store.DefaultQueue, "n1", now, 10, globalMax("g", 10, 3)), 0, "g")
	wantClaim(t, s, "another node at the maximum", limitClaim(store.DefaultQueue, "n2", now, 10, globalMax("g", 10, 3)), 0, "g")
	if n := running(t, s, "g"); n != 3 {
		t.Fatalf("%d jobs of g running, want 3", n)
	}
	// Finishing frees capacity, whatever the new state.
	finishDone(t, s, got[0], at(2*time.Second))
	more := wantClaim(t, s, "claim after a finish", limitClaim(store.DefaultQueue, "n2", at(3*time.Second), 10, globalMax("g", 10, 3)), 1, "g")
	if more[0].Node != "n2" {
		t.Errorf("claimed by %q, want n2", more[0].Node)
	}
	if !finish(t, s, store.FinishParams{ID: got[1].ID, Attempt: got[1].Attempt, State: store.StateRetrying,
		RunAt: at(time.Hour), Error: "boom", Now: at(4 * time.Second)})[0] {
		t.Fatal("finish to retrying not applied")
	}
	if !finish(t, s, store.FinishParams{ID: got[2].ID, Attempt: got[2].Attempt, State: store.StateQueued,
		Uncount: true, Now: at(4 * time.Second)})[0] {
		t.Fatal("finish to queued not applied")
	}
	wantClaim(t, s, "claim after two more finishes", limitClaim(store.DefaultQueue, "n1", at(5*time.Second), 10, globalMax("g", 10, 3)), 2, "g")
	// A larger maximum (another configuration) admits more at once.
	wantClaim(t, s, "claim with maximum 5", limitClaim(store.DefaultQueue, "n1", at(5*time.Second), 10, globalMax("g", 10, 5)), 2, "g")
	if n := running(t, s, "g"); n != 5 {
		t.Fatalf("%d jobs of g running, want 5", n)
	}
}

func testGlobalMaxAcrossQueues(t *testing.T, s store.Store) {
	insertN(t, s, base(), 5, func(int) store.InsertParams { return params("g", inQueue("q1")) })
	insertN(t, s, base(), 5, func(int) store.InsertParams { return params("g", inQueue("q2")) })
	now := at(time.Second)
	got := wantClaim(t, s, "q1", limitClaim("q1", "n1", now, 10, globalMax("g", 10, 3)), 3, "g")
	wantClaim(t, s, "q2 while q1 holds the maximum", limitClaim("q2", "n2", now, 10, globalMax("g", 10, 3)), 0, "g")
	finishDone(t, s, got[0], at(2*time.Second))
	got = wantClaim(t, s, "q2 after a finish in q1", limitClaim("q2", "n2", at(3*time.Second), 10, globalMax("g", 10, 3)), 1, "g")
	if got[0].Queue != "q2" {
		t.Errorf("claimed a job of queue %q, want q2", got[0].Queue)
	}
}

func testGlobalMaxWithLocalCap(t *testing.T, s store.Store) {
	insertN(t, s, base(), 10, func(int) store.InsertParams { return params("g") })
	now := at(time.Second)
	// The local cap binds first: not at the maximum.
	wantClaim(t, s, "cap 2 of max 5", limitClaim(store.DefaultQueue, "n1", now, 10, globalMax("g", 2, 5)), 2)
	wantClaim(t, s, "cap 2 of max 5, 2 running", limitClaim(store.DefaultQueue, "n2", now, 10, globalMax("g", 2, 5)), 2)
	// One place left.
	wantClaim(t, s, "cap 2 of max 5, 4 running", limitClaim(store.DefaultQueue, "n3", now, 10, globalMax("g", 2, 5)), 1, "g")
	// The claim's limit binds first.
	insertN(t, s, base(), 3, func(int) store.InsertParams { return params("h") })
	wantClaim(t, s, "limit 1 of max 3", limitClaim(store.DefaultQueue, "n1", now, 1, globalMax("h", 10, 3)), 1)
}

func testGlobalMaxCountsEveryRunningJob(t *testing.T, s store.Store) {
	// Jobs claimed without the limit (by Pop, by a node that does not know
	// it) still count.
	insertN(t, s, base(), 6, func(int) store.InsertParams { return params("g") })
	now := at(time.Second)
	if got := claim(t, s, limitClaim(store.DefaultQueue, "n1", now, 2, store.KindLimit{Kind: "g", Max: 2})); len(got) != 2 {
		t.Fatalf("claim without limits took %d, want 2", len(got))
	}
	if got := claim(t, s, claimParams(now, 1)); len(got) != 1 {
		t.Fatalf("claim of any kind took %d, want 1", len(got))
	}
	wantClaim(t, s, "max 4 with 3 running", limitClaim(store.DefaultQueue, "n2", now, 10, globalMax("g", 10, 4)), 1, "g")
	wantClaim(t, s, "max 2 with 4 running", limitClaim(store.DefaultQueue, "n2", now, 10, globalMax("g", 10, 2)), 0, "g")
}

func testGlobalMaxLeavesOtherKinds(t *testing.T, s store.Store) {
	// g fills the top of the queue; u has no limit.
	insertN(t, s, base(), 5, func(int) store.InsertParams { return params("g", withPriority(1)) })
	us := insertN(t, s, base(), 5, func(int) store.InsertParams { return params("u", withPriority(2)) })
	now := at(time.Second)
	got := wantClaim(t, s, "g max 1 and u", limitClaim(store.DefaultQueue, "n1", now, 4,
		globalMax("g", 4, 1), store.KindLimit{Kind: "u", Max: 4}), 4, "g")
	if got[0].Kind != "g" || !slices.Equal(ids(got[1:]), ids(us[:3])) {
		t.Errorf("claimed %v, want one g job then u jobs %v", ids(got), ids(us[:3]))
	}
	// At g's maximum, the claim still takes u.
	got = wantClaim(t, s, "g at its max and u", limitClaim(store.DefaultQueue, "n1", now, 4,
		globalMax("g", 4, 1), store.KindLimit{Kind: "u", Max: 4}), 2, "g")
	if !slices.Equal(ids(got), ids(us[3:])) {
		t.Errorf("claimed %v, want the u jobs %v", ids(got), ids(us[3:]))
	}
}

// testGlobalMaxConcurrent has claimers on two queues claim and finish jobs
// of one kind concurrently. Each claimer adds what it claimed to a shared
// count after its claim returns and takes a job off before finishing it,
// so the count is never above the kind's running jobs in the store: it
// must never pass the maximum. The store's own count is checked after
// every claim too.
func testGlobalMaxConcurrent(t *testing.T, s store.Store) {
	const (
		maxRunning = 3
		perQueue   = 60
		claimers   = 8
	)
	queues := []string{"q1", "q2"}
	for _, q := range queues {
		insertN(t, s, base(), perQueue, func(int) store.InsertParams { return params("g", inQueue(q)) })
	}
	var (
		cur, peak atomic.Int64
		finished  atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex
		failures  []string
	)
	var stop atomic.Bool
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
		stop.Store(true)
	}
	now := at(time.Second)
	for c := range claimers {
		wg.Go(func() {
			queue := queues[c%len(queues)]
			node := fmt.Sprintf("node-%d", c)
			for !stop.Load() && finished.Load() < int64(len(queues)*perQueue) {
				res, err := s.Claim(t.Context(), limitClaim(queue, node, now, 1+c%3, globalMax("g", 1+c%3, maxRunning)))
				if err != nil {
					fail("claimer %d: Claim: %v", c, err)
					return
				}
				n := cur.Add(int64(len(res.Jobs)))
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				if n > maxRunning {
					fail("claimer %d: %d jobs running after its claim, max %d", c, n, maxRunning)
				}
				if r, err := s.Counts(t.Context()); err == nil {
					var inStore int64
					for _, x := range r {
						if x.Kind == "g" && x.State == store.StateRunning {
							inStore += x.N
						}
					}
					if inStore > maxRunning {
						fail("claimer %d: the store counts %d running, max %d", c, inStore, maxRunning)
					}
				} else {
					fail("claimer %d: Counts: %v", c, err)
				}
				for _, j := range res.Jobs {
					cur.Add(-1)
					states, err := s.Finish(t.Context(), []store.FinishParams{doneParams(j, now)})
					if err != nil || states[0] != store.StateDone {
						fail("claimer %d: Finish of job %d: %v %v", c, j.ID, states, err)
						return
					}
					finished.Add(1)
				}
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if p := peak.Load(); p > maxRunning || p < 1 {
		t.Errorf("peak %d running, want 1..%d", p, maxRunning)
	}
	if n := running(t, s, "g"); n != 0 {
		t.Errorf("%d jobs still running", n)
	}
}

// wantNext checks the next start a claim reported for kind (zero: none).
func wantNext(t *testing.T, what string, res store.ClaimResult, kind string, want time.Time) {
	t.Helper()
	got, ok := res.NextStart[kind]
	switch {
	case want.IsZero() && ok:
		t.Errorf("%s: NextStart[%s] = %v, want none", what, kind, got)
	case !want.IsZero() && !ok:
		t.Errorf("%s: no NextStart for %s, want %v", what, kind, want)
	case !want.IsZero():
		sameTime(t, what+": NextStart["+kind+"]", got, want)
	}
}

func testRate(t *testing.T, s store.Store) {
	const per = 10 * time.Second
	insertN(t, s, base(), 10, func(int) store.InsertParams { return params("r") })
	t0 := at(time.Second)
	cp := limitClaim(store.DefaultQueue, "n1", t0, 10, rated("r", 10, 3, per))
	res := claimResult(t, s, cp)
	if len(res.Jobs) != 3 {
		t.Fatalf("first claim took %d, want the rate's 3", len(res.Jobs))
	}
	wantNext(t, "first claim", res, "r", t0.Add(per))
	if res.AtMax != nil {
		t.Errorf("AtMax = %v without a global maximum", res.AtMax)
	}
	// Within the window: nothing, and the same next start, on any node.
	cp.Now, cp.Node = t0.Add(per/2), "n2"
	res = claimResult(t, s, cp)
	if len(res.Jobs) != 0 {
		t.Fatalf("claim within the window took %d", len(res.Jobs))
	}
	wantNext(t, "claim within the window", res, "r", t0.Add(per))
	cp.Now = t0.Add(per - time.Microsecond)
	if got := claim(t, s, cp); len(got) != 0 {
		t.Fatalf("claim a microsecond before the next start took %d", len(got))
	}
	// At the next start the window has moved past the first three.
	cp.Now = t0.Add(per)
	res = claimResult(t, s, cp)
	if len(res.Jobs) != 3 {
		t.Fatalf("claim at the next start took %d, want 3", len(res.Jobs))
	}
	wantNext(t, "claim at the next start", res, "r", t0.Add(2*per))
	// Fewer jobs waiting than the rate allows: not held back.
	cp.Now = t0.Add(2 * per)
	res = claimResult(t, s, cp)
	if len(res.Jobs) != 3 {
		t.Fatalf("third claim took %d, want 3", len(res.Jobs))
	}
	wantNext(t, "third claim", res, "r", t0.Add(3*per))
	cp.Now = t0.Add(3 * per)
	res = claimResult(t, s, cp)
	if len(res.Jobs) != 1 {
		t.Fatalf("last claim took %d, want the last job", len(res.Jobs))
	}
	wantNext(t, "last claim, the rate not used up", res, "r", time.Time{})
}

func testRateSlidingWindow(t *testing.T, s store.Store) {
	// At most 3 starts in any 10 s: 2 at 20 s, 1 at 24 s; the next start is
	// allowed once the 2 of 20 s left the window, at 30 s, and then 2 (the
	// one of 24 s is still in it).
	const per = 10 * time.Second
	insertN(t, s, base(), 10, func(int) store.InsertParams { return params("r") })
	t20, t24, t30 := at(20*time.Second), at(24*time.Second), at(30*time.Second)
	res := claimResult(t, s, limitClaim(store.DefaultQueue, "n1", t20, 10, rated("r", 2, 3, per)))
	if len(res.Jobs) != 2 {
		t.Fatalf("claim with local cap 2 took %d", len(res.Jobs))
	}
	wantNext(t, "local cap under the rate", res, "r", time.Time{})
	res = claimResult(t, s, limitClaim(store.DefaultQueue, "n2", t24, 10, rated("r", 10, 3, per)))
	if len(res.Jobs) != 1 {
		t.Fatalf("claim at 24 s took %d, want 1", len(res.Jobs))
	}
	wantNext(t, "claim at 24 s", res, "r", t30)
	res = claimResult(t, s, limitClaim(store.DefaultQueue, "n1", t30, 10, rated("r", 10, 3, per)))
	if len(res.Jobs) != 2 {
		t.Fatalf("claim at 30 s took %d, want 2", len(res.Jobs))
	}
	wantNext(t, "claim at 30 s", res, "r", at(34*time.Second))
	// A claim of other kinds only does not touch the rate.
	insertJob(t, s, base(), params("u"))
	if got := claim(t, s, limitClaim(store.DefaultQueue, "n1", at(31*time.Second), 10, store.KindLimit{Kind: "u", Max: 1})); len(got) != 1 {
		t.Fatalf("claim of u took %d", len(got))
	}
	res = claimResult(t, s, limitClaim(store.DefaultQueue, "n1", at(34*time.Second), 10, rated("r", 10, 3, per)))
	if len(res.Jobs) != 1 {
		t.Fatalf("claim at 34 s took %d, want 1", len(res.Jobs))
	}
	wantNext(t, "claim at 34 s", res, "r", at(40*time.Second))
}

func testRateAcrossQueues(t *testing.T, s store.Store) {
	insertN(t, s, base(), 3, func(int) store.InsertParams { return params("r", inQueue("q1")) })
	insertN(t, s, base(), 3, func(int) store.InsertParams { return params("r", inQueue("q2")) })
	now := at(time.Second)
	if got := claim(t, s, limitClaim("q1", "n1", now, 10, rated("r", 10, 4, time.Minute))); len(got) != 3 {
		t.Fatalf("q1 took %d, want 3", len(got))
	}
	res := claimResult(t, s, limitClaim("q2", "n2", now, 10, rated("r", 10, 4, time.Minute)))
	if len(res.Jobs) != 1 {
		t.Fatalf("q2 took %d, want the rate's last 1", len(res.Jobs))
	}
	wantNext(t, "q2", res, "r", now.Add(time.Minute))
}

// testRateConcurrent has claimers race for a rate-limited kind at one
// instant: together they take exactly the rate.
func testRateConcurrent(t *testing.T, s store.Store) {
	const n, claimers = 5, 8
	insertN(t, s, base(), 50, func(int) store.InsertParams { return params("r") })
	now := at(time.Second)
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, claimers)
	for c := range claimers {
		wg.Go(func() {
			res, err := s.Claim(t.Context(), limitClaim(store.DefaultQueue, fmt.Sprintf("node-%d", c), now, 3, rated("r", 3, n, time.Minute)))
			errs[c] = err
			total.Add(int64(len(res.Jobs)))
		})
	}
	wg.Wait()
	for c, err := range errs {
		if err != nil {
			t.Fatalf("claimer %d: %v", c, err)
		}
	}
	if got := total.Load(); got != n {
		t.Errorf("claimers took %d jobs together, want the rate's %d", got, n)
	}
}

func testRateAndGlobalMax(t *testing.T, s store.Store) {
	insertN(t, s, base(), 10, func(int) store.InsertParams { return params("b") })
	both := store.KindLimit{Kind: "b", Max: 10, GlobalMax: 2, Rate: store.RateLimit{N: 3, Per: time.Minute}}
	now := at(time.Second)
	got := wantClaim(t, s, "max 2, rate 3", limitClaim(store.DefaultQueue, "n1", now, 10, both), 2, "b")
	finishDone(t, s, got[0], now)
	finishDone(t, s, got[1], now)
	res := claimResult(t, s, limitClaim(store.DefaultQueue, "n1", now, 10, both))
	if len(res.Jobs) != 1 {
		t.Fatalf("claim after the finishes took %d, want the rate's last 1", len(res.Jobs))
	}
	wantNext(t, "rate used up", res, "b", now.Add(time.Minute))
}

func testLimitsPausedQueue(t *testing.T, s store.Store) {
	insertN(t, s, base(), 3, func(int) store.InsertParams { return params("r") })
	if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: store.DefaultQueue, Paused: ptr(true), Now: base()}); err != nil {
		t.Fatal(err)
	}
	now := at(time.Second)
	kind := store.KindLimit{Kind: "r", Max: 10, GlobalMax: 2, Rate: store.RateLimit{N: 2, Per: time.Minute}}
	if got := claim(t, s, limitClaim(store.DefaultQueue, "n1", now, 10, kind)); len(got) != 0 {
		t.Fatalf("paused queue: claimed %v", ids(got))
	}
	if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: store.DefaultQueue, Paused: ptr(false), Now: now}); err != nil {
		t.Fatal(err)
	}
	// The paused claim used none of the rate.
	if got := claim(t, s, limitClaim(store.DefaultQueue, "n1", now, 10, kind)); len(got) != 2 {
		t.Fatalf("claim after resume took %d, want 2", len(got))
	}
}

func testBadLimits(t *testing.T, s store.Store) {
	j := insertJob(t, s, base(), params("k"))
	now := at(time.Second)
	cases := []struct {
		name string
		kind store.KindLimit
		want string
	}{
		{"negative global max", store.KindLimit{Kind: "k", Max: 1, GlobalMax: -1}, "global max"},
		{"negative rate", store.KindLimit{Kind: "k", Max: 1, Rate: store.RateLimit{N: -1, Per: time.Second}}, "rate n"},
		{"negative period", store.KindLimit{Kind: "k", Max: 1, Rate: store.RateLimit{N: 1, Per: -time.Second}}, "rate per"},
		{"rate without period", store.KindLimit{Kind: "k", Max: 1, Rate: store.RateLimit{N: 1}}, "per"},
		{"period without rate", store.KindLimit{Kind: "k", Max: 1, Rate: store.RateLimit{Per: time.Second}}, "(n)"},
	}
	for _, c := range cases {
		_, err := s.Claim(t.Context(), limitClaim(store.DefaultQueue, "n1", now, 1, c.kind))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"k"`) {
			t.Errorf("%s: error %v, want one naming the kind and %q", c.name, err, c.want)
		}
	}
	_, err := s.Claim(t.Context(), limitClaim(store.DefaultQueue, "n1", now, 1, globalMax("k", 1, 2), globalMax("k", 1, 3)))
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("kind twice with different limits: error %v", err)
	}
	// Nothing was claimed by the bad claims.
	wantState(t, s, j.ID, store.StateQueued)
	if got := claim(t, s, limitClaim(store.DefaultQueue, "n1", now, 1, globalMax("k", 1, 2), globalMax("k", 1, 2))); len(got) != 1 {
		t.Errorf("kind twice with the same limits: claimed %d, want 1", len(got))
	}
}

func testFreedNotice(t *testing.T, s store.Store) {
	plain := insertJob(t, s, base(), params("plain"))
	insertJob(t, s, base(), params("lim", inQueue("other")))
	insertJob(t, s, base(), params("lim2", inQueue("other")))
	now := at(time.Second)
	p := claimOne(t, s, now, plain.ID)
	l := claim(t, s, limitClaim("other", "n1", now, 2, globalMax("lim", 1, 1), globalMax("lim2", 1, 1)))
	if len(l) != 2 || l[0].Kind != "lim" || l[1].Kind != "lim2" {
		t.Fatalf("claimed %v, want a job of lim and one of lim2", ids(l))
	}
	ch := s.Subscribe(t.Context())
	// A finish without Limited announces nothing; one with it announces
	// the kind (notices of one store arrive in commit order).
	finishDone(t, s, p, now)
	f := doneParams(l[0], now)
	f.Limited = true
	if !finish(t, s, f)[0] {
		t.Fatal("finish not applied")
	}
	n := waitNotice(t, ch, "NoticeFreed", func(n store.Notice) bool { return n.Type == store.NoticeFreed })
	if n.Kind != "lim" {
		t.Errorf("NoticeFreed for kind %q, want lim", n.Kind)
	}
	// Finishes that do not apply announce nothing either: the next
	// NoticeFreed is lim2's.
	if finish(t, s, f, store.FinishParams{ID: plain.ID, Attempt: 1, State: store.StateDone, Now: now, Limited: true})[0] {
		t.Fatal("second finish of the attempt applied")
	}
	f = doneParams(l[1], now)
	f.Limited = true
	if !finish(t, s, f)[0] {
		t.Fatal("finish of lim2 not applied")
	}
	n = waitNotice(t, ch, "NoticeFreed of lim2", func(n store.Notice) bool { return n.Type == store.NoticeFreed })
	if n.Kind != "lim2" {
		t.Errorf("NoticeFreed for kind %q, want lim2", n.Kind)
	}
}
