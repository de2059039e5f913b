// Package apiwire declares the JSON bodies of rota's HTTP API that both
// ends read or write: package server encodes the responses and decodes
// the requests with them, and package remote, the Go client of the API,
// does the opposite. Declaring them once keeps the two in step.
//
// The types are the wire format and nothing else: they carry no behaviour
// beyond their JSON tags, and the conversions to and from the rota
// package's types stay with each end (the server words its errors and
// reads durations its own way; the client converts to *rota.Job and the
// like). A body only one end uses (the lease protocol, /v1/kinds, the
// batch enqueue) stays in that end's package.
//
// Conventions of the API:
//   - Times in responses are RFC 3339 with nanoseconds, as time.Time
//     marshals them; a zero time is left out (omitzero).
//   - Durations in responses are strings in Go's syntax ("1m30s"; a
//     kind's retention of whole days as "7d"), which the client reads with
//     internal/duration, days included. Durations in requests are
//     json.RawMessage: the server takes a string in Go's syntax, a leading
//     number of days ("7d"), or a number of seconds (internal/duration's
//     ParseJSON), and names the field when it cannot read one; the client
//     sends a string in Go's syntax.
//   - Request fields carry omitempty so that the client leaves out what it
//     does not set; the server decodes strictly (unknown fields are an
//     error), so a request type must list exactly what the server reads.
//
// Changing a tag here changes the API: the OpenAPI document
// (server/openapi.json), the Python client (clients/python) and the curl
// example depend on these names and shapes.
package apiwire
