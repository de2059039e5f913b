package server

import (
	"context"
	"net/http"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
)

// statsQuery is what GET /v1/stats reads.
func statsQuery() []string { return []string{"hours", "from", "to"} }

// Bounds of the per-hour counts of GET /v1/stats.
const (
	DefaultStatsHours = 24
	MaxStatsHours     = 31 * 24
)

// stats is GET /v1/stats: counts by state, queue and kind, and per hour
// (of the jobs' last change) over the last `hours` hours, or [from, to).
func (s *Server) stats(w http.ResponseWriter, r *http.Request) error {
	q, err := newQuery(r, statsQuery()...)
	if err != nil {
		return err
	}
	hours, err := q.int("hours", DefaultStatsHours, 1, MaxStatsHours)
	if err != nil {
		return err
	}
	from, err := q.time("from")
	if err != nil {
		return err
	}
	to, err := q.time("to")
	if err != nil {
		return err
	}
	if _, given := q.v["hours"]; given && (!from.IsZero() || !to.IsZero()) {
		return invalid("hours", "give hours or from and to, not both")
	}
	now := time.Now().UTC()
	switch {
	case from.IsZero() && to.IsZero():
		to = now.Truncate(time.Hour).Add(time.Hour)
		from = to.Add(-time.Duration(hours) * time.Hour)
	case from.IsZero():
		from = to.Add(-DefaultStatsHours * time.Hour)
	case to.IsZero():
		to = from.Add(DefaultStatsHours * time.Hour)
	}
	if !from.Before(to) {
		return invalid("to", "not after from")
	}
	if to.UTC().Year() > rota.MaxYear {
		field := "to"
		if q.v.Get("to") == "" {
			field = "from" // to was derived from it
		}
		return invalid(field, "the range ends after the year %d in UTC", rota.MaxYear)
	}
	if to.Sub(from) > MaxStatsHours*time.Hour {
		return invalid("to", "the range is over %d hours", MaxStatsHours)
	}
	st, err := s.client.Stats(r.Context())
	if err != nil {
		return err
	}
	hc, err := s.client.CountsByHour(r.Context(), from, to)
	if err != nil {
		return err
	}
	resp := apiwire.Stats{ByState: st.ByState, ByQueue: st.ByQueue, ByKind: st.ByKind,
		From: from.UTC(), To: to.UTC(), PerHour: make([]apiwire.HourCount, len(hc))}
	for i, h := range hc {
		resp.PerHour[i] = apiwire.HourCount{Hour: h.Hour, State: h.State, N: h.N}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// nodes is GET /v1/nodes: the nodes in the store's node registry.
func (s *Server) nodes(w http.ResponseWriter, r *http.Request) error {
	ns, err := s.client.Nodes(r.Context())
	if err != nil {
		return err
	}
	resp := apiwire.NodeList{Nodes: make([]apiwire.Node, len(ns))}
	for i, n := range ns {
		resp.Nodes[i] = toNode(n)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type kindsResponse struct {
	Kinds []kindJSON `json:"kinds"`
}

// kinds is GET /v1/kinds: the kinds this node runs, with their effective
// configuration.
func (s *Server) kinds(w http.ResponseWriter, _ *http.Request) error {
	ks := s.client.Kinds()
	resp := kindsResponse{Kinds: make([]kindJSON, len(ks))}
	for i, k := range ks {
		resp.Kinds[i] = toKind(k, s.client.KindOptionsOf(k))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type statusResponse struct {
	Status string `json:"status"`
}

// healthz is GET /healthz: the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, statusResponse{Status: "ok"})
	return nil
}

// readyz is GET /readyz: the node runs, the server is not shutting down,
// and the store answers with its schema up to date.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	unavailable := func(msg string, err error) error {
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: msg, err: err}
	}
	if s.draining.Load() {
		return unavailable("the server is shutting down", nil)
	}
	if !s.client.ClientStats().Started {
		return unavailable("the node is not running", nil)
	}
	ctx, cancel := context.WithTimeout(r.Context(), DefaultScrapeTimeout)
	defer cancel()
	// The client has no ping; the schema version is the store's cheapest query.
	applied, latest, err := s.client.Store().SchemaVersion(ctx)
	if err != nil {
		s.log.Warn("rota http: readiness: the store does not answer", "err", err)
		return unavailable("the store does not answer", err)
	}
	if applied != latest {
		return unavailable("the store's schema is not up to date", nil)
	}
	writeJSON(w, http.StatusOK, statusResponse{Status: "ready"})
	return nil
}
