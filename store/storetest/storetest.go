package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// noticeTimeout bounds the wait for a notice (a wait on a condition, not a sleep).
const noticeTimeout = 10 * time.Second

// test is one conformance test.
type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// Run runs the conformance suite. open must return a fresh, migrated store
// for each call and arrange for it to be closed (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Schema", schemaTests()},
		{"Insert", insertTests()},
		{"Conflict", conflictTests()},
		{"QueueSize", queueSizeTests()},
		{"Claim", claimTests()},
		{"Finish", finishTests()},
		{"Lease", leaseTests()},
		{"RemoteLease", remoteLeaseTests()},
		{"Promote", promoteTests()},
		{"Rescue", rescueTests()},
		{"Cancel", cancelTests()},
		{"Manage", manageTests()},
		{"List", listTests()},
		{"Stats", statsTests()},
		{"Queues", queueTests()},
		{"Notices", noticeTests()},
		{"Concurrency", concurrencyTests()},
		{"Leader", leaderTests()},
		{"Nodes", nodeTests()},
		{"Limits", limitTests()},
		{"Schedules", scheduleTests()},
		{"Events", eventTests()},
		{"Fires", fireTests()},
		{"GetMany", getManyTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, open(t))
				})
			}
		})
	}
}

// base is the fixed time every test's clock starts from. It has sub-second
// digits so that precision is exercised.
func base() time.Time { return time.Date(2030, time.March, 4, 5, 6, 7, 891011000, time.UTC) }

// at returns base()+d.
func at(d time.Duration) time.Time { return base().Add(d) }

// params returns InsertParams for a job of kind on the default queue with
// the given changes applied.
func params(kind string, changes ...func(*store.InsertParams)) store.InsertParams {
	p := store.InsertParams{
		Kind:        kind,
		Queue:       store.DefaultQueue,
		Args:        json.RawMessage(`{}`),
		Priority:    store.DefaultPriority,
		MaxAttempts: 3,
	}
	for _, c := range changes {
		c(&p)
	}
	return p
}

func inQueue(q string) func(*store.InsertParams) { return func(p *store.InsertParams) { p.Queue = q } }
func withPriority(n int) func(*store.InsertParams) {
	return func(p *store.InsertParams) { p.Priority = n }
}
func withKey(k string, pol store.ConflictPolicy) func(*store.InsertParams) {
	return func(p *store.InsertParams) { p.Key, p.OnConflict = k, pol }
}
func withRunAt(t time.Time) func(*store.InsertParams) {
	return func(p *store.InsertParams) { p.RunAt = t }
}
func withArgs(s string) func(*store.InsertParams) {
	return func(p *store.InsertParams) { p.Args = json.RawMessage(s) }
}
func withMeta(kv ...string) func(*store.InsertParams) {
	return func(p *store.InsertParams) {
		p.Metadata = make(map[string]string)
		for i := 0; i+1 < len(kv); i += 2 {
			p.Metadata[kv[i]] = kv[i+1]
		}
	}
}
func withMaxAttempts(n int) func(*store.InsertParams) {
	return func(p *store.InsertParams) { p.MaxAttempts = n }
}
func held() func(*store.InsertParams) { return func(p *store.InsertParams) { p.Hold = true } }

// insert inserts ps at now and fails the test on error.
func insert(t *testing.T, s store.Store, now time.Time, ps ...store.InsertParams) []store.InsertResult {
	t.Helper()
	res, err := s.Insert(t.Context(), now, ps)
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if len(res) != len(ps) {
		t.Fatalf("Insert returned %d results for %d jobs", len(res), len(ps))
	}
	return res
}

// insertJob inserts one job and returns it.
func insertJob(t *testing.T, s store.Store, now time.Time, p store.InsertParams) *store.Job {
	t.Helper()
	res := insert(t, s, now, p)
	if res[0].Job == nil {
		t.Fatal("Insert returned a result without a job")
	}
	return res[0].Job
}

// insertN inserts n jobs made by mk at now and returns them.
func insertN(t *testing.T, s store.Store, now time.Time, n int, mk func(i int) store.InsertParams) []*store.Job {
	t.Helper()
	ps := make([]store.InsertParams, n)
	for i := range ps {
		ps[i] = mk(i)
	}
	res := insert(t, s, now, ps...)
	jobs := make([]*store.Job, n)
	for i, r := range res {
		jobs[i] = r.Job
	}
	return jobs
}

// get returns a job and fails the test if it cannot.
func get(t *testing.T, s store.Store, id int64) *store.Job {
	t.Helper()
	j, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return j
}

// claimParams returns a claim of up to limit jobs of the default queue by node "n1" at now.
func claimParams(now time.Time, limit int) store.ClaimParams {
	return store.ClaimParams{
		Queue:      store.DefaultQueue,
		Node:       "n1",
		Limit:      limit,
		Now:        now,
		LeaseUntil: now.Add(time.Minute),
	}
}

// claim claims with p and fails the test on error. A claim without
// cluster-wide limits must report no kind held back.
func claim(t *testing.T, s store.Store, p store.ClaimParams) []*store.Job {
	t.Helper()
	res := claimResult(t, s, p)
	if !slices.ContainsFunc(p.Kinds, store.KindLimit.Limited) && (res.AtMax != nil || res.NextStart != nil) {
		t.Errorf("Claim without cluster-wide limits reported AtMax %v, NextStart %v", res.AtMax, res.NextStart)
	}
	return res.Jobs
}

