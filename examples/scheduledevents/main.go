// Command scheduledevents shows InsightCloudSec-style scheduled events: event
// types registered by a unique id in a plugin bundle (load/unload), and a
// tracker that schedules many one-off events at once, all or none.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store/sqlite"
)

// resourceArgs are the arguments of a resource event.
type resourceArgs struct {
	Resource string `json:"resource"`
	Bot      string `json:"bot"`
}

// plugin is a plugin's registry wrapper (ScheduledEventRegistryWrapper).
type plugin struct {
	events *rota.Bundle
	mu     sync.Mutex
	log    []string
}

func newPlugin() *plugin {
	p := &plugin{events: rota.NewBundle()}
	for _, action := range []string{"start", "stop"} {
		p.events.Register("divvy."+action+"_resource", rota.Typed(func(_ context.Context, job *rota.Job, a resourceArgs) error {
			p.mu.Lock()
			p.log = append(p.log, fmt.Sprintf("%s %s (bot %s)", action, a.Resource, a.Bot))
			p.mu.Unlock()
			return nil
		}))
	}
	return p
}

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
	p := newPlugin()
	if err := client.Load(p.events); err != nil { // the plugin's load()
		return err
	}
	fmt.Fprintf(out, "loaded: %v\n", client.Kinds())
	sub := client.Subscribe(0, rota.EventFilter{})
	defer sub.Close()
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.Background())

	// A bot action schedules one event per matching resource, in one tracker.
	when := time.Now().Add(200 * time.Millisecond) // Once(when): in production hours ahead
	jobs, err := client.Batch(ctx, func(b *rota.Batch) error {
		for _, r := range []string{"i-0a1", "i-0b2", "i-0c3"} {
			b.Enqueue("divvy.start_resource", resourceArgs{Resource: r, Bot: "night-shift"}, rota.RunAt(when))
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "scheduled %d events, first is %s\n", len(jobs), jobs[0].State)

	// A tracker with one bad event schedules nothing at all.
	_, err = client.Batch(ctx, func(b *rota.Batch) error {
		b.Enqueue("divvy.stop_resource", resourceArgs{Resource: "i-0a1"}, rota.RunAt(when))
		b.Enqueue("divvy.stop_resource", resourceArgs{Resource: "i-0b2"}, rota.Priority(-5))
		return nil
	})
	var fe *rota.FieldError
	if !errors.As(err, &fe) {
		return fmt.Errorf("want a field error, got %v", err)
	}
	fmt.Fprintf(out, "rejected tracker: %v\n", err)
	stats, err := client.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "stop events stored: %d\n", sumStates(stats.ByKind["divvy.stop_resource"]))

	for n := len(jobs); n > 0; {
		select {
		case ev := <-sub.C:
			if ev.To == rota.StateDone {
				n--
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	onTime := true
	for _, j := range jobs {
		got, err := client.Get(ctx, j.ID)
		if err != nil {
			return err
		}
		onTime = onTime && !got.StartedAt.Before(when.Truncate(time.Microsecond))
	}
	fmt.Fprintf(out, "every event started at or after its time: %v\n", onTime)
	p.mu.Lock()
	sort.Strings(p.log)
	for _, l := range p.log {
		fmt.Fprintln(out, l)
	}
	p.mu.Unlock()
	if err := client.Unload(p.events); err != nil { // the plugin's unload()
		return err
	}
	fmt.Fprintf(out, "after unload: %v\n", client.Kinds())
	return nil
}

func sumStates(m map[rota.State]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func main() {
	dir, err := os.MkdirTemp("", "rota-scheduledevents-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, filepath.Join(dir, "events.db"), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
