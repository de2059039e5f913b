package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/storetest"
)

// Environment of the tests that need PostgreSQL.
const (
	envDatabaseURL     = "ROTA_TEST_DATABASE_URL"
	envRequireServices = "ROTA_TEST_REQUIRE_SERVICES"
)

// testMaxConns keeps each test store's pool small: the tests run in
// parallel on one server.
const testMaxConns = 4

// testURL returns the test database URL, or skips the test (fails it when
// the services are required).
func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(envDatabaseURL)
	if url == "" {
		if os.Getenv(envRequireServices) == "1" {
			t.Fatalf("%s is not set and %s=1: PostgreSQL is required", envDatabaseURL, envRequireServices)
		}
		t.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", envDatabaseURL)
	}
	return url
}

// testLogger discards the driver's logs.
func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// freshSchema returns a random schema name, dropped when the test ends.
func freshSchema(t testing.TB, url string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "rota_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

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
	url := testURL(t)
	s := openSchema(t, url, freshSchema(t, url), opts)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, Options{})
	})
}

func TestConformanceShared(t *testing.T) {
	url := testURL(t)
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		schema := freshSchema(t, url)
		a, b := openSchema(t, url, schema, Options{}), openSchema(t, url, schema, Options{})
		if err := a.Migrate(context.Background()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return a, b
	})
}
