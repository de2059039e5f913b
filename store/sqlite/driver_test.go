package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// waitTimeout bounds waits on conditions in these tests.
const waitTimeout = 10 * time.Second

func testJob(queue string) store.InsertParams {
	return store.InsertParams{Kind: "k", Queue: queue, Args: []byte(`{}`), Priority: store.DefaultPriority, MaxAttempts: 1}
}

// pragma reads a PRAGMA on the write connection, in a transaction that is
// lazy or not.
func pragma(t *testing.T, s *Store, lazy bool, name string) string {
	t.Helper()
	var v string
	fn := func(w *writer) error { return w.queryRow(`PRAGMA ` + name).Scan(&v) }
	var err error
	if lazy {
		err = s.doLazy(t.Context(), false, fn)
	} else {
		err = s.do(t.Context(), false, fn)
	}
	if err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		opts  Options
		field string
	}{
		{Options{Synchronous: "sometimes"}, "Synchronous"},
		{Options{BusyTimeout: -time.Second}, "BusyTimeout"},
		{Options{PollInterval: -time.Second}, "PollInterval"},
	} {
		s, err := Open(filepath.Join(dir, "bad.db"), c.opts)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%+v) succeeded", c.opts)
		}
		if !strings.Contains(err.Error(), c.field) {
			t.Errorf("Open(%+v) = %v; want an error naming %s", c.opts, err, c.field)
		}
	}
	if _, err := Open("", Options{}); err == nil {
		t.Error("Open with an empty path succeeded")
	}

	// FULL: the connection runs NORMAL and the store fsyncs the WAL itself
	// (see walSyncer); NORMAL and OFF are SQLite's own.
	for _, c := range []struct {
		sync        string
		want        string
		syncsItself bool
	}{
		{"", "1", true},
		{"full", "1", true},
		{"normal", "1", false},
		{"OFF", "0", false},
	} {
		s := openTest(t, Options{Synchronous: c.sync, BusyTimeout: 1500 * time.Millisecond})
		for _, lazy := range []bool{false, true} {
			if got := pragma(t, s, lazy, "synchronous"); got != c.want {
				t.Errorf("Synchronous %q (lazy op %v): connection synchronous = %s, want %s", c.sync, lazy, got, c.want)
			}
		}
		if (s.syncer != nil) != c.syncsItself {
			t.Errorf("Synchronous %q: store syncs the WAL itself = %v, want %v", c.sync, s.syncer != nil, c.syncsItself)
		}
		if got := pragma(t, s, false, "busy_timeout"); got != "1500" {
			t.Errorf("busy_timeout = %s, want 1500", got)
		}
	}
	s := openTest(t, Options{})
	if got := pragma(t, s, false, "busy_timeout"); got != "10000" {
		t.Errorf("default busy_timeout = %s, want 10000", got)
	}
	if got := pragma(t, s, false, "foreign_keys"); got != "1" {
		t.Errorf("foreign_keys = %s, want 1", got)
	}
	var mode string
	if err := s.rdb.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if _, err := s.rdb.ExecContext(t.Context(), `DELETE FROM queues`); err == nil {
		t.Error("a read connection could write")
	}
}

