package storetest

import (
	"encoding/json"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

func schemaTests() []test {
	return []test{
		{"MigrateIsIdempotent", func(t *testing.T, s store.Store) {
			if s.Driver() == "" {
				t.Error("Driver() is empty")
			}
			for i := range 2 {
				applied, latest, err := s.SchemaVersion(t.Context())
				if err != nil {
					t.Fatalf("SchemaVersion: %v", err)
				}
				if latest <= 0 || applied != latest {
					t.Fatalf("SchemaVersion = %d, %d after Migrate; want applied == latest > 0", applied, latest)
				}
				if i == 0 {
					if err := s.Migrate(t.Context()); err != nil {
						t.Fatalf("second Migrate: %v", err)
					}
				}
			}
			// The store still works after a second Migrate.
			j := insertJob(t, s, base(), params("k"))
			get(t, s, j.ID)
		}},
	}
}

func insertTests() []test {
	return []test{
		{"RoundTrip", testInsertRoundTrip},
		{"InitialState", testInsertInitialState},
		{"BatchOrder", func(t *testing.T, s store.Store) {
			jobs := insertN(t, s, base(), 5, func(i int) store.InsertParams {
				return params("k", withArgs(`{"i":`+string(rune('0'+i))+`}`))
			})
			for i, j := range jobs {
				if i > 0 && j.ID <= jobs[i-1].ID {
					t.Errorf("ids not increasing in input order: %v", ids(jobs))
				}
				var a struct{ I int }
				if err := json.Unmarshal(get(t, s, j.ID).Args, &a); err != nil || a.I != i {
					t.Errorf("result %d holds job with args %s", i, j.Args)
				}
			}
		}},
		{"EmptyBatch", func(t *testing.T, s store.Store) {
			res, err := s.Insert(t.Context(), base(), nil)
			if err != nil || len(res) != 0 {
				t.Fatalf("Insert(nil) = %v, %v; want no results, no error", res, err)
			}
		}},
		{"BatchQueueFullInsertsNothing", func(t *testing.T, s store.Store) {
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "small", MaxSize: ptr(1), Now: base()}); err != nil {
				t.Fatal(err)
			}
			// The third item finds the queue full.
			_, err := s.Insert(t.Context(), base(), []store.InsertParams{
				params("a", inQueue("small")),
				params("b", inQueue("other")),
				params("c", inQueue("small")),
				params("d", inQueue("other")),
			})
			wantErr(t, "Insert into a full queue", err, store.ErrQueueFull)
			wantIndex(t, err, 2)
			page, err := s.List(t.Context(), store.ListParams{})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Jobs) != 0 {
				t.Fatalf("a failed batch inserted %d jobs", len(page.Jobs))
			}
		}},
		{"BatchDuplicateInsertsNothing", func(t *testing.T, s store.Store) {
			first := insertJob(t, s, base(), params("k", withKey("dup", "")))
			_, err := s.Insert(t.Context(), base(), []store.InsertParams{
				params("k"),
				params("k", withKey("other", store.OnConflictReject)),
				params("k", withKey("dup", store.OnConflictReject)),
			})
			wantErr(t, "Insert of a duplicate with reject", err, store.ErrDuplicate)
			wantIndex(t, err, 2)
			var de *store.DuplicateKeyError
			if !errors.As(err, &de) || *de != (store.DuplicateKeyError{Index: 2, Kind: "k", Key: "dup", Existing: first.ID}) {
				t.Errorf("Insert of a duplicate with reject: %#v, want a *DuplicateKeyError of job 2 naming job %d", de, first.ID)
			}
			page, err := s.List(t.Context(), store.ListParams{})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Jobs) != 1 || page.Jobs[0].ID != first.ID {
				t.Fatalf("after a failed batch the store holds %v, want only job %d", ids(page.Jobs), first.ID)
			}
			if _, err := s.GetByKey(t.Context(), "k", "other"); !isNotFound(err) {
				t.Fatalf("GetByKey of a key from the failed batch: %v, want ErrNotFound", err)
			}
		}},
	}
}

