// Package remote is a Go client of rota's REST API (rota serve): the
// jobs, queues, nodes, stats and schedules of a rota node reached over
// HTTP, with the same types as the in-process *rota.Client.
//
// Its methods mirror those of *rota.Client (EnqueueParams, List, Get,
// Abort, Retry, CreateSchedule, ...) so code that needs only these can take
// either; the rota CLI does, for its --server mode. Every method takes a
// context first.
//
// Errors the server answers are *Error values that keep the server's
// status, code, field and message. They match the rota package's errors
// with errors.Is (404 is rota.ErrNotFound, a 409 duplicate rota.ErrDuplicate,
// another 409 rota.ErrConflict, a 429 queue_full rota.ErrQueueFull), and an
// invalid field (400 with a field) is a *rota.FieldError for errors.As.
//
// The bearer token given in Options is sent with every request and is
// never part of an error or a log line.
package remote
