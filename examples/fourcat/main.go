// Command fourcat shows a 4CAT-style worker: a search that asks to be retried
// later when its API is rate limited (INTERRUPT_RETRY, not a failure) and
// cancels itself when the query is forbidden (INTERRUPT_CANCEL). A crash is
// recorded with its location and retried with backoff.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store/sqlite"
)

// searchArgs are a search job's arguments.
type searchArgs struct {
	Query string `json:"query"`
}

// searchWorker is 4CAT's BasicWorker: max_workers 1, work, clean_up.
type searchWorker struct {
	calls    atomic.Int32
	crashes  atomic.Int32
	cleanups atomic.Int32
}

// parseSince stands for a bug in a search's code: its first call panics.
func (w *searchWorker) parseSince(query string) {
	if w.crashes.Add(1) == 1 {
		panic(fmt.Sprintf("cannot parse date in %q", query))
	}
}

// Work implements rota.Worker.
func (w *searchWorker) Work(ctx context.Context, job *rota.Job) error {
	var a searchArgs
	if err := job.Decode(&a); err != nil {
		return rota.Fail(err)
	}
	switch {
	case a.Query == "forbidden":
		return rota.Cancel("query not allowed")
	case a.Query == "busy" && w.calls.Add(1) == 1:
		return rota.RetryAfter(10 * time.Millisecond) // rate limited: release with a delay
	case a.Query == "crash":
		w.parseSince(a.Query) // panics on the first attempt: recorded, retried after the backoff
	}
	return job.SetResult(map[string]any{"query": a.Query, "posts": len(a.Query) * 10})
}

// CleanUp implements rota.CleanUper: it runs after every attempt.
func (w *searchWorker) CleanUp(_ context.Context, _ *rota.Job, _ rota.Outcome) { w.cleanups.Add(1) }

func run(ctx context.Context, dbPath string, out io.Writer) error {
	st, err := sqlite.Open(dbPath, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	client, err := rota.New(st, rota.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	w := &searchWorker{}
	// A crashed search is retried after an exponential backoff with jitter
	// (short here; the default starts at 1 s).
	opts := rota.KindOptions{MaxWorkers: 1, Backoff: rota.ExponentialBackoff(20*time.Millisecond, time.Second, 0.25)}
	if err := client.Register("search", w, opts); err != nil {
		return err
	}
	sub := client.Subscribe(0, rota.EventFilter{})
	defer sub.Close()
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.Background())

	ids := map[string]int64{}
	queries := []string{"elections", "busy", "forbidden", "crash"}
	for _, q := range queries {
		job, err := client.Enqueue(ctx, "search", searchArgs{Query: q})
		if err != nil {
			return err
		}
		ids[q] = job.ID
	}
	if err := waitFinal(ctx, sub, len(ids)); err != nil {
		return err
	}
	for _, q := range queries {
		job, err := client.Get(ctx, ids[q])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%-9s %-7s attempts counted %d, history %d", q, job.State, job.Attempt, len(job.Attempts))
		if len(job.Result) > 0 {
			fmt.Fprintf(out, ", result %s", job.Result)
		}
		if job.LastError != "" {
			fmt.Fprintf(out, ", error %q", job.LastError)
		}
		fmt.Fprintln(out)
		for _, a := range job.Attempts {
			if a.Outcome == rota.OutcomePanic {
				fmt.Fprintf(out, "%-9s attempt %d: %s at %s\n", q, a.Number, a.Error, a.Location)
			}
		}
	}
	fmt.Fprintf(out, "clean_up ran %d times\n", w.cleanups.Load())
	return nil
}

// waitFinal waits until n jobs have reached a final state.
func waitFinal(ctx context.Context, sub *rota.Subscription, n int) error {
	for n > 0 {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				return errors.New("subscription closed")
			}
			if ev.To.Final() {
				n--
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func main() {
	dir, err := os.MkdirTemp("", "rota-fourcat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, filepath.Join(dir, "fourcat.db"), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
