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

// TestMigrationLogs: on a new store, rota migrate and rota serve log each
// migration they apply at INFO; another command (enqueue, bench) logs them
// at DEBUG, so that at the default level its output is all it prints.
func TestMigrationLogs(t *testing.T) {
	t.Parallel()
	const applied = `msg="applied migration"`
	for _, tc := range []struct {
		name  string
		args  []string
		level string // ROTA_LOG_LEVEL
		want  string // the level of the migrations' lines, "" for none
	}{
		{"enqueue", []string{"enqueue", "a.b", "{}"}, "info", ""},
		{"enqueue at debug", []string{"enqueue", "a.b", "{}"}, "debug", "DEBUG"},
		{"migrate", []string{"migrate"}, "info", "INFO"},
		{"migrate at warn", []string{"migrate"}, "warn", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, e *env, _ string) {
				_, errOut, code := e.cli(tc.args...)
				if code != exitOK {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				var lines int
				for line := range strings.Lines(errOut) {
					if !strings.Contains(line, applied) {
						t.Errorf("stderr has a line other than a migration's: %q", line)
						continue
					}
					lines++
					if !strings.Contains(line, "level="+tc.want+" ") {
						t.Errorf("migration logged %q, want at %s", line, tc.want)
					}
				}
				if (lines > 0) != (tc.want != "") {
					t.Errorf("%d migration lines on stderr, want them at %q (\"\" for none):\n%s", lines, tc.want, errOut)
				}
			}, "ROTA_LOG_LEVEL="+tc.level)
		})
	}
	// rota serve migrates a new store at start, and says so at INFO.
	onEachStore(t, func(t *testing.T, e *env, _ string) {
		p := startServe(t, e, "--log-level", "info")
		p.waitLog(t, "a migration at INFO", func(line string) bool {
			return strings.Contains(line, applied) && strings.Contains(line, "level=INFO ")
		})
	})
}
