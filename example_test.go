package rota_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store/postgres"
	"github.com/rotahq/rota/store/sqlite"
)

// exampleClient opens a throw-away SQLite store and a client on it.
func exampleClient() (client *rota.Client, cleanup func()) {
	dir, err := os.MkdirTemp("", "rota-example")
	if err != nil {
		panic(err)
	}
	st, err := sqlite.Open(filepath.Join(dir, "rota.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		panic(err)
	}
	client, err = rota.New(st, rota.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	return client, func() {
		_ = client.Stop(context.Background())
		_ = st.Close()
		_ = os.RemoveAll(dir)
	}
}

// waitFinal blocks until job id reaches a final state and returns it.
func waitFinal(ctx context.Context, client *rota.Client, sub *rota.Subscription, id int64) *rota.Job {
	for e := range sub.C {
		if e.JobID == id && e.To.Final() {
			break
		}
	}
	job, err := client.Get(ctx, id)
	if err != nil {
		panic(err)
	}
	return job
}

// A worker is registered by kind; what it returns decides the outcome.
func Example_worker() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	type email struct {
		To string `json:"to"`
	}
	_ = client.Register("email.send", rota.Typed(func(ctx context.Context, job *rota.Job, args email) error {
		fmt.Println("sending to", args.To)
		return job.SetResult(map[string]bool{"sent": true})
	}))
	sub := client.Subscribe(0, rota.EventFilter{Kinds: []string{"email.send"}})
	_ = client.Start(ctx)

	job, _ := client.Enqueue(ctx, "email.send", email{To: "ada@example.org"})
	job = waitFinal(ctx, client, sub, job.ID)
	fmt.Println(job.State, string(job.Result))
	// Output:
	// sending to ada@example.org
	// done {"sent":true}
}

// RetryAfter puts the job back for later without counting a failed attempt.
func ExampleRetryAfter() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	calls := 0
	_ = client.Register("api.poll", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		calls++
		if calls == 1 {
			return rota.RetryAfter(10 * time.Millisecond) // rate limited: try again soon
		}
		return nil
	}))
	sub := client.Subscribe(0, rota.EventFilter{})
	_ = client.Start(ctx)

	job, _ := client.Enqueue(ctx, "api.poll", nil, rota.MaxAttempts(1))
	job = waitFinal(ctx, client, sub, job.ID)
	for _, a := range job.Attempts {
		fmt.Println("attempt", a.Number, a.Outcome)
	}
	fmt.Println(job.State, "after", job.Attempt, "counted attempt")
	// Output:
	// attempt 1 retry_later
	// attempt 1 done
	// done after 1 counted attempt
}

// Fail ends a job in error at once; other errors are retried with backoff.
func ExampleFail() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	_ = client.Register("doc.parse", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		return rota.Fail(errors.New("not a PDF"))
	}))
	sub := client.Subscribe(0, rota.EventFilter{})
	_ = client.Start(ctx)

	job, _ := client.Enqueue(ctx, "doc.parse", map[string]string{"file": "notes.txt"})
	job = waitFinal(ctx, client, sub, job.ID)
	fmt.Println(job.State, job.Attempt, job.LastError)
	// Output:
	// error 1 not a PDF
}

// A batch is enqueued all together or not at all.
func ExampleClient_Batch() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	tomorrow := time.Now().Add(24 * time.Hour)
	jobs, err := client.Batch(ctx, func(b *rota.Batch) error {
		for _, region := range []string{"eu", "us", "ap"} {
			b.Enqueue("report.build", map[string]string{"region": region}, rota.RunAt(tomorrow))
		}
		return nil
	})
	fmt.Println(len(jobs), err, jobs[0].State)

	_, err = client.Batch(ctx, func(b *rota.Batch) error {
		b.Enqueue("report.build", nil)
		b.Enqueue("report.build", nil, rota.Priority(-5))
		return nil
	})
	fmt.Println(err)
	// Output:
	// 3 <nil> scheduled
	// job 1: invalid priority: -5 is out of range 0..32767
}

// Pop lets code outside the client's workers take jobs and report back.
func ExampleClient_Pop() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	_, _ = client.Enqueue(ctx, "scan.port", map[string]any{"host": "a.example", "port": 22}, rota.Queue("scans"))
	_, _ = client.Enqueue(ctx, "scan.port", map[string]any{"host": "b.example", "port": 443}, rota.Queue("scans"))

	job, _ := client.Pop(ctx, "scans", rota.PopFilter{Args: map[string]any{"port": 443}})
	fmt.Println(string(job.Args), job.State)
	_ = client.Complete(ctx, job, map[string]string{"tls": "1.3"})

	job, _ = client.Get(ctx, job.ID)
	fmt.Println(job.State, string(job.Result))
	// Output:
	// {"host":"b.example","port":443} running
	// done {"tls":"1.3"}
}

// A Go program can bind a kind to an external command.
func ExampleShellCommand() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	// The job arrives as JSON on stdin; the last stdout line is the result.
	_ = client.Register("text.count", rota.ShellCommand(`printf '{"bytes":%d}\n' "$(wc -c)"`))
	sub := client.Subscribe(0, rota.EventFilter{})
	_ = client.Start(ctx)

	job, _ := client.Enqueue(ctx, "text.count", nil)
	job = waitFinal(ctx, client, sub, job.ID)
	fmt.Println(job.State, job.Result != nil)
	// Output:
	// done true
}

// EnqueueTx enqueues inside the application's own transaction: the job
// exists if and only if the order does. PostgreSQL only; this example
// needs a database (DATABASE_URL), so it is compiled but not run.
func ExampleClient_EnqueueTx() {
	ctx := context.Background()
	url := os.Getenv("DATABASE_URL") // postgres://...
	st, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		panic(err)
	}
	client, err := rota.New(st, rota.Options{})
	if err != nil {
		panic(err)
	}

	// The application's own pool and transaction.
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orders (id) VALUES ($1)`, 42); err != nil {
			return err
		}
		// Nodes are woken when the transaction commits; if it rolls back,
		// there is no job.
		_, err := client.EnqueueTx(ctx, tx, "order.confirm", map[string]int{"order": 42},
			rota.Key("order-42", rota.OnConflictReturn))
		return err
	})
	if err != nil {
		panic(err)
	}
}

// A kind's cluster-wide limits hold across every node that shares the
// store: here at most 2 jobs of the kind run at once, and at most 100 start
// per second.
func Example_kindLimits() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	var running, peak atomic.Int64
	_ = client.Register("api.call", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond) // the call
		return nil
	}), rota.KindOptions{
		GlobalMaxWorkers: 2,
		RateLimit:        rota.RateLimit{N: 100, Per: time.Second},
	})
	sub := client.Subscribe(0, rota.EventFilter{})
	_ = client.Start(ctx)

	for range 6 {
		_, _ = client.Enqueue(ctx, "api.call", nil)
	}
	for done := 0; done < 6; {
		if e := <-sub.C; e.To == rota.StateDone {
			done++
		}
	}
	fmt.Println("at most 2 at once:", peak.Load() <= 2)
	// Output:
	// at most 2 at once: true
}
