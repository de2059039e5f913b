// Package rota is a durable job scheduler and worker system.
//
// A Client enqueues jobs into a store (embedded SQLite by default, PostgreSQL
// for clusters) and, once started, runs them with registered workers:
//
//	st, _ := sqlite.Open("rota.db", sqlite.Options{})
//	client, _ := rota.New(st, rota.Options{})
//	client.Register("email.send", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
//		return send(ctx, job.Args)
//	}))
//	client.Start(ctx)
//	client.Enqueue(ctx, "email.send", map[string]any{"to": "a@example.org"}, rota.Delay(time.Hour))
//
// What a worker returns decides the job's outcome: nil is done, RetryAfter
// and Snooze put it back for later without counting a failure, Cancel aborts
// it, Fail ends it in error at once, and any other error or a panic is
// retried with backoff until its attempts are used up. See docs/guide.md.
package rota