func testInsertRoundTrip(t *testing.T, s store.Store) {
	// A Now with nanoseconds in another zone: stored as UTC microseconds.
	now := base().Add(789 * time.Nanosecond).In(time.FixedZone("X", 5*3600))
	p := store.InsertParams{
		Kind:        "email.send",
		Queue:       "mail",
		Args:        json.RawMessage(`{"to": "a@example.com", "n": 3, "tags": ["x", "y"], "deep": {"ok": true}}`),
		Priority:    7,
		Key:         "user-42",
		OnConflict:  store.OnConflictReturn,
		Metadata:    map[string]string{"tenant": "t1", "user": "u 1"},
		MaxAttempts: 5,
		Timeout:     90*time.Second + time.Microsecond,
	}
	res := insert(t, s, now, p)
	if res[0].Duplicate || res[0].Updated {
		t.Errorf("new job: Duplicate=%v Updated=%v", res[0].Duplicate, res[0].Updated)
	}
	ins := res[0].Job
	got := get(t, s, ins.ID)
	for _, j := range []*store.Job{ins, got} {
		if j.ID <= 0 {
			t.Errorf("ID = %d", j.ID)
		}
		if j.Kind != p.Kind || j.Queue != p.Queue || j.Priority != p.Priority || j.Key != p.Key {
			t.Errorf("kind/queue/priority/key = %q/%q/%d/%q", j.Kind, j.Queue, j.Priority, j.Key)
		}
		if !jsonEqual(j.Args, p.Args) {
			t.Errorf("Args = %s, want %s", j.Args, p.Args)
		}
		if !maps.Equal(j.Metadata, p.Metadata) {
			t.Errorf("Metadata = %v, want %v", j.Metadata, p.Metadata)
		}
		if j.State != store.StateQueued {
			t.Errorf("State = %s, want queued", j.State)
		}
		if j.Attempt != 0 || j.MaxAttempts != 5 || j.Timeout != p.Timeout {
			t.Errorf("Attempt/MaxAttempts/Timeout = %d/%d/%v", j.Attempt, j.MaxAttempts, j.Timeout)
		}
		if len(j.Result) != 0 || j.LastError != "" || j.Node != "" || j.CancelRequested {
			t.Errorf("Result/LastError/Node/CancelRequested = %s/%q/%q/%v", j.Result, j.LastError, j.Node, j.CancelRequested)
		}
		sameTime(t, "RunAt", j.RunAt, micro(now))
		sameTime(t, "CreatedAt", j.CreatedAt, micro(now))
		sameTime(t, "UpdatedAt", j.UpdatedAt, micro(now))
		sameTime(t, "LeaseUntil", j.LeaseUntil, time.Time{})
		sameTime(t, "StartedAt", j.StartedAt, time.Time{})
		sameTime(t, "FinishedAt", j.FinishedAt, time.Time{})
		if len(j.Attempts) != 0 {
			t.Errorf("Attempts = %v, want none", j.Attempts)
		}
		checkTimesUTC(t, j)
	}
	// A job without key, metadata or args round-trips too.
	bare := insertJob(t, s, now, store.InsertParams{Kind: "bare", Queue: "q", Priority: 0, MaxAttempts: 1})
	g := get(t, s, bare.ID)
	if len(g.Metadata) != 0 || g.Key != "" || g.Priority != 0 || g.Timeout != 0 {
		t.Errorf("bare job read back as %+v", g)
	}
	if by, err := s.GetByKey(t.Context(), p.Kind, p.Key); err != nil || by.ID != ins.ID {
		t.Errorf("GetByKey = %v, %v; want job %d", by, err, ins.ID)
	}
}

func testInsertInitialState(t *testing.T, s store.Store) {
	now := base()
	future := now.Add(time.Hour + 123456789*time.Nanosecond)
	cases := []struct {
		name      string
		hold      bool
		runAt     time.Time
		want      store.State
		wantRunAt time.Time
	}{
		{"no run_at", false, time.Time{}, store.StateQueued, now},
		{"run_at past", false, now.Add(-time.Hour), store.StateQueued, now},
		{"run_at now", false, now, store.StateQueued, now},
		{"run_at future", false, future, store.StateScheduled, micro(future)},
		{"hold", true, time.Time{}, store.StateReady, now},
		{"hold future", true, future, store.StateReady, micro(future)},
	}
	for _, c := range cases {
		p := params("k", withRunAt(c.runAt))
		p.Hold = c.hold
		j := insertJob(t, s, now, p)
		g := get(t, s, j.ID)
		for _, x := range []*store.Job{j, g} {
			if x.State != c.want {
				t.Errorf("%s: State = %s, want %s", c.name, x.State, c.want)
			}
			sameTime(t, c.name+": RunAt", x.RunAt, c.wantRunAt)
		}
	}
}

