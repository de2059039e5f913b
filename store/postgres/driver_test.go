package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/internal/pgtest"
	"github.com/rotahq/rota/store"
)

// waitTimeout bounds every wait on a condition in these tests.
const waitTimeout = 10 * time.Second

func TestOptionsValidation(t *testing.T) {
	cases := []struct {
		name  string
		opts  Options
		field string
	}{
		{"schema with a dot", Options{Schema: "a.b"}, "Schema"},
		{"schema with upper case", Options{Schema: "Rota"}, "Schema"},
		{"schema with a quote", Options{Schema: `x"; DROP TABLE y; --`}, "Schema"},
		{"schema starting with a digit", Options{Schema: "1rota"}, "Schema"},
		{"schema too long", Options{Schema: strings.Repeat("a", maxSchemaLen+1)}, "Schema"},
		{"negative pool", Options{MaxConns: -1}, "MaxConns"},
		{"negative reconnect delay", Options{ReconnectDelay: -time.Second}, "ReconnectDelay"},
		{"negative listen timeout", Options{ListenTimeout: -time.Second}, "ListenTimeout"},
	}
	for _, c := range cases {
		// Validation comes before any connection: the URL is never used.
		_, err := Open(t.Context(), "postgres://nobody@127.0.0.1:1/none", c.opts)
		if err == nil || !strings.Contains(err.Error(), "Options."+c.field) {
			t.Errorf("%s: Open error %v; want one naming Options.%s", c.name, err, c.field)
		}
	}
	o, err := Options{}.withDefaults()
	if err != nil || o.Schema != DefaultSchema || o.MaxConns != DefaultMaxConns || o.Logger == nil ||
		o.ReconnectDelay != DefaultReconnectDelay || o.ListenTimeout != DefaultListenTimeout {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

func TestMigrateRace(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url, "rota_test_")
	const n = 4
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openSchema(t, url, schema, Options{MaxConns: 2})
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(t.Context())
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	for i, s := range stores {
		applied, latest, err := s.SchemaVersion(t.Context())
		if err != nil || applied != latest || latest < 1 {
			t.Errorf("store %d: SchemaVersion = %d, %d, %v", i, applied, latest, err)
		}
	}
	var migrations int
	if err := stores[0].pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&migrations); err != nil {
		t.Fatal(err)
	}
	if migrations != len(stores[0].migrations) {
		t.Errorf("schema_migrations has %d rows, want %d", migrations, len(stores[0].migrations))
	}
	// Each store works on the one schema.
	j := insertOne(t, stores[1], store.InsertParams{Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 1})
	if _, err := stores[3].Get(t.Context(), j.ID); err != nil {
		t.Errorf("Get from another store: %v", err)
	}
}

// TestAutovacuumSettings: the tables that churn are vacuumed and analyzed
// after a fiftieth of their rows changed, not PostgreSQL's fifth
// (migration 0010, decision 0023).
func TestAutovacuumSettings(t *testing.T) {
	s := openTest(t, Options{})
	for _, table := range []string{"jobs", "event_log"} {
		var opts []string
		err := s.pool.QueryRow(t.Context(), `SELECT coalesce(reloptions, '{}') FROM pg_class
			WHERE oid = (quote_ident(current_schema()) || '.' || $1)::regclass`, table).Scan(&opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"autovacuum_vacuum_scale_factor=0.02", "autovacuum_analyze_scale_factor=0.02"} {
			if !slices.Contains(opts, want) {
				t.Errorf("%s: storage parameters %q, want %s", table, opts, want)
			}
		}
	}
}

func TestSchemasAreSeparate(t *testing.T) {
	a, b := openTest(t, Options{}), openTest(t, Options{})
	insertOne(t, a, store.InsertParams{Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 1})
	page, err := b.List(t.Context(), store.ListParams{})
	if err != nil || len(page.Jobs) != 0 {
		t.Fatalf("the other schema lists %d jobs (%v), want 0", len(page.Jobs), err)
	}
	// And their notices too: b's subscriber hears nothing of a's insert
	// (b's own insert comes after, on the same connection, so it would
	// come second).
	ch := b.Subscribe(t.Context())
	insertOne(t, a, store.InsertParams{Kind: "k", Queue: "from-a", Priority: 1, MaxAttempts: 1})
	insertOne(t, b, store.InsertParams{Kind: "k", Queue: "from-b", Priority: 1, MaxAttempts: 1})
	n := waitNotice(t, ch, func(n store.Notice) bool { return n.Type == store.NoticeQueued })
	if n.Queue != "from-b" {
		t.Errorf("b's subscriber got a notice for queue %q", n.Queue)
	}
}

