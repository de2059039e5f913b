package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// listFixture inserts a varied set of jobs and returns them as stored.
func listFixture(t *testing.T, s store.Store) []*store.Job {
	t.Helper()
	var made []int64
	for i := range 12 {
		p := params([]string{"a", "b", "c"}[i%3], inQueue([]string{"q1", "q2"}[i%2]),
			withMeta("tenant", []string{"x", "y"}[(i/2)%2], "env", map[bool]string{true: "prod", false: "dev"}[i%3 == 0]))
		if i%4 == 0 {
			p.Key = fmt.Sprintf("key%d", i)
		}
		if i%5 == 0 {
			p.RunAt = at(time.Hour + time.Duration(i)*time.Minute)
		}
		made = append(made, insertJob(t, s, at(time.Duration(i)*time.Minute), p).ID)
	}
	cp := claimParams(at(20*time.Minute), 2)
	cp.Queue = "q2"
	cl := claim(t, s, cp)
	if len(cl) != 2 {
		t.Fatalf("fixture: claimed %d", len(cl))
	}
	finishDone(t, s, cl[0], at(21*time.Minute))
	jobs := make([]*store.Job, len(made))
	for i, id := range made {
		jobs[i] = get(t, s, id)
	}
	return jobs
}

func listTests() []test {
	return []test{
		{"Filters", testListFilters},
		{"Pages", testListPages},
		{"LimitDefaultAndCap", func(t *testing.T, s store.Store) {
			for range 10 {
				insertN(t, s, base(), 1000, func(int) store.InsertParams { return params("k") })
			}
			insert(t, s, base(), params("k"))
			page, err := s.List(t.Context(), store.ListParams{})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Jobs) != store.DefaultListLimit || page.NextAfterID == 0 {
				t.Errorf("default limit: %d jobs, next %d; want %d and a cursor", len(page.Jobs), page.NextAfterID, store.DefaultListLimit)
			}
			page, err = s.List(t.Context(), store.ListParams{Limit: store.MaxListLimit * 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Jobs) != store.MaxListLimit || page.NextAfterID != page.Jobs[len(page.Jobs)-1].ID {
				t.Errorf("limit over the cap: %d jobs, next %d; want %d and a cursor", len(page.Jobs), page.NextAfterID, store.MaxListLimit)
			}
		}},
	}
}

func testListFilters(t *testing.T, s store.Store) {
	all := listFixture(t, s)
	cases := []struct {
		name  string
		p     store.ListParams
		match func(j *store.Job) bool
	}{
		{"none", store.ListParams{}, func(*store.Job) bool { return true }},
		{"state", store.ListParams{States: []store.State{store.StateQueued}},
			func(j *store.Job) bool { return j.State == store.StateQueued }},
		{"states", store.ListParams{States: []store.State{store.StateRunning, store.StateDone, store.StateScheduled}},
			func(j *store.Job) bool {
				return j.State == store.StateRunning || j.State == store.StateDone || j.State == store.StateScheduled
			}},
		{"kind", store.ListParams{Kinds: []string{"a"}}, func(j *store.Job) bool { return j.Kind == "a" }},
		{"kinds", store.ListParams{Kinds: []string{"a", "c"}}, func(j *store.Job) bool { return j.Kind != "b" }},
		{"queue", store.ListParams{Queues: []string{"q2"}}, func(j *store.Job) bool { return j.Queue == "q2" }},
		{"key", store.ListParams{Key: "key4"}, func(j *store.Job) bool { return j.Key == "key4" }},
		{"metadata", store.ListParams{Metadata: map[string]string{"tenant": "x"}},
			func(j *store.Job) bool { return j.Metadata["tenant"] == "x" }},
		{"metadata two keys", store.ListParams{Metadata: map[string]string{"tenant": "x", "env": "prod"}},
			func(j *store.Job) bool { return j.Metadata["tenant"] == "x" && j.Metadata["env"] == "prod" }},
		{"created range", store.ListParams{CreatedFrom: at(3 * time.Minute), CreatedTo: at(7 * time.Minute)},
			func(j *store.Job) bool {
				return !j.CreatedAt.Before(at(3*time.Minute)) && j.CreatedAt.Before(at(7*time.Minute))
			}},
		{"created from", store.ListParams{CreatedFrom: at(10 * time.Minute)},
			func(j *store.Job) bool { return !j.CreatedAt.Before(at(10 * time.Minute)) }},
		{"run_at from", store.ListParams{RunAtFrom: at(time.Hour)},
			func(j *store.Job) bool { return !j.RunAt.Before(at(time.Hour)) }},
		{"run_at to", store.ListParams{RunAtTo: at(2 * time.Minute)},
			func(j *store.Job) bool { return j.RunAt.Before(at(2 * time.Minute)) }},
		{"combined", store.ListParams{Kinds: []string{"a", "b"}, Queues: []string{"q1"}, States: []store.State{store.StateQueued}},
			func(j *store.Job) bool { return j.Kind != "c" && j.Queue == "q1" && j.State == store.StateQueued }},
		{"nothing", store.ListParams{Kinds: []string{"a"}, Key: "key4"}, func(*store.Job) bool { return false }},
	}
	for _, c := range cases {
		var want []int64
		for _, j := range all {
			if c.match(j) {
				want = append(want, j.ID)
			}
		}
		if c.name != "none" && c.name != "nothing" && (len(want) == 0 || len(want) == len(all)) {
			t.Fatalf("%s: the fixture does not exercise this filter (%d of %d match)", c.name, len(want), len(all))
		}
		for _, desc := range []bool{false, true} {
			p := c.p
			p.Desc = desc
			page, err := s.List(t.Context(), p)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			w := slices.Clone(want)
			if desc {
				slices.Reverse(w)
			}
			if got := ids(page.Jobs); !slices.Equal(got, w) {
				t.Errorf("%s (desc %v): got %v, want %v", c.name, desc, got, w)
			}
			if page.NextAfterID != 0 {
				t.Errorf("%s: NextAfterID %d on the only page", c.name, page.NextAfterID)
			}
			for _, j := range page.Jobs {
				if len(j.Attempts) != 0 {
					t.Errorf("List filled the attempt history of job %d", j.ID)
				}
				checkTimesUTC(t, j)
			}
		}
	}
}

