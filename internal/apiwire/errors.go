package apiwire

// ErrorBody is the body of every error answer:
// {"error": {"code", "message", "field", "existing"}}.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// Error is an error as the API reports it. The HTTP status goes with it
// in the answer's status line, not in the body.
type Error struct {
	// Code is the kind of error, one of package server's Code constants
	// (invalid, not_found, conflict, duplicate, queue_full, ...).
	Code string `json:"code"`
	// Message says what went wrong, for a person.
	Message string `json:"message"`
	// Field names the JSON field or query parameter at fault, if any.
	Field string `json:"field,omitempty"`
	// Existing names, with code duplicate on an enqueue (on_conflict
	// reject), the active job that has the kind and key.
	Existing *ExistingJob `json:"existing,omitempty"`
}

// ExistingJob is the active job of a kind and key that refused a
// duplicate.
type ExistingJob struct {
	ID   int64  `json:"id"`
	Kind string `json:"kind"`
	Key  string `json:"key"`
}
