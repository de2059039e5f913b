package apiwire

// ErrorBody is the body of every error answer:
// {"error": {"code", "message", "field"}}.
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
}