func testListPages(t *testing.T, s store.Store) {
	jobs := insertN(t, s, base(), 25, func(int) store.InsertParams { return params("k") })
	all := ids(jobs)
	for _, desc := range []bool{false, true} {
		want := slices.Clone(all)
		if desc {
			slices.Reverse(want)
		}
		var got []int64
		p := store.ListParams{Limit: 10, Desc: desc}
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatalf("desc %v: more than 3 pages of 10 for 25 jobs", desc)
			}
			page, err := s.List(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page.Jobs)...)
			if page.NextAfterID == 0 {
				if len(page.Jobs) != 5 {
					t.Errorf("desc %v: last page has %d jobs, want 5", desc, len(page.Jobs))
				}
				break
			}
			if len(page.Jobs) != 10 || page.NextAfterID != page.Jobs[9].ID {
				t.Fatalf("desc %v: page of %d jobs with cursor %d", desc, len(page.Jobs), page.NextAfterID)
			}
			p.AfterID = page.NextAfterID
		}
		if !slices.Equal(got, want) {
			t.Errorf("desc %v: pages gave %v, want %v", desc, got, want)
		}
	}
	// A page that ends exactly at the last job has no cursor.
	page, err := s.List(t.Context(), store.ListParams{Limit: 5, AfterID: all[19]})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 5 || page.NextAfterID != 0 {
		t.Errorf("exact last page: %d jobs, next %d; want 5 and 0", len(page.Jobs), page.NextAfterID)
	}
}