// TestWALSync checks the contract of Synchronous FULL: a durable op is
// answered only after an fsync of the WAL that came after its commit; a
// lazy op does not wait for it; a failed fsync is reported to the op.
func TestWALSync(t *testing.T) {
	t.Parallel()
	type call struct {
		name string
		done chan error
	}
	calls := make(chan call, 16)
	s, err := Open(filepath.Join(t.TempDir(), "rota.db"), Options{Logger: testLogger(), datasync: func(f *os.File) error {
		c := call{name: f.Name(), done: make(chan error)}
		calls <- c
		return <-c.done
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// answer lets the next fsync finish with err.
	answer := func(err error) string {
		t.Helper()
		select {
		case c := <-calls:
			c.done <- err
			return c.name
		case <-time.After(waitTimeout):
			t.Fatal("no fsync of the WAL")
			return ""
		}
	}
	migrated := make(chan error, 1)
	go func() { migrated <- s.Migrate(context.Background()) }()
	if name := answer(nil); !strings.HasSuffix(name, "rota.db-wal") {
		t.Errorf("fsync of %s, want the WAL file", name)
	}
	if err := <-migrated; err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	inserted := make(chan error, 1)
	go func() {
		_, err := s.Insert(context.Background(), now, []store.InsertParams{{Kind: "k", Queue: "q", Args: []byte(`{}`), MaxAttempts: 1}})
		inserted <- err
	}()
	var pending call
	select {
	case pending = <-calls: // committed, fsync in progress
	case <-time.After(waitTimeout):
		t.Fatal("the insert did not reach the fsync")
	}
	select {
	case err := <-inserted:
		t.Fatalf("the insert was answered (%v) before its fsync ended", err)
	default:
	}
	// The writer is not held by the fsync: a claim (lazy) commits and is
	// answered meanwhile, and sees the committed job.
	claimRes, err := s.Claim(context.Background(), store.ClaimParams{Queue: "q", Node: "n", Limit: 1, Now: now, LeaseUntil: now.Add(time.Minute)})
	jobs := claimRes.Jobs
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim during the fsync: %d jobs, %v", len(jobs), err)
	}
	pending.done <- nil
	if err := <-inserted; err != nil {
		t.Fatalf("insert: %v", err)
	}

	// A failed fsync fails the op with an error that says so.
	finished := make(chan error, 1)
	go func() {
		_, err := s.Finish(context.Background(), []store.FinishParams{{ID: jobs[0].ID, Attempt: 1, State: store.StateDone, Now: now}})
		finished <- err
	}()
	answer(errors.New("disk on fire"))
	if err := <-finished; err == nil || !strings.Contains(err.Error(), "fsync of the WAL failed") || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("finish with a failing fsync: %v", err)
	}
	// The next durable op syncs again (the file is reopened).
	go func() {
		_, err := s.UpdateQueue(context.Background(), store.QueueUpdate{Name: "q", Now: now})
		finished <- err
	}()
	answer(nil)
	if err := <-finished; err != nil {
		t.Fatalf("update queue: %v", err)
	}
}

// awaitQueued waits for a queued notice of queue want, failing with
// missing when none comes within waitTimeout, or when a queued notice of
// queue early comes first ("" for none).
func awaitQueued(t *testing.T, notes <-chan store.Notice, want, early, missing string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case n := <-notes:
			if n.Type != store.NoticeQueued {
				continue
			}
			if early != "" && n.Queue == early {
				t.Fatalf("the queued notice of %s came before that of %s", early, want)
			}
			if n.Queue == want {
				return
			}
		case <-deadline:
			t.Fatal(missing)
		}
	}
}