func conflictTests() []test {
	return []test{
		{"Policies", testConflictPolicies},
		{"RunningJob", testConflictRunning},
		{"SameBatch", testConflictSameBatch},
		{"FinalKeyIsFree", testConflictFinalKeyFree},
		{"KeyIsPerKind", func(t *testing.T, s store.Store) {
			a := insertJob(t, s, base(), params("a", withKey("k", store.OnConflictReject)))
			b := insertJob(t, s, base(), params("b", withKey("k", store.OnConflictReject)))
			if a.ID == b.ID {
				t.Fatal("the same key of two kinds made one job")
			}
		}},
	}
}

// conflictOld and conflictNew are the existing job and the conflicting insert.
func conflictOld() store.InsertParams {
	p := params("k", withKey("key1", ""), withArgs(`{"v":1}`), withPriority(50), withMeta("a", "1"))
	p.Timeout = time.Second
	return p
}

func conflictNew(pol store.ConflictPolicy) store.InsertParams {
	p := params("k", withKey("key1", pol), withArgs(`{"v":2}`), withPriority(10), withMeta("a", "2"),
		withRunAt(at(time.Hour)), withMaxAttempts(9))
	p.Timeout = 5 * time.Second
	return p
}

func testConflictPolicies(t *testing.T, s store.Store) {
	type want struct {
		updated  bool
		args     string
		priority int
		state    store.State
	}
	unchanged := want{false, `{"v":1}`, 50, store.StateQueued}
	cases := []struct {
		policy store.ConflictPolicy
		err    error
		want   want
	}{
		{"", nil, unchanged},
		{store.OnConflictReturn, nil, unchanged},
		{store.OnConflictReject, store.ErrDuplicate, unchanged},
		{store.OnConflictUpdatePriority, nil, want{true, `{"v":1}`, 10, store.StateQueued}},
		{store.OnConflictReplace, nil, want{true, `{"v":2}`, 10, store.StateScheduled}},
	}
	for i, c := range cases {
		// One key per case, so the cases share the store.
		key := "key-" + string(rune('a'+i))
		oldP := conflictOld()
		oldP.Key = key
		old := insertJob(t, s, base(), oldP)
		newP := conflictNew(c.policy)
		newP.Key = key
		res, err := s.Insert(t.Context(), at(time.Second), []store.InsertParams{newP})
		if c.err != nil {
			wantErr(t, string(c.policy), err, c.err)
		} else {
			if err != nil {
				t.Fatalf("policy %q: %v", c.policy, err)
			}
			r := res[0]
			if !r.Duplicate || r.Updated != c.want.updated || r.Job == nil || r.Job.ID != old.ID {
				t.Errorf("policy %q: result Duplicate=%v Updated=%v job=%v; want duplicate of %d, updated %v",
					c.policy, r.Duplicate, r.Updated, r.Job, old.ID, c.want.updated)
			}
			if r.Job != nil && (r.Job.Priority != c.want.priority || !jsonEqual(r.Job.Args, []byte(c.want.args))) {
				t.Errorf("policy %q: returned job has priority %d args %s", c.policy, r.Job.Priority, r.Job.Args)
			}
		}
		g := get(t, s, old.ID)
		if g.Priority != c.want.priority || !jsonEqual(g.Args, []byte(c.want.args)) || g.State != c.want.state {
			t.Errorf("policy %q: job is %s priority %d args %s; want %s %d %s",
				c.policy, g.State, g.Priority, g.Args, c.want.state, c.want.priority, c.want.args)
		}
		if c.policy == store.OnConflictReplace {
			if g.Metadata["a"] != "2" || g.MaxAttempts != 9 || g.Timeout != 5*time.Second {
				t.Errorf("replace: metadata %v max attempts %d timeout %v", g.Metadata, g.MaxAttempts, g.Timeout)
			}
			sameTime(t, "replace: RunAt", g.RunAt, at(time.Hour))
		} else if g.Metadata["a"] != "1" || g.MaxAttempts != 3 || g.Timeout != time.Second {
			t.Errorf("policy %q changed metadata/limits: %v %d %v", c.policy, g.Metadata, g.MaxAttempts, g.Timeout)
		}
		page, err := s.List(t.Context(), store.ListParams{Key: key})
		if err != nil || len(page.Jobs) != 1 {
			t.Errorf("policy %q: %d jobs with the key (%v), want 1", c.policy, len(page.Jobs), err)
		}
	}
	// update_priority with the same priority changes nothing.
	same := params("k", withKey("key-a", store.OnConflictUpdatePriority), withPriority(50))
	if r := insert(t, s, at(time.Second), same)[0]; !r.Duplicate || r.Updated {
		t.Errorf("update_priority with an equal priority: Duplicate=%v Updated=%v; want true, false", r.Duplicate, r.Updated)
	}
}

