package server

import (
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/pgtest"
	"github.com/rotahq/rota/store/postgres"
)

// TestEventsClusterPostgres: two nodes on one PostgreSQL schema log their
// events into one log, so one node's stream shows both nodes' events, in
// one order of consecutive ids.
func TestEventsClusterPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url, "rota_events_")
	quiet := slog.New(slog.DiscardHandler)
	clients := make([]*rota.Client, 2)
	servers := make([]*Server, 2)
	for i, node := range []string{"n1", "n2"} {
		st, err := postgres.Open(t.Context(), url, postgres.Options{Schema: schema, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if err := st.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if clients[i], err = rota.New(st, rota.Options{NodeID: node, Logger: quiet}); err != nil {
			t.Fatal(err)
		}
		if servers[i], err = New(clients[i], Options{Tokens: testTokens(), Logger: quiet}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(servers[i].Close)
	}
	hs := httptest.NewServer(servers[0].Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(servers[0].Close)
	s, _ := openStream(t, hs.URL, "/v1/events", "")

	want := map[int64]string{} // job id -> node
	for i, c := range []*rota.Client{clients[1], clients[0], clients[1]} {
		j := enqueue(t, c, "t.cluster")
		want[j.ID] = []string{"n2", "n1", "n2"}[i]
	}
	var ids []int64
	for range want {
		d := s.job()
		if node, ok := want[d.JobID]; !ok || node != d.Node {
			t.Fatalf("event %+v: want one of the jobs %v with its node", d, want)
		}
		delete(want, d.JobID)
		ids = append(ids, d.ID)
	}
	if !slices.IsSorted(ids) || ids[len(ids)-1]-ids[0] != int64(len(ids)-1) {
		t.Errorf("event ids %v are not consecutive", ids)
	}
}