func insertOne(t *testing.T, s store.Store, p store.InsertParams) *store.Job {
	t.Helper()
	if p.Args == nil {
		p.Args = json.RawMessage(`{}`)
	}
	res, err := s.Insert(t.Context(), time.Now(), []store.InsertParams{p})
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	return res[0].Job
}

// waitNotice reads ch until a notice matches, failing after waitTimeout.
func waitNotice(t *testing.T, ch <-chan store.Notice, match func(store.Notice) bool) store.Notice {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		select {
		case n, ok := <-ch:
			if !ok {
				t.Fatal("notice channel closed")
			}
			if match(n) {
				return n
			}
		case <-deadline.C:
			t.Fatalf("no matching notice within %v", waitTimeout)
		}
	}
}

func TestNoticeFromAnotherStore(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url, "rota_test_")
	a := openSchema(t, url, schema, Options{})
	if err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := openSchema(t, url, schema, Options{})
	ch := a.Subscribe(t.Context())
	insertOne(t, b, store.InsertParams{Kind: "k", Queue: "remote", Priority: 1, MaxAttempts: 1})
	waitNotice(t, ch, func(n store.Notice) bool { return n.Type == store.NoticeQueued && n.Queue == "remote" })

	// A cancel of a running job reaches the other store's subscriber with the job id.
	j := insertOne(t, b, store.InsertParams{Kind: "k", Queue: "run", Priority: 1, MaxAttempts: 1})
	now := time.Now()
	if res, err := b.Claim(t.Context(), store.ClaimParams{Queue: "run", Node: "n", Limit: 1, Now: now, LeaseUntil: now.Add(time.Minute)}); err != nil || len(res.Jobs) != 1 {
		t.Fatalf("Claim = %v, %v", res.Jobs, err)
	}
	if _, err := b.Cancel(t.Context(), store.CancelParams{ID: j.ID, Now: now}); err != nil {
		t.Fatal(err)
	}
	waitNotice(t, ch, func(n store.Notice) bool {
		return n.Type == store.NoticeCancel && len(n.JobIDs) == 1 && n.JobIDs[0] == j.ID
	})
}

func TestNoticesCoalesced(t *testing.T) {
	s := openTest(t, Options{})
	ch := s.Subscribe(t.Context())
	ps := make([]store.InsertParams, 100)
	for i := range ps {
		ps[i] = store.InsertParams{Kind: "k", Queue: []string{"a", "b"}[i%2], Args: json.RawMessage(`{}`), Priority: 1, MaxAttempts: 1}
	}
	if _, err := s.Insert(t.Context(), time.Now(), ps); err != nil {
		t.Fatal(err)
	}
	// A marker after the batch: everything the batch sent came before it.
	if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "marker", Paused: new(bool), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	waitNotice(t, ch, func(n store.Notice) bool {
		if n.Type == store.NoticeQueued {
			counts[n.Queue]++
		}
		return n.Type == store.NoticeQueueChanged && n.Queue == "marker"
	})
	if counts["a"] != 1 || counts["b"] != 1 || len(counts) != 2 {
		t.Errorf("a batch of 100 inserts into 2 queues sent queued notices %v; want one per queue", counts)
	}
}

func TestSlowSubscriberGetsChanged(t *testing.T) {
	s := openTest(t, Options{})
	ch := s.Subscribe(t.Context())
	// A subscriber that keeps up tells when all the notices arrived.
	const n = store.DefaultNoticeBuffer + 8
	last := "q" + strconv.Itoa(n-1)
	reader, arrived := s.Subscribe(t.Context()), make(chan struct{})
	go func() {
		defer close(arrived)
		for n := range reader {
			if n.Type == store.NoticeQueued && n.Queue == last {
				return
			}
		}
	}()
	// One notice per insert, more than the channel holds, none read.
	for i := range n {
		insertOne(t, s, store.InsertParams{Kind: "k", Queue: "q" + strconv.Itoa(i), Priority: 1, MaxAttempts: 1})
	}
	select {
	case <-arrived:
	case <-time.After(waitTimeout):
		t.Fatalf("the notice of queue %s did not arrive within %v", last, waitTimeout)
	}
	// The last notices were dropped: the subscriber is owed a
	// NoticeChanged, sent once it has room.
	waitNotice(t, ch, func(n store.Notice) bool { return n.Type == store.NoticeChanged })
}

