// Package server is rota's HTTP API: a REST API under /v1 on top of a
// *rota.Client, with health and readiness probes, Prometheus metrics and an
// OpenAPI 3 document, protected by bearer tokens with roles.
//
// A server wraps a client and serves it:
//
//	srv, err := server.New(client, server.Options{Tokens: tokens, Logger: logger})
//	if err != nil { ... }
//	ln, err := net.Listen("tcp", "127.0.0.1:7700")
//	go srv.Serve(ln)
//	...
//	srv.Shutdown(ctx) // stops accepting, ends long polls, waits for requests
//
// # Routes
//
// Jobs: POST /v1/jobs (enqueue one), POST /v1/jobs/batch (many, all or
// none), GET /v1/jobs (filters and an opaque cursor), GET /v1/jobs/{id}
// (with attempts and result), POST /v1/jobs/{id}/abort, /retry, /release,
// /complete and /fail (the last two end a popped job), DELETE
// /v1/jobs/{id}, and POST /v1/jobs/abort (by kind and key). Queues: GET
// /v1/queues, PATCH /v1/queues/{name}, POST /v1/queues/{name}/pause,
// /resume, /pop (OpenKAT's pop with filters, optionally long-polling) and
// /push. Also GET /v1/stats, /v1/nodes, /v1/kinds, /v1/openapi.json,
// /healthz, /readyz and /metrics. The OpenAPI document at
// /v1/openapi.json describes each; a test keeps it and the routes in step.
//
// # Errors
//
// Every error is {"error": {"code", "message", "field"}} with 400 for bad
// input (field names the offending JSON field or query parameter), 401
// and 403 for auth, 404, 405, 409 for conflicts (a duplicate key with the
// reject policy, a job in the wrong state), 413 for a body over the limit,
// 429 for a full queue or too many long polls, 503 while shutting down.
// A rejected request changes nothing stored.
//
// # Auth
//
// With tokens configured every route but /healthz, /readyz and
// /v1/openapi.json needs "Authorization: Bearer <secret>". Role read may
// GET; write may also enqueue, abort, retry, release, complete, fail, pop,
// push, pause and resume; admin may also delete jobs and change queue
// limits (PATCH). Secrets are compared in constant time and never logged
// (the token's name is). Without tokens the API is open: NeedsTokens tells
// whether a listen address requires them (any address that is not
// loopback).
package server