// claimResult claims with p and fails the test on error.
func claimResult(t *testing.T, s store.Store, p store.ClaimParams) store.ClaimResult {
	t.Helper()
	res, err := s.Claim(t.Context(), p)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return res
}

// claimOne claims the one job the test expects on the default queue.
func claimOne(t *testing.T, s store.Store, now time.Time, wantID int64) *store.Job {
	t.Helper()
	jobs := claim(t, s, claimParams(now, 1))
	if len(jobs) != 1 || jobs[0].ID != wantID {
		t.Fatalf("Claim = %v, want job %d", ids(jobs), wantID)
	}
	return jobs[0]
}

// finish finishes and fails the test on error; it reports which finishes
// applied, after checking that each applied one reports the state the job
// now has.
func finish(t *testing.T, s store.Store, fs ...store.FinishParams) []bool {
	t.Helper()
	states := finishStates(t, s, fs...)
	applied := make([]bool, len(states))
	for i, st := range states {
		applied[i] = st != ""
	}
	return applied
}

// finishStates finishes and returns the states Finish reported, checking
// each applied one against the job as stored when its job is finished
// only once in the call.
func finishStates(t *testing.T, s store.Store, fs ...store.FinishParams) []store.State {
	t.Helper()
	states, err := s.Finish(t.Context(), fs)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if len(states) != len(fs) {
		t.Fatalf("Finish returned %d results for %d finishes", len(states), len(fs))
	}
	times := make(map[int64]int)
	for _, f := range fs {
		times[f.ID]++
	}
	for i, st := range states {
		if st == "" || times[fs[i].ID] > 1 {
			continue
		}
		if j := get(t, s, fs[i].ID); j.State != st {
			t.Errorf("Finish of job %d reported state %q; the job is %q", fs[i].ID, st, j.State)
		}
	}
	return states
}

// finishDone finishes a running job's attempt as done at now.
func finishDone(t *testing.T, s store.Store, j *store.Job, now time.Time) {
	t.Helper()
	if applied := finish(t, s, doneParams(j, now)); !applied[0] {
		t.Fatalf("finish of job %d attempt %d not applied", j.ID, j.Attempt)
	}
}

func doneParams(j *store.Job, now time.Time) store.FinishParams {
	return store.FinishParams{
		ID: j.ID, Attempt: j.Attempt, State: store.StateDone, Now: now,
		Record: store.Attempt{Number: j.Attempt, Node: j.Node, StartedAt: j.StartedAt, FinishedAt: now, Outcome: store.OutcomeDone},
	}
}

// ids returns the ids of jobs.
func ids(jobs []*store.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// sortedIDs returns ids sorted.
func sortedIDs(v []int64) []int64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// wantIndex fails the test unless err's message names the batch index i.
func wantIndex(t *testing.T, err error, i int) {
	t.Helper()
	if !regexp.MustCompile(fmt.Sprintf(`\b%d\b`, i)).MatchString(err.Error()) {
		t.Errorf("error %q does not name the item index %d", err, i)
	}
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(a, b []byte) bool {
	if len(bytes.TrimSpace(a)) == 0 || len(bytes.TrimSpace(b)) == 0 {
		return len(bytes.TrimSpace(a)) == len(bytes.TrimSpace(b))
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// sameTime fails the test unless got and want are the same instant, and got
// is in UTC when it is not zero.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.IsZero() != want.IsZero() {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s = %v: location %v, want UTC", what, got, got.Location())
	}
}

// checkTimesUTC fails the test if any time of j is not UTC or has sub-microsecond digits.
func checkTimesUTC(t *testing.T, j *store.Job) {
	t.Helper()
	check := func(name string, v time.Time) {
		if v.IsZero() {
			return
		}
		if v.Location() != time.UTC {
			t.Errorf("job %d %s = %v: location %v, want UTC", j.ID, name, v, v.Location())
		}
		if v.Nanosecond()%1000 != 0 {
			t.Errorf("job %d %s = %v: finer than microseconds", j.ID, name, v)
		}
	}
	check("RunAt", j.RunAt)
	check("LeaseUntil", j.LeaseUntil)
	check("CreatedAt", j.CreatedAt)
	check("UpdatedAt", j.UpdatedAt)
	check("StartedAt", j.StartedAt)
	check("FinishedAt", j.FinishedAt)
	for i, a := range j.Attempts {
		check(fmt.Sprintf("Attempts[%d].StartedAt", i), a.StartedAt)
		check(fmt.Sprintf("Attempts[%d].FinishedAt", i), a.FinishedAt)
	}
}

// micro truncates t to microseconds in UTC, as stores keep times.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// wantState fails the test unless job id is in state.
func wantState(t *testing.T, s store.Store, id int64, state store.State) *store.Job {
	t.Helper()
	j := get(t, s, id)
	if j.State != state {
		t.Fatalf("job %d is %s, want %s", id, j.State, state)
	}
	return j
}

// isNotFound reports whether err is store.ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
