package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
)

// Error codes of the API's error body.
const (
	CodeInvalid          = "invalid"             // 400: a field or parameter has a bad value, type or name
	CodeMalformedJSON    = "malformed_json"      // 400: the body is not JSON
	CodeUnauthorized     = "unauthorized"        // 401: no token, or an unknown one
	CodeForbidden        = "forbidden"           // 403: the token's role is too low
	CodeNotFound         = "not_found"           // 404
	CodeMethodNotAllowed = "method_not_allowed"  // 405
	CodeConflict         = "conflict"            // 409: the job's state does not allow it
	CodeDuplicate        = "duplicate"           // 409: an active job has the key (policy reject)
	CodeLeaseLost        = "lease_lost"          // 409: the lease token's attempt has ended, or it was never issued
	CodeTooLarge         = "too_large"           // 413: the body is over the limit
	CodeQueueFull        = "queue_full"          // 429: the queue is at its maximum size
	CodeTooManyLongPolls = "too_many_long_polls" // 429: every long-poll slot is taken
	CodeUnavailable      = "unavailable"         // 503: shutting down, or the store cannot be reached
	CodeInternal         = "internal"            // 500: a bug or a store failure; logged
)

// apiError is an error as the API reports it: its body (wire) with the
// HTTP status.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
	// Existing is the active job of a refused duplicate key.
	Existing *apiwire.ExistingJob
	err      error // the cause, logged for 5xx
}

func (e *apiError) Error() string { return e.Message }
func (e *apiError) Unwrap() error { return e.err }

// wire is e as the error body shows it.
func (e *apiError) wire() *apiwire.Error {
	return &apiwire.Error{Code: e.Code, Message: e.Message, Field: e.Field, Existing: e.Existing}
}

// invalid is a 400 naming field.
func invalid(field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: CodeInvalid, Field: field,
		Message: fmt.Sprintf("invalid %s: %s", orBody(field), fmt.Sprintf(format, args...))}
}

func orBody(field string) string {
	if field == "" {
		return "body"
	}
	return field
}

// toAPIError maps err to its API form; prefix is put before field names
// (jobs[3]. for an item of a batch).
func toAPIError(err error, prefix string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var me *methodError
	if errors.As(err, &me) {
		return &apiError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: fmt.Sprintf("method %s not allowed here; allowed: %s", me.method, strings.Join(me.allow, ", "))}
	}
	var ie *rota.IndexError
	if errors.As(err, &ie) {
		prefix = fmt.Sprintf("%sjobs[%d].", prefix, ie.Index)
	}
	var fe *rota.FieldError
	var mbe *http.MaxBytesError
	msg := strings.TrimPrefix(err.Error(), "rota: ")
	switch {
	case errors.As(err, &fe):
		field := prefix + fe.Field
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalid, Field: field,
			Message: fmt.Sprintf("invalid %s: %s", field, fe.Reason), err: err}
	case errors.As(err, &mbe):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("the request body is over the limit of %d bytes", mbe.Limit), err: err}
	case errors.Is(err, rota.ErrQueueFull):
		var qf *rota.QueueFullError
		if errors.As(err, &qf) { // its reason alone, not the store's call chain
			msg = qf.Reason()
		}
		return &apiError{Status: http.StatusTooManyRequests, Code: CodeQueueFull, Field: prefix + "queue", Message: msg, err: err}
	case errors.Is(err, rota.ErrDuplicate):
		ae := &apiError{Status: http.StatusConflict, Code: CodeDuplicate, Field: prefix + "key", Message: msg, err: err}
		var de *rota.DuplicateKeyError
		if errors.As(err, &de) { // its reason alone, not the store's call chain
			ae.Message = de.Reason() + " (on_conflict reject)"
			ae.Existing = &apiwire.ExistingJob{ID: de.Existing, Kind: de.Kind, Key: de.Key}
		}
		return ae
	case errors.Is(err, rota.ErrLeaseLost):
		return &apiError{Status: http.StatusConflict, Code: CodeLeaseLost, Field: prefix + "token", Message: msg, err: err}
	case errors.Is(err, rota.ErrConflict):
		return &apiError{Status: http.StatusConflict, Code: CodeConflict, Message: msg, err: err}
	case errors.Is(err, rota.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: msg, err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the request was cancelled or timed out", err: err}
	}
	return &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", err: err}
}

// writeError writes err as the API's error body and logs server-side
// failures.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err, "")
	if ae.Status >= 500 && ae.Status != http.StatusServiceUnavailable {
		s.log.Error("rota http: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var me *methodError
	if errors.As(err, &me) {
		w.Header().Set("Allow", strings.Join(me.allow, ", "))
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rota"`)
	}
	writeJSON(w, ae.Status, apiwire.ErrorBody{Error: ae.wire()})
}

// writeJSON writes v with status. v is encoded before the status is sent,
// so a value that cannot be encoded is a 500 with the API's error body,
// not a success with an empty body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		buf.Reset()
		status = http.StatusInternalServerError
		_ = json.NewEncoder(&buf).Encode(apiwire.ErrorBody{Error: &apiwire.Error{Code: CodeInternal,
			Message: "the answer could not be encoded: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client went away; nothing to do
}
