// Package pgtest gives tests a PostgreSQL database: the URL in
// ROTA_TEST_DATABASE_URL (the test is skipped without it, or fails when
// ROTA_TEST_REQUIRE_SERVICES=1, as in .ci/run), and fresh schemas that are
// dropped when the test ends, so that tests run in parallel on one database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The environment of the tests that need PostgreSQL.
const (
	// EnvDatabaseURL names the test database, like
	// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
	EnvDatabaseURL = "ROTA_TEST_DATABASE_URL"
	// EnvRequireServices=1 turns a missing database into a failure.
	EnvRequireServices = "ROTA_TEST_REQUIRE_SERVICES"
)

// dropTimeout bounds dropping a test's schema.
const dropTimeout = 30 * time.Second

// URL returns the test database URL, or skips the test (fails it when the
// services are required).
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvDatabaseURL)
	if url == "" {
		if os.Getenv(EnvRequireServices) == "1" {
			t.Fatalf("%s is not set and %s=1: PostgreSQL is required", EnvDatabaseURL, EnvRequireServices)
		}
		t.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", EnvDatabaseURL)
	}
	return url
}

// Schema returns a new schema name starting with prefix, dropped with all
// it holds when the test ends (after the cleanups registered later, such
// as closing the stores on it).
func Schema(t testing.TB, url, prefix string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
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