// TestCommitHookBeforeSync: with Synchronous FULL an insert's commit hook
// and its notices come at the commit, while the WAL's fsync is still
// running, and the insert is answered only after the fsync; an insert
// refused before its commit never calls the hook.
func TestCommitHookBeforeSync(t *testing.T) {
	t.Parallel()
	syncs := make(chan chan error, 16)
	var holding atomic.Bool
	s, err := Open(filepath.Join(t.TempDir(), "rota.db"), Options{Logger: testLogger(), datasync: func(*os.File) error {
		if !holding.Load() {
			return nil
		}
		done := make(chan error)
		syncs <- done
		return <-done
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	notes := s.Subscribe(t.Context())
	holding.Store(true)
	now := time.Now()
	params := []store.InsertParams{{Kind: "k", Queue: "q", Key: "a", Args: []byte(`{}`), MaxAttempts: 1, OnConflict: store.OnConflictReject}}
	hooked := make(chan []store.InsertResult, 2)
	type answer struct {
		res []store.InsertResult
		err error
	}
	inserted := make(chan answer, 1)
	go func() {
		res, err := s.InsertHooked(context.Background(), now, params, func(res []store.InsertResult) { hooked <- res })
		inserted <- answer{res, err}
	}()
	var sync chan error
	select {
	case sync = <-syncs: // committed, the fsync held
	case <-time.After(waitTimeout):
		t.Fatal("the insert did not reach the fsync")
	}
	// A failing check must not leave the fsync held (Close would wait).
	t.Cleanup(func() {
		holding.Store(false)
		select {
		case sync <- nil:
		default:
		}
	})
	select {
	case res := <-hooked:
		if len(res) != 1 || res[0].Job == nil || res[0].Job.State != store.StateQueued {
			t.Fatalf("the hook got %+v, want the queued job", res)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the commit hook was not called while the fsync ran")
	}
	awaitQueued(t, notes, "q", "", "no queued notice while the fsync ran")
	select {
	case a := <-inserted:
		t.Fatalf("the insert was answered (%v) before its fsync ended", a.err)
	default:
	}
	sync <- nil
	a := <-inserted
	if a.err != nil || len(a.res) != 1 || a.res[0].Job == nil {
		t.Fatalf("insert: %+v, %v", a.res, a.err)
	}

	// A durable op without a hook (a plain Insert into queue p) has its
	// notice published after its fsync: a hooked insert into queue r
	// committed behind it, during that fsync, is announced first.
	plain := make(chan error, 1)
	go func() {
		_, err := s.Insert(context.Background(), now, []store.InsertParams{{Kind: "k", Queue: "p", Args: []byte(`{}`), MaxAttempts: 1}})
		plain <- err
	}()
	select {
	case sync = <-syncs: // p committed, its fsync held
	case <-time.After(waitTimeout):
		t.Fatal("the plain insert did not reach the fsync")
	}
	hookedR := make(chan error, 1)
	go func() {
		_, err := s.InsertHooked(context.Background(), now, []store.InsertParams{{Kind: "k", Queue: "r", Args: []byte(`{}`), MaxAttempts: 1}},
			func([]store.InsertResult) {})
		hookedR <- err
	}()
	awaitQueued(t, notes, "r", "p", "no queued notice of the hooked insert behind the held fsync")
	sync <- nil
	select {
	case sync = <-syncs: // r's own fsync
		sync <- nil
	case <-time.After(waitTimeout):
		t.Fatal("the hooked insert did not reach its fsync")
	}
	if err := errors.Join(<-plain, <-hookedR); err != nil {
		t.Fatal(err)
	}

	// The same key again, refused before any commit: no hook, no fsync.
	holding.Store(false)
	_, err = s.InsertHooked(t.Context(), now, params, func(res []store.InsertResult) { hooked <- res })
	if !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("duplicate insert: %v, want ErrDuplicate", err)
	}
	select {
	case res := <-hooked:
		t.Fatalf("the hook of a refused insert was called with %+v", res)
	default:
	}
}

// blockWriter holds the writer in an op until the returned release is
// called, so that the ops sent meanwhile form one batch.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.do(context.Background(), false, func(*writer) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-errc; err != nil {
			t.Errorf("blocking op: %v", err)
		}
	}
}

