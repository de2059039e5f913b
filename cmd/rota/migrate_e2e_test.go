package main

import (
	"database/sql"
	"strings"
	"testing"
)

// TestNewerSchemaIsReported: a store migrated by a newer rota (a schema
// version this binary does not know) is reported by migrate and warned
// about by every command, instead of "at version 7 of 6" and silence.
func TestNewerSchemaIsReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if out := e.ok("migrate"); !strings.HasPrefix(out, "sqlite schema at version ") || strings.Contains(out, "newer") {
		t.Fatalf("migrate of a fresh store: %q", out)
	}
	db, err := sql.Open("sqlite", e.db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_from_the_future', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("migrate"); !strings.Contains(out, "schema at version 9999, newer than this rota knows") {
		t.Errorf("migrate: %q", out)
	}
	_, errOut, code := e.cli("jobs", "ls")
	if code != 0 || !strings.Contains(errOut, "the store's schema is newer than this rota knows") || !strings.Contains(errOut, "schema_version=9999") {
		t.Errorf("jobs ls on a newer schema: exit %d, stderr %q", code, errOut)
	}
}
