package rota_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/rotahq/rota/internal/pgtest"
	"github.com/rotahq/rota/store/postgres"
)

// openPGStores opens n migrated stores on one fresh schema: n nodes of a
// cluster. The test is skipped without a test database (see pgtest).
func openPGStores(t testing.TB, n int) []*postgres.Store {
	t.Helper()
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url, "rota_engine_")
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