// waitQueued waits until n ops wait for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for len(s.ops) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d ops queued, want %d", len(s.ops), n)
		}
		runtime.Gosched()
	}
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := t.Context()
	if _, err := s.UpdateQueue(ctx, store.QueueUpdate{Name: "full", MaxSize: ptr(1), Now: helperBase()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, helperBase(), []store.InsertParams{testJob("full")}); err != nil {
		t.Fatal(err)
	}
	notes := s.Subscribe(ctx)

	release := blockWriter(t, s)
	commits := s.commits.Load()
	type result struct {
		name string
		err  error
	}
	ops := []struct {
		name string
		run  func() error
	}{
		{"insert a", func() error { _, err := s.Insert(ctx, helperBase(), []store.InsertParams{testJob("a")}); return err }},
		{"insert b", func() error { _, err := s.Insert(ctx, helperBase(), []store.InsertParams{testJob("b")}); return err }},
		{"insert full", func() error {
			_, err := s.Insert(ctx, helperBase(), []store.InsertParams{testJob("c"), testJob("full")})
			return err
		}},
		{"cancel unknown", func() error { _, err := s.Cancel(ctx, store.CancelParams{ID: 12345, Now: helperBase()}); return err }},
		{"insert d", func() error { _, err := s.Insert(ctx, helperBase(), []store.InsertParams{testJob("d")}); return err }},
	}
	results := make(chan result, len(ops))
	for i, o := range ops {
		go func() { results <- result{o.name, o.run()} }()
		waitQueued(t, s, i+1) // keep the order
	}
	release()
	got := map[string]error{}
	for range ops {
		r := <-results
		got[r.name] = r.err
	}
	for name, err := range got {
		switch name {
		case "insert full":
			if !errors.Is(err, store.ErrQueueFull) {
				t.Errorf("%s: %v, want ErrQueueFull", name, err)
			}
		case "cancel unknown":
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", name, err)
			}
		default:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	if n := s.commits.Load() - commits; n != 2 {
		t.Errorf("%d commits for the blocking op and one batch, want 2", n)
	}
	counts := queueCounts(t, s)
	want := map[string]int64{"full": 1, "a": 1, "b": 1, "d": 1}
	for q, n := range want {
		if counts[q] != n {
			t.Errorf("queue %s has %d jobs, want %d (all: %v)", q, counts[q], n, counts)
		}
	}
	if counts["c"] != 0 {
		t.Errorf("the failed insert left %d jobs in queue c", counts["c"])
	}
	// One NoticeQueued per queue that got jobs, none for the failed insert.
	seen := map[string]bool{}
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for !seen["a"] || !seen["b"] || !seen["d"] {
		select {
		case n := <-notes:
			if n.Type == store.NoticeQueued {
				seen[n.Queue] = true
			}
		case <-deadline.C:
			t.Fatalf("NoticeQueued for %v only", seen)
		}
	}
	if seen["c"] || seen["full"] {
		t.Errorf("NoticeQueued for the rolled back insert: %v", seen)
	}
}

func TestFailingOpIsRetriedAlone(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := t.Context()
	release := blockWriter(t, s)
	commits := s.commits.Load()
	errs := make(chan error, 4)
	insert := func(q string) { _, err := s.Insert(ctx, helperBase(), []store.InsertParams{testJob(q)}); errs <- err }
	go insert("a")
	waitQueued(t, s, 1)
	// An op that fails with an error that is not a sentinel, after writing.
	badErr := make(chan error, 1)
	go func() {
		badErr <- s.do(ctx, false, func(w *writer) error {
			if _, err := w.exec(`UPDATE queues SET paused = 1`); err != nil {
				return err
			}
			_, err := w.exec(`INSERT INTO no_such_table VALUES (1)`)
			return err
		})
	}()
	waitQueued(t, s, 2)
	go insert("b")
	waitQueued(t, s, 3)
	cancelled, cancel := context.WithCancel(ctx)
	go func() { _, err := s.Insert(cancelled, helperBase(), []store.InsertParams{testJob("c")}); errs <- err }()
	waitQueued(t, s, 4)
	cancel()
	release()

	if err := <-badErr; err == nil || isSentinel(err) {
		t.Errorf("failing op: %v, want its own error", err)
	}
	var ok, canceled int
	for range 3 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, context.Canceled):
			canceled++
		default:
			t.Errorf("insert: %v", err)
		}
	}
	if ok != 2 || canceled != 1 {
		t.Errorf("%d inserts succeeded and %d were cancelled, want 2 and 1", ok, canceled)
	}
	counts := queueCounts(t, s)
	if counts["a"] != 1 || counts["b"] != 1 || counts["c"] != 0 {
		t.Errorf("queue counts %v, want a:1 b:1", counts)
	}
	if n := s.commits.Load() - commits; n != 2 {
		t.Errorf("%d commits, want 2 (the blocking op, then the batch without the failing op)", n)
	}
}