func testConflictRunning(t *testing.T, s store.Store) {
	old := insertJob(t, s, base(), conflictOld())
	running := claimOne(t, s, at(time.Second), old.ID)
	for _, pol := range []store.ConflictPolicy{store.OnConflictReplace, store.OnConflictUpdatePriority, store.OnConflictReturn} {
		r := insert(t, s, at(2*time.Second), conflictNew(pol))[0]
		if !r.Duplicate || r.Updated || r.Job.ID != old.ID || r.Job.State != store.StateRunning {
			t.Errorf("policy %q on a running job: Duplicate=%v Updated=%v job %d %s; want the running job unchanged",
				pol, r.Duplicate, r.Updated, r.Job.ID, r.Job.State)
		}
	}
	g := get(t, s, old.ID)
	if g.State != store.StateRunning || g.Priority != 50 || !jsonEqual(g.Args, []byte(`{"v":1}`)) || g.Attempt != running.Attempt {
		t.Errorf("running job changed: %s priority %d args %s attempt %d", g.State, g.Priority, g.Args, g.Attempt)
	}
	_, err := s.Insert(t.Context(), at(3*time.Second), []store.InsertParams{conflictNew(store.OnConflictReject)})
	wantErr(t, "reject on a running job", err, store.ErrDuplicate)
}

func testConflictSameBatch(t *testing.T, s store.Store) {
	// return: the second item is the first job.
	res := insert(t, s, base(), params("k", withKey("r", "")), params("k", withKey("r", "")))
	if res[0].Duplicate || !res[1].Duplicate || res[0].Job.ID != res[1].Job.ID {
		t.Errorf("same key twice in a batch: results %+v, %+v; want one job, the second a duplicate", res[0], res[1])
	}
	// replace: the second item replaces the first.
	res = insert(t, s, base(),
		params("k", withKey("p", store.OnConflictReplace), withArgs(`{"v":1}`)),
		params("k", withKey("p", store.OnConflictReplace), withArgs(`{"v":2}`)))
	if !res[1].Duplicate || !res[1].Updated || res[1].Job.ID != res[0].Job.ID {
		t.Errorf("replace in a batch: %+v", res[1])
	}
	if g := get(t, s, res[0].Job.ID); !jsonEqual(g.Args, []byte(`{"v":2}`)) {
		t.Errorf("replace in a batch: args %s, want {\"v\":2}", g.Args)
	}
	// reject: the whole batch fails.
	_, err := s.Insert(t.Context(), base(), []store.InsertParams{
		params("k", withKey("x", store.OnConflictReject)),
		params("k", withKey("x", store.OnConflictReject)),
	})
	wantErr(t, "reject of a duplicate in the same batch", err, store.ErrDuplicate)
	wantIndex(t, err, 1)
	if de := (*store.DuplicateKeyError)(nil); !errors.As(err, &de) || de.Index != 1 || de.Key != "x" || de.Existing == 0 {
		t.Errorf("reject of a duplicate in the same batch: %#v, want a *DuplicateKeyError of job 1 naming the first", de)
	}
	if _, err := s.GetByKey(t.Context(), "k", "x"); !isNotFound(err) {
		t.Errorf("GetByKey after the failed batch: %v, want ErrNotFound", err)
	}
}

