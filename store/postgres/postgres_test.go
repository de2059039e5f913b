package postgres

import (
	"context"
	"log/slog"
	"testing"

	"github.com/rotahq/rota/internal/pgtest"
	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/storetest"
)

// testMaxConns keeps each test store's pool small: the tests run in
// parallel on one server.
const testMaxConns = 4

// testLogger discards the driver's logs.
func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openSchema opens a store on schema, closed when the test ends (before the
// schema is dropped).
func openSchema(t testing.TB, url, schema string, opts Options) *Store {
	t.Helper()
	opts.Schema = schema
	if opts.MaxConns == 0 {
		opts.MaxConns = testMaxConns
	}
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openTest opens and migrates a store on a fresh schema.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	url := pgtest.URL(t)
	s := openSchema(t, url, pgtest.Schema(t, url, "rota_test_"), opts)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, Options{})
	})
}

func TestConformanceShared(t *testing.T) {
	url := pgtest.URL(t)
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		schema := pgtest.Schema(t, url, "rota_test_")
		a, b := openSchema(t, url, schema, Options{}), openSchema(t, url, schema, Options{})
		if err := a.Migrate(context.Background()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return a, b
	})
}