func TestListenerReconnect(t *testing.T) {
	s := openTest(t, Options{ReconnectDelay: 10 * time.Millisecond})
	ch := s.Subscribe(t.Context())
	insertOne(t, s, store.InsertParams{Kind: "k", Queue: "before", Priority: 1, MaxAttempts: 1})
	waitNotice(t, ch, func(n store.Notice) bool { return n.Type == store.NoticeQueued && n.Queue == "before" })

	l := s.listener
	pid := l.pid.Load()
	if pid == 0 {
		t.Fatal("the listener has no connection")
	}
	var ok bool
	if err := s.pool.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
	// The reconnect is announced: something may have been missed.
	waitNotice(t, ch, func(n store.Notice) bool { return n.Type == store.NoticeChanged })
	if got := l.pid.Load(); got == pid || l.connects.Load() < 2 {
		t.Errorf("after the reconnect: pid %d (was %d), %d connects", got, pid, l.connects.Load())
	}
	insertOne(t, s, store.InsertParams{Kind: "k", Queue: "after", Priority: 1, MaxAttempts: 1})
	waitNotice(t, ch, func(n store.Notice) bool { return n.Type == store.NoticeQueued && n.Queue == "after" })
}

func TestCloseEndsSubscriptions(t *testing.T) {
	url := pgtest.URL(t)
	s := openSchema(t, url, pgtest.Schema(t, url, "rota_test_"), Options{})
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ch := s.Subscribe(t.Context())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-deadline.C:
			t.Fatal("the channel is still open after Close")
		}
	}
	if _, err := s.Insert(t.Context(), time.Now(), []store.InsertParams{{Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 1}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Insert after Close: %v, want ErrClosed", err)
	}
}

func TestQueueCapUnderConcurrency(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url, "rota_test_")
	a := openSchema(t, url, schema, Options{})
	if err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := openSchema(t, url, schema, Options{})
	const maxSize, inserters = 5, 16
	if _, err := a.UpdateQueue(t.Context(), store.QueueUpdate{Name: "capped", MaxSize: new(int), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	size := maxSize
	if _, err := a.UpdateQueue(t.Context(), store.QueueUpdate{Name: "capped", MaxSize: &size, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, inserters)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range inserters {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			<-start
			_, errs[i] = s.Insert(t.Context(), time.Now(), []store.InsertParams{
				{Kind: "k", Queue: "capped", Args: json.RawMessage(`{}`), Priority: 100, MaxAttempts: 1}})
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrQueueFull):
			t.Errorf("insert %d: %v", i, err)
		}
	}
	if ok != maxSize {
		t.Errorf("%d inserts into a queue capped at %d succeeded", ok, maxSize)
	}
}

func TestSameKeyAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url, "rota_test_")
	a := openSchema(t, url, schema, Options{})
	if err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := openSchema(t, url, schema, Options{})
	const n = 16
	ids := make([]int64, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			<-start
			// Two keys per batch, in opposite orders: the ordered key locks keep
			// the batches from deadlocking.
			keys := []string{"x", "y"}
			if i%2 == 1 {
				keys = []string{"y", "x"}
			}
			var ps []store.InsertParams
			for _, k := range keys {
				ps = append(ps, store.InsertParams{Kind: "k", Queue: "q", Args: json.RawMessage(`{}`), Priority: 1, MaxAttempts: 1,
					Key: k, OnConflict: store.OnConflictUpdatePriority})
			}
			res, err := s.Insert(t.Context(), time.Now(), ps)
			errs[i] = err
			if err == nil {
				ids[i] = res[0].Job.ID
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	page, err := a.List(t.Context(), store.ListParams{})
	if err != nil || len(page.Jobs) != 2 {
		t.Fatalf("%d jobs (%v), want 2", len(page.Jobs), err)
	}
}

// TestClaimPlan checks that the claim reads the claim index.
func TestClaimPlan(t *testing.T) {
	s := openTest(t, Options{})
	plan := explain(t, s, []string{`SET LOCAL enable_seqscan = off`}, `EXPLAIN `+claimSQL(""), "q", "n", time.Now(), time.Now(), 10, nil)
	if !strings.Contains(strings.Join(plan, "\n"), "jobs_claim") {
		t.Errorf("the claim does not use jobs_claim:\n%s", strings.Join(plan, "\n"))
	}
}

// TestClaimAfterBurst: a claim right after a burst of inserts into a new
// queue, when the table's statistics predate it, walks the claim index to
// its LIMIT instead of reading and sorting the whole queue, and no
// statement is JIT-compiled.
func TestClaimAfterBurst(t *testing.T) {
	s := openTest(t, Options{})
	const n, limit = 20000, 100
	now := time.Now()
	insert := func(queue string, count int) {
		t.Helper()
		for i := 0; i < count; i += 1000 {
			batch := make([]store.InsertParams, min(1000, count-i))
			for k := range batch {
				batch[k] = store.InsertParams{Kind: "k", Queue: queue, Args: []byte(`{}`), Priority: store.DefaultPriority, MaxAttempts: 1}
			}
			if _, err := s.Insert(t.Context(), now, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Statistics taken before the burst: they know only the old queue.
	insert("old", 2000)
	if _, err := s.pool.Exec(t.Context(), `ANALYZE jobs`); err != nil {
		t.Fatal(err)
	}
	insert("burst", n)
	var jit string
	if err := s.pool.QueryRow(t.Context(), `SHOW jit`).Scan(&jit); err != nil || jit != "off" {
		t.Errorf("jit = %q, %v; want off", jit, err)
	}
	for _, c := range []struct {
		name string
		sql  string
		args []any
	}{
		{"uncapped", claimSQL(""), []any{"burst", "n", now, now, limit, nil}},
		{"capped", claimCappedSQL("", 7), []any{"burst", "n", now, now, limit, nil, []string{"k"}, []int32{limit}}},
	} {
		text := strings.Join(explain(t, s, claimSettings, `EXPLAIN (ANALYZE, TIMING OFF) `+c.sql, c.args...), "\n")
		if !strings.Contains(text, "Index Scan using jobs_claim") || strings.Contains(text, "rows="+strconv.Itoa(n)+" ") ||
			strings.Contains(text, "JIT") {
			t.Errorf("%s: the claim reads the whole queue, or is JIT-compiled:\n%s", c.name, text)
		}
	}
}

// TestClaimGenericPlan: a claim runs the generic plan of its prepared
// statement, made once per connection, perhaps while the table was empty,
// and reused however the table grows: that plan walks the claim index to
// its LIMIT and updates by primary key, never a sequential scan nor a read
// of the whole queue, whatever the statistics said when it was made.
func TestClaimGenericPlan(t *testing.T) {
	s := openTest(t, Options{})
	if _, err := s.pool.Exec(t.Context(), `ANALYZE jobs`); err != nil { // statistics of an empty table
		t.Fatal(err)
	}
	const n, limit = 20000, 100
	// EXECUTE takes its parameters written out: queue, node, lease, now,
	// limit, token, then the kinds and caps.
	const base = `'q', 'n', now() + interval '1 minute', now(), ` + "100" + `, NULL`
	for i, c := range []struct {
		name, sql, params string
	}{
		{"uncapped", claimSQL(""), base},
		{"kinds", claimSQL(` AND kind = ANY($7::text[])`), base + `, '{k}'`},
		{"capped", claimCappedSQL("", 7), base + `, '{k}', '{100}'`},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := "claim_plan_" + strconv.Itoa(i)
			execute := `EXECUTE ` + name + `(` + c.params + `)`
			err := pgx.BeginFunc(t.Context(), s.pool, func(tx pgx.Tx) error {
				for _, set := range claimSettings {
					if _, err := tx.Exec(t.Context(), set); err != nil {
						return err
					}
				}
				if _, err := tx.Exec(t.Context(), `PREPARE `+name+` AS `+c.sql); err != nil {
					return err
				}
				plan := func(q string) string {
					t.Helper()
					rows, err := tx.Query(t.Context(), q)
					if err != nil {
						t.Fatalf("%s: %v", q, err)
					}
					lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
					if err != nil {
						t.Fatalf("%s: %v", q, err)
					}
					return strings.Join(lines, "\n")
				}
				empty := plan(`EXPLAIN ` + execute)
				if !strings.Contains(empty, "Index Scan using jobs_claim") || !strings.Contains(empty, "jobs_pkey") ||
					strings.Contains(empty, "Seq Scan") {
					t.Errorf("the generic plan of the claim on an empty table does not walk jobs_claim and look up by jobs_pkey:\n%s", empty)
				}
				if _, err := tx.Exec(t.Context(), `INSERT INTO jobs (kind, queue, args, priority, run_at, state, max_attempts, created_at, updated_at)
					SELECT 'k', 'q', '{}', 1, now(), 'queued', 1, now(), now() FROM generate_series(1, $1::int)`, n); err != nil {
					return err
				}
				full := plan(`EXPLAIN (ANALYZE, TIMING OFF) ` + execute)
				if !strings.Contains(full, "Index Scan using jobs_claim") || strings.Contains(full, "rows="+strconv.Itoa(n)+" ") ||
					!strings.Contains(full, "rows="+strconv.Itoa(limit)+" loops=1") {
					t.Errorf("the generic plan of the claim did not claim %d of %d jobs through jobs_claim:\n%s", limit, n, full)
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			if _, err := s.pool.Exec(t.Context(), `DEALLOCATE `+name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFinishPlan: a finish names its jobs by id, so it looks each up by
// primary key even when the statistics were taken with no job running,
// with no join (of unpacked arrays, or of the table to itself).
func TestFinishPlan(t *testing.T) {
	s := openTest(t, Options{})
	const n, total = 100, 20000
	now := time.Now()
	for i := 0; i < total; i += 1000 {
		batch := make([]store.InsertParams, 1000)
		for k := range batch {
			batch[k] = store.InsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: store.DefaultPriority, MaxAttempts: 1}
		}
		if _, err := s.Insert(t.Context(), now, batch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(t.Context(), `ANALYZE jobs`); err != nil { // nothing running yet
		t.Fatal(err)
	}
	res, err := s.Claim(t.Context(), store.ClaimParams{Queue: "q", Node: "n", Limit: n, Now: now, LeaseUntil: now.Add(time.Minute)})
	jobs := res.Jobs
	if err != nil || len(jobs) != n {
		t.Fatalf("claimed %d, %v", len(jobs), err)
	}
	var (
		ids                []int64
		attempts, uncounts []int32
		states, errs, recs []string
		runAts, finished   []*time.Time
		results            []*string
		nows               []time.Time
	)
	for _, j := range jobs {
		ids, attempts, uncounts = append(ids, j.ID), append(attempts, int32(j.Attempt)), append(uncounts, 0)
		states, errs, recs = append(states, "done"), append(errs, ""), append(recs, `{}`)
		runAts, finished, results, nows = append(runAts, nil), append(finished, &now), append(results, nil), append(nows, now)
	}
	plan := explain(t, s, finishSettings, `EXPLAIN (ANALYZE, TIMING OFF) `+sqlFinish,
		ids, attempts, states, runAts, uncounts, results, errs, finished, nows, recs, make([]*string, len(ids)))
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "jobs_lease") || strings.Contains(text, "Function Scan") || strings.Contains(text, "Nested Loop") ||
		strings.Contains(text, "Join") || !strings.Contains(text, "Index Scan using jobs_pkey") {
		t.Errorf("the finish is not one index scan of jobs_pkey (it walks the lease index, or joins):\n%s", text)
	}
	if !strings.Contains(text, "rows="+strconv.Itoa(n)+" loops=1") {
		t.Errorf("the finish did not update %d jobs:\n%s", n, text)
	}
}

// TestFinishGenericPlan: the generic plan of the finish, made once per
// connection, perhaps while the table was empty, reads its jobs with an
// index scan of the primary key (so in id order, the order its row locks
// are taken in): no sequential or bitmap scan, no join, whatever the
// statistics said when it was made.
func TestFinishGenericPlan(t *testing.T) {
	s := openTest(t, Options{})
	if _, err := s.pool.Exec(t.Context(), `ANALYZE jobs`); err != nil { // statistics of an empty table
		t.Fatal(err)
	}
	const execute = `EXPLAIN EXECUTE finish_plan('{1,2}', '{1,1}', '{done,done}', '{NULL,NULL}', '{0,0}', '{NULL,NULL}', '{"",""}',
		'{2026-01-01T00:00:00Z,2026-01-01T00:00:00Z}', '{2026-01-01T00:00:00Z,2026-01-01T00:00:00Z}', '{"{}","{}"}', '{NULL,NULL}')`
	var plan []string
	err := pgx.BeginFunc(t.Context(), s.pool, func(tx pgx.Tx) error {
		for _, set := range finishSettings {
			if _, err := tx.Exec(t.Context(), set); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(t.Context(), `PREPARE finish_plan AS `+sqlFinish); err != nil {
			return err
		}
		rows, err := tx.Query(t.Context(), execute)
		if err != nil {
			return err
		}
		if plan, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		if _, err := tx.Exec(t.Context(), `DEALLOCATE finish_plan`); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	// An index scan of the primary key, which reads (and locks) the jobs in
	// id order; no bitmap scan (heap order), no join, no sequential scan.
	if !strings.Contains(text, "Index Scan using jobs_pkey") || strings.Contains(text, "Bitmap") ||
		strings.Contains(text, "Seq Scan") || strings.Contains(text, "Join") || strings.Contains(text, "Nested Loop") {
		t.Errorf("the generic plan of the finish on an empty table is not an index scan of jobs_pkey:\n%s", text)
	}
}

// explain runs an EXPLAIN statement q after settings in a transaction that
// it rolls back (EXPLAIN ANALYZE runs the statement), and returns the plan.
func explain(t *testing.T, s *Store, settings []string, q string, args ...any) []string {
	t.Helper()
	var plan []string
	err := pgx.BeginFunc(t.Context(), s.pool, func(tx pgx.Tx) error {
		for _, set := range settings {
			if _, err := tx.Exec(t.Context(), set); err != nil {
				return err
			}
		}
		rows, err := tx.Query(t.Context(), q, args...)
		if err != nil {
			return err
		}
		if plan, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("%s: %v", q, err)
	}
	return plan
}

// errRollback ends a transaction a test only looked into.
var errRollback = errors.New("rollback")

// TestRunningByKindPlan checks that a claim of a kind with a global
// maximum counts the kind's running jobs through the index of running jobs.
func TestRunningByKindPlan(t *testing.T) {
	s := openTest(t, Options{})
	plan := explain(t, s, []string{`SET LOCAL enable_seqscan = off`}, `EXPLAIN `+sqlRunningByKind, []string{"k"})
	if !strings.Contains(strings.Join(plan, "\n"), "jobs_lease") {
		t.Errorf("the count of running jobs does not use jobs_lease:\n%s", strings.Join(plan, "\n"))
	}
}

func TestInsertGivesUpWithItsCaller(t *testing.T) {
	s := openTest(t, Options{})
	// Another transaction holds the table: the group's insert waits.
	tx, err := s.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if _, err := tx.Exec(t.Context(), `LOCK TABLE jobs IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	returned := make(chan error, 1)
	go func() {
		_, err := s.Insert(ctx, time.Now(), []store.InsertParams{{Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 1}})
		returned <- err
	}()
	select {
	case err := <-returned:
		if err == nil {
			t.Fatal("Insert succeeded while the table was locked")
		}
	case <-time.After(waitTimeout):
		t.Fatal("Insert did not return after its context ended")
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	insertOne(t, s, store.InsertParams{Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 1})
}

func TestClaimersAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url, "rota_test_")
	stores := make([]*Store, 3)
	for i := range stores {
		stores[i] = openSchema(t, url, schema, Options{})
	}
	if err := stores[0].Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	const jobs = 600
	ps := make([]store.InsertParams, jobs)
	for i := range ps {
		ps[i] = store.InsertParams{Kind: []string{"a", "b"}[i%2], Queue: "q", Args: json.RawMessage(`{}`), Priority: i % 7, MaxAttempts: 1}
	}
	if _, err := stores[0].Insert(t.Context(), time.Now(), ps); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = make(map[int64]int)
		wg   sync.WaitGroup
	)
	for i := range 6 {
		s := stores[i%len(stores)]
		wg.Go(func() {
			now := time.Now()
			cp := store.ClaimParams{Queue: "q", Node: "node-" + strconv.Itoa(i), Limit: 7, Now: now, LeaseUntil: now.Add(time.Minute)}
			if i%2 == 1 { // half of the claimers with kind caps
				cp.Kinds = []store.KindLimit{{Kind: "a", Max: 3}, {Kind: "b", Max: 100}}
			}
			for {
				claimRes, err := s.Claim(t.Context(), cp)
				got := claimRes.Jobs
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, j := range got {
					seen[j.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %d claimed %d times", id, n)
		}
	}
	if len(seen) != jobs {
		t.Errorf("claimed %d distinct jobs of %d", len(seen), jobs)
	}
}

// An insert whose rows PostgreSQL rejects fails alone: the other inserts
// committed in the same group are not failed with it.
func TestInsertGroupFailureStaysWithItsOp(t *testing.T) {
	s := openTest(t, Options{})
	now := store.Micro(time.Now())
	maxSize := 10
	if _, err := s.UpdateQueue(t.Context(), store.QueueUpdate{Name: "capped", MaxSize: &maxSize, Now: now}); err != nil {
		t.Fatal(err)
	}
	for _, queue := range []string{"q", "capped"} { // the one-statement path and the transaction path
		op := func(args string) *insertOp {
			p := store.InsertParams{Kind: "k", Queue: queue, Args: json.RawMessage(args), Priority: 1, MaxAttempts: 1}
			state, runAt := store.InitialState(false, time.Time{}, now)
			return &insertOp{ctx: t.Context(), done: make(chan struct{}), now: now,
				rows:    []insertRow{{p: p, args: nullJSON(p.Args), metadata: "{}", state: state, runAt: runAt}},
				results: make([]store.InsertResult, 1)}
		}
		// jsonb has no place for a NUL character: PostgreSQL rejects these args.
		good1, bad, good2 := op(`{"n":1}`), op(`{"s":"\u0000"}`), op(`{"n":2}`)
		s.runGroup([]*insertOp{good1, bad, good2})
		if bad.err == nil {
			t.Fatalf("%s: the insert of args with \\u0000 succeeded", queue)
		}
		for i, o := range []*insertOp{good1, good2} {
			if o.err != nil {
				t.Errorf("%s: insert %d failed with another insert of its group: %v", queue, i, o.err)
				continue
			}
			if j, err := s.Get(t.Context(), o.results[0].Job.ID); err != nil || j.Queue != queue {
				t.Errorf("%s: insert %d: %+v, %v", queue, i, j, err)
			}
		}
	}
}

// A cancel that commits while a rescue runs is not lost: a job whose abort
// was requested is rescued to aborted, never put back to queued. (The
// rescue used to decide the new state from the statement's snapshot,
// older than the row it locked.)
func TestRescueKeepsConcurrentCancel(t *testing.T) {
	s := openTest(t, Options{})
	const n = 400
	base := store.Micro(time.Now())
	for round := range 5 {
		ps := make([]store.InsertParams, n)
		for i := range ps {
			ps[i] = store.InsertParams{Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 5}
		}
		if _, err := s.Insert(t.Context(), base, ps); err != nil {
			t.Fatal(err)
		}
		claimRes, err := s.Claim(t.Context(), store.ClaimParams{Queue: "q", Node: "n", Limit: n, Now: base,
			LeaseUntil: base.Add(time.Second)})
		jobs := claimRes.Jobs
		if err != nil || len(jobs) != n {
			t.Fatalf("claimed %d jobs, %v", len(jobs), err)
		}
		now := base.Add(time.Minute)
		var wg sync.WaitGroup
		cancelled := make([]bool, n)
		wg.Go(func() {
			for i := n - 1; i >= 0; i-- { // against the rescue's order
				tr, err := s.Cancel(t.Context(), store.CancelParams{ID: jobs[i].ID, Reason: "stop", Now: now})
				if err == nil && tr.From == store.StateRunning {
					cancelled[i] = true
				}
			}
		})
		wg.Go(func() {
			for range 3 {
				if _, err := s.Rescue(t.Context(), now, 0); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Wait()
		if _, err := s.Rescue(t.Context(), now, 0); err != nil {
			t.Fatal(err)
		}
		for i, j := range jobs {
			if !cancelled[i] {
				continue
			}
			g, err := s.Get(t.Context(), j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if g.State != store.StateAborted {
				t.Errorf("round %d: job %d: abort requested while running, then rescued to %s", round, j.ID, g.State)
			}
		}
	}
}

// A node's lease extension and its finishes run at once on the same jobs,
// each listing them in its own order: they must not deadlock (PostgreSQL
// would fail one of them).
func TestExtendAndFinishDoNotDeadlock(t *testing.T) {
	s := openTest(t, Options{})
	const n = 200
	now := store.Micro(time.Now())
	for round := range 10 {
		ps := make([]store.InsertParams, n)
		for i := range ps {
			ps[i] = store.InsertParams{Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 5}
		}
		if _, err := s.Insert(t.Context(), now, ps); err != nil {
			t.Fatal(err)
		}
		claimRes, err := s.Claim(t.Context(), store.ClaimParams{Queue: "q", Node: "n", Limit: n, Now: now,
			LeaseUntil: now.Add(time.Minute)})
		jobs := claimRes.Jobs
		if err != nil || len(jobs) != n {
			t.Fatalf("claimed %d jobs, %v", len(jobs), err)
		}
		refs := make([]store.JobRef, n)
		fs := make([]store.FinishParams, n)
		for i, j := range jobs {
			refs[i] = store.JobRef{ID: j.ID, Attempt: j.Attempt}
			k := jobs[n-1-i] // the other order
			fs[i] = store.FinishParams{ID: k.ID, Attempt: k.Attempt, State: store.StateDone, Now: now,
				Record: store.Attempt{Outcome: store.OutcomeDone}}
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for range 5 {
				if _, err := s.ExtendLeases(t.Context(), "n", refs, now.Add(2*time.Minute)); err != nil {
					t.Errorf("round %d: ExtendLeases: %v", round, err)
				}
			}
		})
		wg.Go(func() {
			if _, err := s.Finish(t.Context(), fs); err != nil {
				t.Errorf("round %d: Finish: %v", round, err)
			}
		})
		wg.Wait()
	}
}

// TestFinishRoundsLockInIDOrder: a finish call that names a job twice
// (two rounds, the first with a stale attempt that changes nothing) locks
// its jobs in id order before any round, as a lease extension does: while
// the lower job is held by another transaction, the finish waits for it
// holding no lock on the higher one (which a lease extension locking both
// in id order would wait for: a deadlock).
func TestFinishRoundsLockInIDOrder(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()
	now := store.Micro(time.Now())
	ps := []store.InsertParams{{Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 5}, {Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 5}}
	if _, err := s.Insert(ctx, now, ps); err != nil {
		t.Fatal(err)
	}
	res, err := s.Claim(ctx, store.ClaimParams{Queue: "q", Node: "n", Limit: 2, Now: now, LeaseUntil: now.Add(time.Minute)})
	if err != nil || len(res.Jobs) != 2 {
		t.Fatalf("claimed %d, %v", len(res.Jobs), err)
	}
	low, high := res.Jobs[0], res.Jobs[1]
	if low.ID > high.ID {
		low, high = high, low
	}
	holder, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(context.Background())
	var holderPID int
	if err := holder.QueryRow(ctx, `SELECT pg_backend_pid() FROM jobs WHERE id = $1 FOR UPDATE`, low.ID).Scan(&holderPID); err != nil {
		t.Fatal(err)
	}
	done := func(j *store.Job, attempt int) store.FinishParams {
		return store.FinishParams{ID: j.ID, Attempt: attempt, State: store.StateDone, Now: now, Record: store.Attempt{Outcome: store.OutcomeDone}}
	}
	finished := make(chan []store.State, 1)
	go func() {
		states, err := s.Finish(context.Background(), []store.FinishParams{done(low, low.Attempt+7), done(high, high.Attempt), done(low, low.Attempt)})
		if err != nil {
			t.Errorf("Finish: %v", err)
		}
		finished <- states
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, holderPID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break // the finish waits for the held job
		}
		if time.Now().After(deadline) {
			t.Fatal("the finish never waited for the held job")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The higher job is not locked: a lock that does not wait gets it.
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT id FROM jobs WHERE id = $1 FOR UPDATE NOWAIT`, high.ID)
		return err
	})
	if err != nil {
		t.Errorf("the finish holds job %d while it waits for job %d: %v", high.ID, low.ID, err)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if states := <-finished; !slices.Equal(states, []store.State{"", store.StateDone, store.StateDone}) {
		t.Errorf("states %q, want the stale finish not applied and both jobs done", states)
	}
}

// Subscribe returns after ListenTimeout when the listener is not listening
// yet: notifications sent before it listens are missed, so a NoticeChanged
// follows once it listens (as Subscribe's doc says).
func TestSubscribeBeforeListeningGetsChanged(t *testing.T) {
	s := openTest(t, Options{ListenTimeout: time.Nanosecond})
	ch := s.Subscribe(t.Context())
	select {
	case <-s.listener.ready:
		t.Skip("the listener listened within a nanosecond")
	default:
	}
	waitNotice(t, ch, func(n store.Notice) bool { return n.Type == store.NoticeChanged })
}
