package server

import (
	"fmt"
	"net/http"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
)

// POST /v1/leases/complete/batch ends many leases done in one request
// (decision 0015): each item is answered on its own, so one stale token
// does not fail the others.

// leaseCompleteBatchRequest is POST /v1/leases/complete/batch.
type leaseCompleteBatchRequest struct {
	Items []leaseCompleteRequest `json:"items"`
}

// leaseCompletedJSON answers one item: the job's id and new state, or the
// error that refused it (the API's error shape, field named items[i].…).
type leaseCompletedJSON struct {
	ID    int64          `json:"id,omitempty"`
	State rota.State     `json:"state,omitempty"`
	Error *apiwire.Error `json:"error,omitempty"`
}

type leaseCompleteBatchResponse struct {
	Results []leaseCompletedJSON `json:"results"`
}

// completeLeases is POST /v1/leases/complete/batch.
func (s *Server) completeLeases(w http.ResponseWriter, r *http.Request) error {
	var req leaseCompleteBatchRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	switch {
	case len(req.Items) == 0:
		return invalid("items", "required: at least one lease to complete")
	case len(req.Items) > rota.MaxLeaseCompletions:
		return invalid("items", "%d items; at most %d at once", len(req.Items), rota.MaxLeaseCompletions)
	}
	items := make([]rota.LeaseCompletion, len(req.Items))
	for i, it := range req.Items {
		items[i].Token = it.Token
		if !absent(it.Result) {
			items[i].Result = it.Result
		}
	}
	done, err := s.client.CompleteLeases(r.Context(), items)
	if err != nil {
		return err
	}
	resp := leaseCompleteBatchResponse{Results: make([]leaseCompletedJSON, len(done))}
	for i, d := range done {
		resp.Results[i] = leaseCompletedJSON{ID: d.ID, State: d.State}
		if d.Err != nil {
			resp.Results[i].State = ""
			resp.Results[i].Error = toAPIError(d.Err, fmt.Sprintf("items[%d].", i)).wire()
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
