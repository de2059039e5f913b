// Command rankedqueue shows an OpenKAT-style scheduler: scan jobs ranked at
// enqueue by how long ago their target was last scanned (the recency ranker),
// and a consumer that pops the next job of the queue matching a filter.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store/sqlite"
)

// clock is a settable clock, so the example can make history "days ago".
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func run(ctx context.Context, dbPath string, out io.Writer) error {
	st, err := sqlite.Open(dbPath, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := &clock{now: now}
	client, err := rota.New(st, rota.Options{Logger: slog.New(slog.DiscardHandler), Clock: clk})
	if err != nil {
		return err
	}
	// This client never starts workers: scans are consumed with Pop. The kind
	// is registered for its options, the ranker.
	noWorker := rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })
	if err := client.Register("boefje.nmap", noWorker, rota.KindOptions{Ranker: rota.RecencyRanker{}, Queue: "scans"}); err != nil {
		return err
	}
	// History: host-a was scanned 6 days ago, host-b an hour ago.
	for _, h := range []struct {
		host string
		ago  time.Duration
	}{{"host-a", 6 * 24 * time.Hour}, {"host-b", time.Hour}} {
		clk.set(now.Add(-h.ago))
		if _, err := client.Enqueue(ctx, "boefje.nmap", map[string]string{"host": h.host}, rota.Key(h.host, "")); err != nil {
			return err
		}
		job, err := client.Pop(ctx, "scans", rota.PopFilter{})
		if err != nil {
			return err
		}
		if err := client.Complete(ctx, job, map[string]int{"open_ports": 3}); err != nil {
			return err
		}
	}
	clk.set(now)
	// Now the scheduler ranks new scans: never scanned, scanned long ago, recently, and one a user asked for.
	if _, err := client.Batch(ctx, func(b *rota.Batch) error {
		b.Enqueue("boefje.nmap", map[string]string{"host": "host-b"}, rota.Key("host-b", ""), rota.Metadata(map[string]string{"org": "acme"}))
		b.Enqueue("boefje.nmap", map[string]string{"host": "host-a"}, rota.Key("host-a", ""), rota.Metadata(map[string]string{"org": "acme"}))
		b.Enqueue("boefje.nmap", map[string]string{"host": "host-c"}, rota.Key("host-c", ""), rota.Metadata(map[string]string{"org": "acme"}))
		b.Enqueue("boefje.nmap", map[string]string{"host": "host-d"}, rota.Key("host-d", ""), rota.UserRequested(), rota.Metadata(map[string]string{"org": "acme"}))
		b.Enqueue("boefje.nmap", map[string]string{"host": "host-e"}, rota.Key("host-e", ""), rota.Metadata(map[string]string{"org": "other"}))
		return nil
	}); err != nil {
		return err
	}
	// The consumer takes acme's scans, most urgent first.
	for {
		job, err := client.Pop(ctx, "scans", rota.PopFilter{Metadata: map[string]string{"org": "acme"}})
		if errors.Is(err, rota.ErrNotFound) {
			break // nothing of acme's is left
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "pop %s priority %d\n", job.Key, job.Priority)
		if err := client.Complete(ctx, job, nil); err != nil {
			return err
		}
	}
	left, err := client.List(ctx, rota.ListParams{States: []rota.State{rota.StateQueued}})
	if err != nil {
		return err
	}
	for _, j := range left.Jobs {
		fmt.Fprintf(out, "left in queue: %s (org %s)\n", j.Key, j.Metadata["org"])
	}
	return nil
}

func main() {
	dir, err := os.MkdirTemp("", "rota-rankedqueue-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, filepath.Join(dir, "scans.db"), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