func statsTests() []test {
	return []test{
		{"Counts", func(t *testing.T, s store.Store) {
			all := listFixture(t, s)
			want := map[store.Count]bool{}
			n := map[[3]string]int64{}
			for _, j := range all {
				n[[3]string{j.Queue, j.Kind, string(j.State)}]++
			}
			for k, v := range n {
				want[store.Count{Queue: k[0], Kind: k[1], State: store.State(k[2]), N: v}] = true
			}
			counts, err := s.Counts(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(counts) != len(want) {
				t.Errorf("Counts = %v, want %v", counts, want)
			}
			for _, c := range counts {
				if !want[c] {
					t.Errorf("unexpected count %+v (want %v)", c, want)
				}
			}
		}},
		{"CountsByHour", func(t *testing.T, s store.Store) {
			h0 := base().Truncate(time.Hour)
			h := func(n int, m time.Duration) time.Time { return h0.Add(time.Duration(n)*time.Hour + m) }
			insertJob(t, s, h(0, 10*time.Minute), params("k", inQueue("a")))
			insertJob(t, s, h(0, 20*time.Minute), params("k", inQueue("b")))
			insertJob(t, s, h(0, 30*time.Minute), params("k", inQueue("c")))
			insertJob(t, s, h(1, 30*time.Minute), params("k", inQueue("d")))
			insertJob(t, s, h(3, 0), params("k", inQueue("e"))) // outside [h0, h3)
			insertJob(t, s, h(-1, 59*time.Minute), params("k", inQueue("f")))
			cp := claimParams(h(1, 5*time.Minute), 1)
			cp.Queue = "b"
			claim(t, s, cp)
			cp = claimParams(h(1, 6*time.Minute), 1)
			cp.Queue = "c"
			finishDone(t, s, claim(t, s, cp)[0], h(2, time.Minute))

			got, err := s.CountsByHour(t.Context(), h(0, 0), h(3, 0))
			if err != nil {
				t.Fatal(err)
			}
			want := map[store.HourCount]bool{
				{Hour: h(0, 0), State: store.StateQueued, N: 1}:  true,
				{Hour: h(1, 0), State: store.StateRunning, N: 1}: true,
				{Hour: h(1, 0), State: store.StateQueued, N: 1}:  true,
				{Hour: h(2, 0), State: store.StateDone, N: 1}:    true,
			}
			if len(got) != len(want) {
				t.Errorf("CountsByHour = %+v, want %v", got, want)
			}
			for _, c := range got {
				if c.Hour.Location() != time.UTC || !want[c] {
					t.Errorf("unexpected hour count %+v", c)
				}
			}
		}},
		{"LastFinished", func(t *testing.T, s store.Store) {
			run := func(now time.Time, st store.State) {
				j := insertJob(t, s, now, params("k", withKey("key", "")))
				cl := claimOne(t, s, now, j.ID)
				if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: cl.Attempt, State: st, Now: now.Add(time.Minute)})[0] {
					t.Fatal("finish not applied")
				}
			}
			run(at(time.Hour), store.StateDone)
			run(at(3*time.Hour), store.StateError)
			run(at(2*time.Hour), store.StateAborted)
			insertJob(t, s, at(5*time.Hour), params("k", withKey("key", ""))) // active: does not count
			got, ok, err := s.LastFinished(t.Context(), "k", "key")
			if err != nil || !ok {
				t.Fatalf("LastFinished = %v, %v, %v", got, ok, err)
			}
			sameTime(t, "LastFinished", got, at(3*time.Hour+time.Minute))
			for _, kk := range [][2]string{{"k", "other"}, {"other", "key"}} {
				if _, ok, err := s.LastFinished(t.Context(), kk[0], kk[1]); err != nil || ok {
					t.Errorf("LastFinished(%q, %q) = ok %v, %v; want not found", kk[0], kk[1], ok, err)
				}
			}
		}},
		{"Prune", testPrune},
		{"PruneLimit", func(t *testing.T, s store.Store) {
			for range 5 {
				finishedAt(t, s, "x", at(time.Hour))
			}
			for i, want := range []int64{2, 2, 1, 0} {
				n, err := s.Prune(t.Context(), store.PruneParams{Before: at(2 * time.Hour), Limit: 2})
				if err != nil || n != want {
					t.Errorf("prune %d: %d, %v; want %d", i, n, err, want)
				}
			}
		}},
	}
}

// finishedAt makes a job of kind that finished (done) at when.
func finishedAt(t *testing.T, s store.Store, kind string, when time.Time) *store.Job {
	t.Helper()
	j := insertJob(t, s, base(), params(kind, inQueue("prune")))
	cp := claimParams(base(), 1)
	cp.Queue = "prune"
	if cl := claim(t, s, cp); len(cl) != 1 || cl[0].ID != j.ID {
		t.Fatalf("claimed %v, want %d", ids(cl), j.ID)
	}
	if !finish(t, s, store.FinishParams{ID: j.ID, Attempt: 1, State: store.StateDone, Now: when})[0] {
		t.Fatal("finish not applied")
	}
	return j
}

func testPrune(t *testing.T, s store.Store) {
	other1 := finishedAt(t, s, "other", at(time.Hour))
	other2 := finishedAt(t, s, "other", at(3*time.Hour))
	short1 := finishedAt(t, s, "short", at(time.Hour))
	short2 := finishedAt(t, s, "short", at(5*time.Hour))
	long1 := finishedAt(t, s, "long", at(time.Hour))
	old := insertJob(t, s, base(), params("other")) // not final: never pruned
	n, err := s.Prune(t.Context(), store.PruneParams{
		Before:       at(2 * time.Hour),
		BeforeByKind: map[string]time.Time{"short": at(6 * time.Hour), "long": at(30 * time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("pruned %d, want 3", n)
	}
	for _, j := range []*store.Job{other1, short1, short2} {
		if _, err := s.Get(t.Context(), j.ID); !isNotFound(err) {
			t.Errorf("job %d (%s) not pruned: %v", j.ID, j.Kind, err)
		}
	}
	for _, j := range []*store.Job{other2, long1, old} {
		get(t, s, j.ID)
	}
}
