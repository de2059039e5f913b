package rota_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/pgtest"
	"github.com/rotahq/rota/store"
)

// txFixture is a started client on a PostgreSQL store and the user's own
// pool on the same database, with a table of the user's (app.orders) in a
// schema of its own.
type txFixture struct {
	client *rota.Client
	pool   *pgxpool.Pool
	orders string // the user's table, schema-qualified
	ran    chan int64
}

func newTxFixture(t *testing.T) *txFixture {
	t.Helper()
	st := openPGStores(t, 1)[0]
	url := pgtest.URL(t)
	app := pgtest.Schema(t, url, "rota_app_")
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("user pool: %v", err)
	}
	t.Cleanup(pool.Close)
	f := &txFixture{pool: pool, orders: app + ".orders", ran: make(chan int64, 16)}
	if _, err := pool.Exec(t.Context(), `CREATE SCHEMA `+app+`; CREATE TABLE `+f.orders+` (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// The poll is longer than the tests: a job starts only if the commit's
	// notification wakes the node.
	f.client = newClient(t, st, rota.Options{PollInterval: time.Minute})
	must(t, f.client.Register("order.confirm", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		f.ran <- job.ID
		return nil
	})))
	start(t, f.client)
	return f
}

// begin starts a transaction of the user's, rolled back at the end of the
// test if it is still open.
func (f *txFixture) begin(t *testing.T) pgx.Tx {
	t.Helper()
	tx, err := f.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

// order inserts an order row in tx.
func (f *txFixture) order(t *testing.T, tx pgx.Tx, id int) {
	t.Helper()
	if _, err := tx.Exec(t.Context(), `INSERT INTO `+f.orders+` (id) VALUES ($1)`, id); err != nil {
		t.Fatalf("insert order %d: %v", id, err)
	}
}

// orderExists reports whether order id is committed.
func (f *txFixture) orderExists(t *testing.T, id int) bool {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(t.Context(), `SELECT count(*) FROM `+f.orders+` WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// usable fails the test unless tx still runs statements.
func usable(t *testing.T, tx pgx.Tx) {
	t.Helper()
	var one int
	if err := tx.QueryRow(t.Context(), `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatalf("the transaction is not usable: %v", err)
	}
}

// searchPath is tx's search_path.
func searchPath(t *testing.T, tx pgx.Tx) string {
	t.Helper()
	var p string
	if err := tx.QueryRow(t.Context(), `SHOW search_path`).Scan(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnqueueTxCommit(t *testing.T) {
	t.Parallel()
	f := newTxFixture(t)
	tx := f.begin(t)
	path := searchPath(t, tx)
	f.order(t, tx, 1)
	job, err := f.client.EnqueueTx(t.Context(), tx, "order.confirm", map[string]int{"order": 1}, rota.Metadata(map[string]string{"shop": "x"}))
	must(t, err)
	if job.ID == 0 || job.State != rota.StateQueued || job.Queue != store.DefaultQueue || job.Metadata["shop"] != "x" {
		t.Fatalf("EnqueueTx = %+v", job)
	}
	if got := searchPath(t, tx); got != path {
		t.Errorf("search_path after EnqueueTx = %q, want the caller's %q", got, path)
	}
	// Not visible, and not run, before the commit.
	if _, err := f.client.Get(t.Context(), job.ID); !errors.Is(err, rota.ErrNotFound) {
		t.Fatalf("Get before the commit = %v, want ErrNotFound", err)
	}
	select {
	case id := <-f.ran:
		t.Fatalf("job %d ran before the commit", id)
	default:
	}
	committed := time.Now()
	must(t, tx.Commit(t.Context()))
	select {
	case id := <-f.ran:
		if id != job.ID {
			t.Fatalf("ran job %d, want %d", id, job.ID)
		}
		t.Logf("started %s after the commit", time.Since(committed))
	case <-time.After(waitTimeout):
		t.Fatal("the committed job did not start: no wake-up at the commit")
	}
	waitState(t, f.client, job.ID, rota.StateDone)
	if !f.orderExists(t, 1) {
		t.Error("the order committed with the job is missing")
	}
}

func TestEnqueueTxRollback(t *testing.T) {
	t.Parallel()
	f := newTxFixture(t)
	before, err := f.client.Stats(t.Context())
	must(t, err)
	queuesBefore, err := f.client.Queues(t.Context())
	must(t, err)
	tx := f.begin(t)
	f.order(t, tx, 2)
	jobs, err := f.client.BatchTx(t.Context(), tx, func(b *rota.Batch) error {
		b.Enqueue("order.confirm", nil)
		b.Enqueue("order.confirm", nil, rota.Key("order-2", rota.OnConflictReturn), rota.Queue("other"))
		return nil
	})
	must(t, err)
	must(t, tx.Rollback(t.Context()))
	for _, j := range jobs {
		if _, err := f.client.Get(t.Context(), j.ID); !errors.Is(err, rota.ErrNotFound) {
			t.Errorf("job %d after the rollback: %v, want ErrNotFound", j.ID, err)
		}
	}
	if f.orderExists(t, 2) {
		t.Error("the order rolled back with the jobs exists")
	}
	after, err := f.client.Stats(t.Context())
	must(t, err)
	queuesAfter, err := f.client.Queues(t.Context())
	must(t, err)
	if len(after.ByState) != len(before.ByState) || len(queuesAfter) != len(queuesBefore) {
		t.Errorf("the rollback left changes: stats %v → %v, queues %v → %v", before.ByState, after.ByState, queuesBefore, queuesAfter)
	}
	// The key is free: the rolled-back job never held it.
	j, err := f.client.Enqueue(t.Context(), "order.confirm", nil, rota.Key("order-2", rota.OnConflictReject), rota.Queue("other"))
	must(t, err)
	if j.ID == jobs[1].ID {
		t.Errorf("the new job has the rolled-back job's id %d", j.ID)
	}
}

func TestEnqueueTxKeyConflicts(t *testing.T) {
	t.Parallel()
	f := newTxFixture(t)
	ctx := t.Context()
	// Held, so that the node does not run it meanwhile.
	existing, err := f.client.Enqueue(ctx, "order.confirm", map[string]int{"v": 1}, rota.Key("k", rota.OnConflictReturn), rota.Hold())
	must(t, err)
	tx := f.begin(t)

	got, err := f.client.EnqueueTx(ctx, tx, "order.confirm", map[string]int{"v": 2}, rota.Key("k", rota.OnConflictReturn))
	must(t, err)
	if got.ID != existing.ID {
		t.Errorf("return policy: job %d, want the existing %d", got.ID, existing.ID)
	}
	_, err = f.client.EnqueueTx(ctx, tx, "order.confirm", nil, rota.Key("k", rota.OnConflictReject))
	if !errors.Is(err, rota.ErrDuplicate) {
		t.Fatalf("reject policy: %v, want ErrDuplicate", err)
	}
	usable(t, tx)
	got, err = f.client.EnqueueTx(ctx, tx, "order.confirm", map[string]int{"v": 3}, rota.Key("k", rota.OnConflictReplace), rota.Hold())
	must(t, err)
	if got.ID != existing.ID || string(got.Args) != `{"v": 3}` {
		t.Errorf("replace policy: job %d args %s, want job %d args {\"v\": 3}", got.ID, got.Args, existing.ID)
	}
	// Outside the transaction nothing changed yet.
	if j, err := f.client.Get(ctx, existing.ID); err != nil || string(j.Args) != `{"v": 1}` {
		t.Errorf("before the commit: args %s, %v; want the old {\"v\": 1}", j.Args, err)
	}
	// A new key, twice in the transaction: one job.
	a, err := f.client.EnqueueTx(ctx, tx, "order.confirm", nil, rota.Key("new", rota.OnConflictReturn), rota.Hold())
	must(t, err)
	b, err := f.client.EnqueueTx(ctx, tx, "order.confirm", nil, rota.Key("new", rota.OnConflictReturn), rota.Hold())
	must(t, err)
	if a.ID != b.ID {
		t.Errorf("one key twice in the transaction: jobs %d and %d", a.ID, b.ID)
	}
	must(t, tx.Commit(ctx))
	if j, err := f.client.Get(ctx, existing.ID); err != nil || string(j.Args) != `{"v": 3}` {
		t.Errorf("after the commit: args %s, %v; want {\"v\": 3}", j.Args, err)
	}
	if _, err := f.client.Get(ctx, a.ID); err != nil {
		t.Errorf("the new keyed job after the commit: %v", err)
	}
}

func TestEnqueueTxFullQueue(t *testing.T) {
	t.Parallel()
	f := newTxFixture(t)
	ctx := t.Context()
	_, err := f.client.UpdateQueue(ctx, "small", rota.QueueUpdate{MaxSize: ptr(1), UrgentPriority: ptr(5)})
	must(t, err)
	_, err = f.client.Enqueue(ctx, "order.confirm", nil, rota.Queue("small"))
	must(t, err)
	tx := f.begin(t)
	f.order(t, tx, 3)
	_, err = f.client.EnqueueTx(ctx, tx, "order.confirm", nil, rota.Queue("small"))
	if !errors.Is(err, rota.ErrQueueFull) {
		t.Fatalf("EnqueueTx into a full queue: %v, want ErrQueueFull", err)
	}
	usable(t, tx)
	// All or nothing: the batch's first job, in a queue with room, is not
	// kept when the second does not fit.
	_, err = f.client.EnqueueManyTx(ctx, tx, []rota.EnqueueParams{
		{Kind: "order.confirm", Queue: "roomy", Hold: true},
		{Kind: "order.confirm", Queue: "small"},
	})
	if !errors.Is(err, rota.ErrQueueFull) || !strings.Contains(err.Error(), "job 1") {
		t.Fatalf("batch with a job for the full queue: %v, want ErrQueueFull naming job 1", err)
	}
	urgent, err := f.client.EnqueueTx(ctx, tx, "order.confirm", nil, rota.Queue("small"), rota.Priority(5), rota.Hold())
	must(t, err)
	must(t, tx.Commit(ctx))
	if !f.orderExists(t, 3) {
		t.Error("the order of the transaction is missing")
	}
	if _, err := f.client.Get(ctx, urgent.ID); err != nil {
		t.Errorf("the urgent job: %v", err)
	}
	page, err := f.client.List(ctx, rota.ListParams{Queues: []string{"roomy"}})
	must(t, err)
	if len(page.Jobs) != 0 {
		t.Errorf("the failed batch left %d jobs in roomy", len(page.Jobs))
	}
}

func TestEnqueueTxFailedInsertKeepsTxUsable(t *testing.T) {
	t.Parallel()
	f := newTxFixture(t)
	ctx := t.Context()
	tx := f.begin(t)
	f.order(t, tx, 4)
	path := searchPath(t, tx)
	// Valid JSON that PostgreSQL's jsonb refuses: the statement fails in
	// the server.
	_, err := f.client.EnqueueTx(ctx, tx, "order.confirm", []byte(`{"text": "\u0000"}`))
	if err == nil {
		t.Fatal("EnqueueTx of args PostgreSQL refuses succeeded")
	}
	if !strings.Contains(err.Error(), "22P05") || strings.Contains(err.Error(), "unusable") {
		t.Fatalf("error %v: want the server's refusal (22P05), with the transaction intact", err)
	}
	usable(t, tx)
	if got := searchPath(t, tx); got != path {
		t.Errorf("search_path after the failure = %q, want %q", got, path)
	}
	j, err := f.client.EnqueueTx(ctx, tx, "order.confirm", nil)
	must(t, err)
	must(t, tx.Commit(ctx))
	if !f.orderExists(t, 4) {
		t.Error("the order is missing")
	}
	waitState(t, f.client, j.ID, rota.StateDone)
}

func TestEnqueueTxBadInput(t *testing.T) {
	t.Parallel()
	f := newTxFixture(t)
	ctx := t.Context()
	var fe *rota.FieldError
	if _, err := f.client.EnqueueTx(ctx, nil, "order.confirm", nil); !errors.As(err, &fe) || fe.Field != "tx" {
		t.Errorf("nil tx: %v, want a FieldError for tx", err)
	}
	if _, err := f.client.EnqueueTx(ctx, "not a tx", "order.confirm", nil); err == nil || !strings.Contains(err.Error(), "pgx.Tx") {
		t.Errorf("a string as tx: %v, want an error asking for a pgx.Tx", err)
	}
	tx := f.begin(t)
	if _, err := f.client.EnqueueTx(ctx, tx, "order.confirm", nil, rota.Priority(99999)); !errors.As(err, &fe) || fe.Field != "priority" {
		t.Errorf("bad priority: %v, want a FieldError for priority", err)
	}
	_, err := f.client.EnqueueManyTx(ctx, tx, []rota.EnqueueParams{{Kind: "order.confirm"}, {Kind: ""}})
	if !errors.As(err, &fe) || fe.Field != "kind" || !strings.Contains(err.Error(), "job 1") {
		t.Errorf("batch with a bad job: %v, want a FieldError for kind naming job 1", err)
	}
	usable(t, tx)
}

func TestEnqueueTxUnsupportedOnSQLite(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	for _, call := range []func() error{
		func() error { _, err := c.EnqueueTx(t.Context(), struct{}{}, "k", nil); return err },
		func() error {
			_, err := c.EnqueueManyTx(t.Context(), struct{}{}, []rota.EnqueueParams{{Kind: "k"}})
			return err
		},
		func() error {
			_, err := c.BatchTx(t.Context(), struct{}{}, func(b *rota.Batch) error { b.Enqueue("k", nil); return nil })
			return err
		},
	} {
		err := call()
		if !errors.Is(err, rota.ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "sqlite") {
			t.Errorf("EnqueueTx on SQLite: %v, want ErrUnsupported naming sqlite", err)
		}
	}
	if st, err := c.Stats(t.Context()); err != nil || len(st.ByState) != 0 {
		t.Errorf("stats after the refused enqueues: %v, %v", st.ByState, err)
	}
}
