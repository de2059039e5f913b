package events_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/sqlite"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 15 * time.Second

// quiet discards logs.
var quiet = slog.New(slog.DiscardHandler)

// openSQLite opens a migrated store in a new file.
func openSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "rota.db"), sqlite.Options{Synchronous: "OFF", Logger: quiet})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// node is a started client on st that writes the durable event log and
// runs the handler h for kind "k" (nil: none).
type node struct {
	c   *rota.Client
	log *rota.EventLog
}

func startNode(t testing.TB, c *rota.Client, h rota.WorkFunc) node {
	t.Helper()
	if h != nil {
		if err := c.Register("k", h, rota.KindOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return node{c: c, log: startLogged(t, c)}
}

// startLogged starts c writing its events to the durable event log and
// stops it when the test ends.
func startLogged(t testing.TB, c *rota.Client) *rota.EventLog {
	t.Helper()
	l, err := rota.NewEventLog(c, rota.EventLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		_ = l.Close(ctx)
	})
	return l
}

// newClient makes a client on st.
func newClient(t testing.TB, st store.Store, opts rota.Options) *rota.Client {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	if opts.NodeID == "" {
		opts.NodeID = "n1"
	}
	c, err := rota.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runRelay runs r until the test ends.
func runRelay(t testing.TB, r interface{ Run(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}