// queueCounts returns the number of jobs per queue.
func queueCounts(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	counts, err := s.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, c := range counts {
		m[c.Queue] += c.N
	}
	return m
}

func TestExternalChangeNotice(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	a := openPath(t, path, Options{PollInterval: 5 * time.Millisecond})
	b := openPath(t, path, Options{})
	ch := a.Subscribe(t.Context())
	res, err := b.Insert(t.Context(), helperBase(), []store.InsertParams{testJob("q")})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for done := false; !done; {
		select {
		case n := <-ch:
			done = n.Type == store.NoticeChanged
		case <-deadline.C:
			t.Fatal("no NoticeChanged after another store wrote")
		}
	}
	if j, err := a.Get(t.Context(), res[0].Job.ID); err != nil || j.Queue != "q" {
		t.Errorf("the other store's job: %v, %v", j, err)
	}
}

func TestSlowSubscriber(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{PollInterval: 5 * time.Millisecond})
	ch := s.Subscribe(t.Context())
	// More commits with notices than the channel holds; nobody reads.
	for range store.DefaultNoticeBuffer + 10 {
		if _, err := s.Insert(t.Context(), helperBase(), []store.InsertParams{testJob("q")}); err != nil {
			t.Fatal(err)
		}
	}
	// The channel holds the first notices; the rest were dropped, so the
	// next notice is a NoticeChanged (sent once there is room again).
	for i := range store.DefaultNoticeBuffer {
		select {
		case n := <-ch:
			if n.Type != store.NoticeQueued {
				t.Fatalf("notice %d: %+v, want NoticeQueued", i, n)
			}
		default:
			t.Fatalf("%d notices buffered, want %d", i, store.DefaultNoticeBuffer)
		}
	}
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	select {
	case n := <-ch:
		if n.Type != store.NoticeChanged {
			t.Errorf("after the overflow: %+v, want NoticeChanged", n)
		}
	case <-deadline.C:
		t.Fatal("no NoticeChanged in place of the dropped notices")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ch := s.Subscribe(t.Context())
	// Writers racing with Close either finish or get ErrClosed; none hangs.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := s.Insert(t.Context(), helperBase(), []store.InsertParams{testJob("q")})
			errs <- err
		})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("insert during Close: %v", err)
		}
	}
	if _, err := s.Insert(t.Context(), helperBase(), []store.InsertParams{testJob("q")}); !errors.Is(err, ErrClosed) {
		t.Errorf("insert after Close: %v, want ErrClosed", err)
	}
	for range ch { // closed by Close
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	const n = 4
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(path, Options{Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	var rows int
	if err := stores[0].rdb.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(stores[0].migrations) {
		t.Errorf("schema_migrations has %d rows, want %d", rows, len(stores[0].migrations))
	}
}

// TestQueryPlans checks that the hot statements use their partial indexes,
// so that their cost does not grow with future-scheduled or finished jobs.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	w := &writer{finishSQLs: map[int]string{}}
	cases := []struct {
		name string
		sql  string
		args int
		want []string
	}{
		{"claim", sqlClaimNext, 7, []string{"USING COVERING INDEX jobs_waiting (queue=? AND state=?)"}},
		{"claim candidates", `SELECT id, kind, priority, run_at FROM jobs WHERE queue = ? AND state = 'queued' AND state IN ` +
			waitingStates + ` AND (priority, run_at, id) > (?, ?, ?) ORDER BY priority, run_at, id LIMIT ?`, 5,
			[]string{"USING INDEX jobs_waiting (queue=? AND state=? AND (priority,run_at"}},
		{"queue size", sqlWaitingCount, 2, []string{"USING COVERING INDEX jobs_waiting (queue=? AND state=?)"}},
		{"finish", w.finishSQL(4), 44, []string{"USING INTEGER PRIMARY KEY"}},
		{"promote", `SELECT id, state FROM jobs WHERE state IN ('scheduled', 'retrying') AND run_at <= ?
			ORDER BY run_at, id LIMIT ?`, 2, []string{"USING INDEX jobs_due (run_at<?)"}},
		{"next run_at", `SELECT min(run_at) FROM jobs WHERE state IN ('scheduled', 'retrying')`, 0, []string{"jobs_due"}},
		{"rescue", `SELECT id FROM jobs WHERE state = 'running' AND lease_until < ? ORDER BY lease_until, id LIMIT ?`, 2,
			[]string{"INDEX jobs_lease (lease_until<?)"}},
		{"active key", sqlActiveByKey, 2, []string{"USING INDEX jobs_active_key (kind=? AND key=?)"}},
		{"last finished", `SELECT max(finished_at) FROM jobs WHERE kind = ? AND key = ? AND key <> '' AND state IN ` + finalStates, 2,
			[]string{"jobs_key_finished"}},
		{"prune", `SELECT id FROM jobs WHERE state IN ` + finalStates + ` AND finished_at < ? ORDER BY finished_at LIMIT ?`, 2,
			[]string{"USING INDEX jobs_finished (finished_at<?)"}},
		// A claim of a kind with a global maximum counts its running jobs
		// among the running ones only.
		{"running by kind", sqlRunningByKind, 1, []string{"SCAN jobs USING INDEX jobs_lease"}},
	}
	for _, c := range cases {
		rows, err := s.rdb.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+c.sql, make([]any, c.args)...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		for _, w := range c.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: plan\n%s\nlacks %q", c.name, all, w)
			}
		}
		// A scan of the partial index of running jobs reads only those:
		// their number is bounded by the nodes' workers.
		if strings.Contains(strings.ReplaceAll(all, "SCAN jobs USING INDEX jobs_lease", ""), "SCAN jobs") {
			t.Errorf("%s: plan scans the table:\n%s", c.name, all)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestZeroCountsKeptUntilPrune: a job_counts row that reaches zero stays
// (the hot path does not delete and re-insert it), is not reported, and
// Prune deletes it.
func TestZeroCountsKeptUntilPrune(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := t.Context()
	now := helperBase()
	res, err := s.Insert(ctx, now, []store.InsertParams{testJob("q")})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := s.Claim(ctx, store.ClaimParams{Queue: "q", Node: "n", Limit: 1, Now: now, LeaseUntil: now.Add(time.Minute)})
	if err != nil || len(claimed.Jobs) != 1 || claimed.Jobs[0].ID != res[0].Job.ID {
		t.Fatalf("claim: %v, %v", claimed.Jobs, err)
	}
	if _, err := s.Finish(ctx, []store.FinishParams{{ID: res[0].Job.ID, Attempt: 1, State: store.StateDone, Now: now}}); err != nil {
		t.Fatal(err)
	}
	zeros := func() []string {
		t.Helper()
		rows, err := s.rdb.QueryContext(ctx, `SELECT state FROM job_counts WHERE n = 0 ORDER BY state`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var states []string
		for rows.Next() {
			var st string
			if err := rows.Scan(&st); err != nil {
				t.Fatal(err)
			}
			states = append(states, st)
		}
		return states
	}
	if got, want := zeros(), []string{"queued", "running"}; !slices.Equal(got, want) {
		t.Errorf("zero rows before prune: %v, want %v", got, want)
	}
	counts, err := s.Counts(ctx)
	if err != nil || len(counts) != 1 || counts[0].State != store.StateDone || counts[0].N != 1 {
		t.Errorf("counts: %+v, %v; want one done job", counts, err)
	}
	// A prune that deletes no job still clears the zero rows.
	if n, err := s.Prune(ctx, store.PruneParams{Before: now.Add(-time.Hour)}); err != nil || n != 0 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if got := zeros(); len(got) != 0 {
		t.Errorf("zero rows after prune: %v", got)
	}
	checkCounts(t, s)
}
