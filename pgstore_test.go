package rota_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store/postgres"
)

// Environment of the tests that need PostgreSQL (as in store/postgres).
const (
	envTestDatabaseURL = "ROTA_TEST_DATABASE_URL"
	envRequireServices = "ROTA_TEST_REQUIRE_SERVICES"
)

// pgURL returns the test database URL, or skips the test (fails it when
// the services are required).
func pgURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(envTestDatabaseURL)
	if url == "" {
		if os.Getenv(envRequireServices) == "1" {
			t.Fatalf("%s is not set and %s=1: PostgreSQL is required", envTestDatabaseURL, envRequireServices)
		}
		t.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://127.0.0.1:5432/test)", envTestDatabaseURL)
	}
	return url
}

// freshPGSchema returns a new schema name, dropped when the test ends
// (after the stores on it are closed: cleanups run last first).
func freshPGSchema(t testing.TB, url string) string {
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

// openPGStores opens n migrated stores on one fresh schema: n nodes of a
// cluster.
func openPGStores(t testing.TB, n int) []*postgres.Store {
	t.Helper()
	url := pgURL(t)
	schema := freshPGSchema(t, url)
	stores := make([]*postgres.Store, n)
	for i := range stores {
		st, err := postgres.Open(context.Background(), url, postgres.Options{
			Schema: schema, MaxConns: 4, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatalf("open PostgreSQL store: %v", err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if err := st.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		stores[i] = st
	}
	return stores
}
