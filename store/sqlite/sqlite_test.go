package sqlite

import (
	"log/slog"
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
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, Options{}) })
}