func testConflictFinalKeyFree(t *testing.T, s store.Store) {
	first := insertJob(t, s, base(), params("k", withKey("once", store.OnConflictReject)))
	j := claimOne(t, s, at(time.Second), first.ID)
	finishDone(t, s, j, at(2*time.Second))

	second := insert(t, s, at(3*time.Second), params("k", withKey("once", store.OnConflictReject)))[0]
	if second.Duplicate || second.Job.ID == first.ID {
		t.Fatalf("insert after the keyed job finished: %+v; want a new job", second)
	}
	by, err := s.GetByKey(t.Context(), "k", "once")
	if err != nil || by.ID != second.Job.ID {
		t.Fatalf("GetByKey = %v, %v; want the active job %d", by, err, second.Job.ID)
	}
	// With no active job, GetByKey returns the newest.
	if _, err := s.Cancel(t.Context(), store.CancelParams{ID: second.Job.ID, Now: at(4 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	by, err = s.GetByKey(t.Context(), "k", "once")
	if err != nil || by.ID != second.Job.ID || by.State != store.StateAborted {
		t.Fatalf("GetByKey with no active job = %v, %v; want the newest job %d", by, err, second.Job.ID)
	}
	if _, err := s.GetByKey(t.Context(), "k", "nope"); !isNotFound(err) {
		t.Errorf("GetByKey of an unknown key: %v, want ErrNotFound", err)
	}
}

func queueSizeTests() []test {
	return []test{
		{"MaxSize", func(t *testing.T, s store.Store) {
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "q", MaxSize: ptr(3), UrgentPriority: ptr(5), Now: base()}); err != nil {
				t.Fatal(err)
			}
			q := inQueue("q")
			// Every waiting state counts: queued, scheduled, ready.
			insert(t, s, base(), params("k", q), params("k", q, withRunAt(at(time.Hour))), params("k", q, held()))
			_, err := s.Insert(t.Context(), base(), []store.InsertParams{params("k", q, withPriority(6))})
			wantErr(t, "insert into a full queue", err, store.ErrQueueFull)
			wantIndex(t, err, 0)
			// Urgent jobs are accepted anyway.
			insert(t, s, base(), params("k", q, withPriority(5)), params("k", q, withPriority(0)))
			// Other queues are not affected.
			insert(t, s, base(), params("k"))
			// Running and final jobs do not count.
			cp := claimParams(at(time.Second), 5)
			cp.Queue = "q"
			running := claim(t, s, cp) // the queued ones: 2 urgent + 1
			if len(running) != 3 {
				t.Fatalf("claimed %d, want 3", len(running))
			}
			finishDone(t, s, running[0], at(2*time.Second))
			// Waiting now: scheduled and ready: 2 of 3.
			insert(t, s, at(3*time.Second), params("k", q))
			_, err = s.Insert(t.Context(), at(3*time.Second), []store.InsertParams{params("k", q)})
			wantErr(t, "insert into the refilled queue", err, store.ErrQueueFull)
			// Raising the cap makes room; 0 removes it.
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "q", MaxSize: ptr(0), Now: at(4 * time.Second)}); err != nil {
				t.Fatal(err)
			}
			insertN(t, s, at(5*time.Second), 5, func(int) store.InsertParams { return params("k", q) })
		}},
		{"NoUrgentPriority", func(t *testing.T, s store.Store) {
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "q", MaxSize: ptr(1), Now: base()}); err != nil {
				t.Fatal(err)
			}
			insert(t, s, base(), params("k", inQueue("q")))
			_, err := s.Insert(t.Context(), base(), []store.InsertParams{params("k", inQueue("q"), withPriority(0))})
			wantErr(t, "priority 0 with UrgentPriority -1", err, store.ErrQueueFull)
		}},
		{"DuplicateDoesNotNeedRoom", func(t *testing.T, s store.Store) {
			if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "q", MaxSize: ptr(1), Now: base()}); err != nil {
				t.Fatal(err)
			}
			j := insertJob(t, s, base(), params("k", inQueue("q"), withKey("a", "")))
			r := insert(t, s, base(), params("k", inQueue("q"), withKey("a", store.OnConflictUpdatePriority), withPriority(1)))[0]
			if !r.Duplicate || !r.Updated || r.Job.ID != j.ID {
				t.Errorf("duplicate into a full queue: %+v; want the existing job updated", r)
			}
		}},
	}
}
