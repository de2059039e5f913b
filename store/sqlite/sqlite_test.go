package sqlite

import (
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/rotahq/rota/store"
	"github.com/rotahq/rota/store/storetest"
)

// TestMain runs the test binary as a helper process when helperEnv is set
// (see multiprocess_test.go).
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}

// testLogger discards the driver's logs.
func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openTest opens a migrated store on a fresh file, closed when the test ends.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "rota.db"), opts)
}

// openPath opens and migrates the store at path, closed when the test ends.
func openPath(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openTest(t, Options{})
		// After each test, before the store closes: the kept counts match.
		t.Cleanup(func() { checkCounts(t, s) })
		return s
	})
}

// checkCounts fails the test unless job_counts matches the jobs table.
func checkCounts(t testing.TB, s *Store) {
	t.Helper()
	read := func(q string) map[string]int64 {
		rows, err := s.rdb.Query(q)
		if err != nil {
			t.Fatalf("counts: %v", err)
		}
		defer rows.Close()
		m := map[string]int64{}
		for rows.Next() {
			var queue, kind, state string
			var n int64
			if err := rows.Scan(&queue, &kind, &state, &n); err != nil {
				t.Fatalf("counts: %v", err)
			}
			m[queue+"/"+kind+"/"+state] = n
		}
		return m
	}
	kept := read(`SELECT queue, kind, state, n FROM job_counts WHERE n <> 0`)
	real := read(`SELECT queue, kind, state, count(*) FROM jobs GROUP BY queue, kind, state`)
	if !maps.Equal(kept, real) {
		t.Errorf("job_counts %v, jobs table %v", kept, real)
	}
}

func TestConformanceShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "rota.db")
		return openPath(t, path, Options{}), openPath(t, path, Options{})
	})
}
