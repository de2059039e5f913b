package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
)

// snapshot is everything stored that a request could change.
func (e *env) snapshot() string {
	e.t.Helper()
	ctx := context.Background()
	page, err := e.client.List(ctx, rota.ListParams{Limit: 10000})
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, j := range page.Jobs {
		full, err := e.client.Get(ctx, j.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		b.WriteString(mustJSON(e.t, toJobDetail(full)))
	}
	st, err := e.client.Stats(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	qs, err := e.client.Queues(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	b.WriteString(mustJSON(e.t, st))
	b.WriteString(mustJSON(e.t, qs))
	// Schedules.
	sp, err := e.client.ListSchedules(ctx, rota.ScheduleListParams{Limit: 10000})
	if err != nil {
		e.t.Fatal(err)
	}
	b.WriteString(mustJSON(e.t, sp))
	return b.String()
}

// TestBadInputChangesNothing sends bad requests, each with the status,
// code and field it must answer, and checks that nothing stored changed.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: Options{Tokens: testTokens(), MaxBodyBytes: 64 << 10}})
	ctx := context.Background()
	w := writeSecret
	var queued, held, popped, done apiwire.Job
	e.ok("POST", "/v1/jobs", w, `{"kind":"t.a","key":"k1","queue":"idle"}`, &queued)
	e.ok("POST", "/v1/jobs", w, `{"kind":"t.a","hold":true,"queue":"idle"}`, &held)
	e.ok("POST", "/v1/jobs", w, `{"kind":"t.pop","queue":"ext"}`, nil)
	e.ok("POST", "/v1/queues/ext/pop", w, "", &popped)
	e.ok("POST", "/v1/jobs", w, `{"kind":"t.pop","queue":"ext"}`, nil)
	e.ok("POST", "/v1/queues/ext/pop", w, "", &done)
	e.ok("POST", fmt.Sprintf("/v1/jobs/%d/complete", done.ID), w, `{"attempt":1}`, nil)
	e.ok("PATCH", "/v1/queues/full", adminSecret, `{"max_size":1}`, nil)
	e.ok("POST", "/v1/jobs", w, `{"kind":"t.a","queue":"full"}`, nil)
	e.ok("POST", "/v1/jobs", w, `{"kind":"t.a","key":"ended","queue":"idle"}`, nil)
	e.ok("POST", "/v1/jobs/abort", w, `{"kind":"t.a","key":"ended"}`, nil)
	if _, err := e.client.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	e.created("POST", "/v1/schedules", w, `{"key":"kept","kind":"t.a","spec":"daily at 02:00"}`)
	e.created("POST", "/v1/schedules", w, `{"key":"off/one","kind":"t.a","spec":"hourly","enabled":false}`)
	qid, hid, pid, did := queued.ID, held.ID, popped.ID, done.ID
	// A live remote lease, a spent one, and a well-formed token nobody issued.
	var live, spent leasesResponse
	e.ok("POST", "/v1/jobs", w, `{"kind":"t.lease","queue":"lq"}`, nil)
	e.ok("POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"lease":"1h"}`, &live)
	e.ok("POST", "/v1/jobs", w, `{"kind":"t.lease","queue":"lq"}`, nil)
	e.ok("POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"]}`, &spent)
	if len(live.Leases) != 1 || len(spent.Leases) != 1 {
		t.Fatalf("leases %+v %+v", live, spent)
	}
	e.ok("POST", "/v1/leases/complete", w, tokenBody(spent.Leases[0].Token, ""), nil)
	liveTok, spentTok := live.Leases[0].Token, spent.Leases[0].Token
	forged := fmt.Sprintf("rl1.%d.%d.30000.%s", live.Leases[0].Job.ID, live.Leases[0].Job.Attempt, strings.Repeat("0", 32))
	big := `{"kind":"t.a","args":"` + strings.Repeat("x", 80<<10) + `"}`
	before := e.snapshot()

	cases := []struct {
		name         string
		method, path string
		secret       string
		body         string
		status       int
		code, field  string
	}{
		// Malformed bodies.
		{"truncated JSON", "POST", "/v1/jobs", w, `{"kind":`, 400, CodeMalformedJSON, ""},
		{"not JSON", "POST", "/v1/jobs", w, `hello`, 400, CodeMalformedJSON, ""},
		{"array body", "POST", "/v1/jobs", w, `[1]`, 400, CodeInvalid, ""},
		{"empty body", "POST", "/v1/jobs", w, ``, 400, CodeMalformedJSON, ""},
		{"two values", "POST", "/v1/jobs", w, `{"kind":"t.a"}{"kind":"t.b"}`, 400, CodeMalformedJSON, ""},
		{"unknown field", "POST", "/v1/jobs", w, `{"kind":"t.a","colour":"red"}`, 400, CodeInvalid, "colour"},
		{"huge body", "POST", "/v1/jobs", w, big, 413, CodeTooLarge, ""},
		// Wrong types.
		{"priority as string", "POST", "/v1/jobs", w, `{"kind":"t.a","priority":"high"}`, 400, CodeInvalid, "priority"},
		{"priority as fraction", "POST", "/v1/jobs", w, `{"kind":"t.a","priority":1.5}`, 400, CodeInvalid, "priority"},
		{"kind as number", "POST", "/v1/jobs", w, `{"kind":7}`, 400, CodeInvalid, "kind"},
		{"metadata value number", "POST", "/v1/jobs", w, `{"kind":"t.a","metadata":{"n":1}}`, 400, CodeInvalid, "metadata"},
		{"hold as string", "POST", "/v1/jobs", w, `{"kind":"t.a","hold":"yes"}`, 400, CodeInvalid, "hold"},
		{"timeout as bool", "POST", "/v1/jobs", w, `{"kind":"t.a","timeout":true}`, 400, CodeInvalid, "timeout"},
		// Bad values.
		{"missing kind", "POST", "/v1/jobs", w, `{}`, 400, CodeInvalid, "kind"},
		{"bad kind", "POST", "/v1/jobs", w, `{"kind":"bad kind!"}`, 400, CodeInvalid, "kind"},
		{"bad queue", "POST", "/v1/jobs", w, `{"kind":"t.a","queue":"no spaces"}`, 400, CodeInvalid, "queue"},
		{"priority out of range", "POST", "/v1/jobs", w, `{"kind":"t.a","priority":99999}`, 400, CodeInvalid, "priority"},
		{"negative priority", "POST", "/v1/jobs", w, `{"kind":"t.a","priority":-1}`, 400, CodeInvalid, "priority"},
		{"negative max attempts", "POST", "/v1/jobs", w, `{"kind":"t.a","max_attempts":-3}`, 400, CodeInvalid, "max_attempts"},
		{"zero max attempts", "POST", "/v1/jobs", w, `{"kind":"t.a","max_attempts":0}`, 400, CodeInvalid, "max_attempts"},
		{"bad run_at", "POST", "/v1/jobs", w, `{"kind":"t.a","run_at":"tomorrow"}`, 400, CodeInvalid, "run_at"},
		{"run_at and delay", "POST", "/v1/jobs", w, `{"kind":"t.a","run_at":"2030-01-01T00:00:00Z","delay":"1h"}`, 400, CodeInvalid, "run_at"},
		{"run_at after the year 9999 in UTC", "POST", "/v1/jobs", w, `{"kind":"t.a","run_at":"9999-12-31T23:59:59-23:00"}`, 400, CodeInvalid, "run_at"},
		{"run_at in the year 10000", "POST", "/v1/jobs", w, `{"kind":"t.a","run_at":"10000-01-01T00:00:00Z"}`, 400, CodeInvalid, "run_at"},
		{"negative delay", "POST", "/v1/jobs", w, `{"kind":"t.a","delay":"-1h"}`, 400, CodeInvalid, "delay"},
		{"bad delay", "POST", "/v1/jobs", w, `{"kind":"t.a","delay":"soon"}`, 400, CodeInvalid, "delay"},
		{"negative timeout", "POST", "/v1/jobs", w, `{"kind":"t.a","timeout":-5}`, 400, CodeInvalid, "timeout"},
		{"timeout out of range", "POST", "/v1/jobs", w, `{"kind":"t.a","timeout":1e300}`, 400, CodeInvalid, "timeout"},
		{"timeout at 2^63 ns", "POST", "/v1/jobs", w, `{"kind":"t.a","timeout":9223372036.854775808}`, 400, CodeInvalid, "timeout"},
		{"delay days out of range", "POST", "/v1/jobs", w, `{"kind":"t.a","delay":"200000d"}`, 400, CodeInvalid, "delay"},
		{"delay seconds as a string", "POST", "/v1/jobs", w, `{"kind":"t.a","delay":"90"}`, 400, CodeInvalid, "delay"},
		{"delay as object", "POST", "/v1/jobs", w, `{"kind":"t.a","delay":{"s":90}}`, 400, CodeInvalid, "delay"},
		{"bad conflict policy", "POST", "/v1/jobs", w, `{"kind":"t.a","key":"k9","on_conflict":"merge"}`, 400, CodeInvalid, "on_conflict"},
		{"policy without key", "POST", "/v1/jobs", w, `{"kind":"t.a","on_conflict":"replace"}`, 400, CodeInvalid, "on_conflict"},
		{"empty metadata key", "POST", "/v1/jobs", w, `{"kind":"t.a","metadata":{"":"x"}}`, 400, CodeInvalid, "metadata"},
		// Conflicts and full queues.
		{"duplicate key rejected", "POST", "/v1/jobs", w, `{"kind":"t.a","key":"k1","on_conflict":"reject"}`, 409, CodeDuplicate, "key"},
		{"full queue", "POST", "/v1/jobs", w, `{"kind":"t.a","queue":"full"}`, 429, CodeQueueFull, "queue"},
		{"push mismatched queue", "POST", "/v1/queues/full/push", w, `{"kind":"t.a","queue":"idle"}`, 400, CodeInvalid, "queue"},
		{"push into a full queue", "POST", "/v1/queues/full/push", w, `{"kind":"t.a"}`, 429, CodeQueueFull, "queue"},
		// Batches.
		{"empty batch", "POST", "/v1/jobs/batch", w, `{"jobs":[]}`, 400, CodeInvalid, "jobs"},
		{"batch not a list", "POST", "/v1/jobs/batch", w, `{"jobs":{}}`, 400, CodeInvalid, "jobs"},
		{"batch item wrong type", "POST", "/v1/jobs/batch", w, `{"jobs":[{"kind":"t.a"},{"kind":"t.a","priority":"x"}]}`, 400, CodeInvalid, "jobs[1].priority"},
		{"batch item unknown field", "POST", "/v1/jobs/batch", w, `{"jobs":[{"kind":"t.a","colour":1}]}`, 400, CodeInvalid, "jobs[0].colour"},
		{"batch item bad kind", "POST", "/v1/jobs/batch", w, `{"jobs":[{"kind":"t.a"},{"kind":"t.a"},{"kind":"bad kind"}]}`, 400, CodeInvalid, "jobs[2].kind"},
		{"batch item zero max attempts", "POST", "/v1/jobs/batch", w, `{"jobs":[{"kind":"t.a"},{"kind":"t.a","max_attempts":0}]}`, 400, CodeInvalid, "jobs[1].max_attempts"},
		{"batch item bad delay", "POST", "/v1/jobs/batch", w, `{"jobs":[{"kind":"t.a","delay":"x"}]}`, 400, CodeInvalid, "jobs[0].delay"},
		{"batch into a full queue", "POST", "/v1/jobs/batch", w, `{"jobs":[{"kind":"t.a","queue":"idle"},{"kind":"t.a","queue":"full"}]}`, 429, CodeQueueFull, "queue"},
		// Lists.
		{"bad state", "GET", "/v1/jobs?state=finished", w, "", 400, CodeInvalid, "state"},
		{"negative limit", "GET", "/v1/jobs?limit=-5", w, "", 400, CodeInvalid, "limit"},
		{"limit too big", "GET", "/v1/jobs?limit=10001", w, "", 400, CodeInvalid, "limit"},
		{"limit not a number", "GET", "/v1/jobs?limit=ten", w, "", 400, CodeInvalid, "limit"},
		{"bad created_from", "GET", "/v1/jobs?created_from=yesterday", w, "", 400, CodeInvalid, "created_from"},
		{"empty created range", "GET", "/v1/jobs?created_from=2030-01-02T00:00:00Z&created_to=2030-01-01T00:00:00Z", w, "", 400, CodeInvalid, "created_to"},
		{"unknown parameter", "GET", "/v1/jobs?colour=red", w, "", 400, CodeInvalid, "colour"},
		{"bad cursor", "GET", "/v1/jobs?cursor=abc", w, "", 400, CodeInvalid, "cursor"},
		{"cursor of the other order", "GET", "/v1/jobs?order=asc&cursor=" + encodeCursor(true, 5), w, "", 400, CodeInvalid, "cursor"},
		{"bad order", "GET", "/v1/jobs?order=up", w, "", 400, CodeInvalid, "order"},
		{"metadata without =", "GET", "/v1/jobs?metadata=org", w, "", 400, CodeInvalid, "metadata"},
		{"key twice", "GET", "/v1/jobs?key=a&key=b", w, "", 400, CodeInvalid, "key"},
		{"query on a route without one", "GET", "/v1/queues?x=1", w, "", 400, CodeInvalid, "x"},
		// Ids and states.
		{"id not a number", "GET", "/v1/jobs/abc", w, "", 400, CodeInvalid, "id"},
		{"zero id", "POST", "/v1/jobs/0/abort", w, "", 400, CodeInvalid, "id"},
		{"negative id", "POST", "/v1/jobs/-4/retry", w, "", 400, CodeInvalid, "id"},
		{"id overflow", "GET", "/v1/jobs/99999999999999999999", w, "", 400, CodeInvalid, "id"},
		{"unknown id", "GET", "/v1/jobs/999999", w, "", 404, CodeNotFound, "id"},
		{"abort unknown id", "POST", "/v1/jobs/999999/abort", w, "", 404, CodeNotFound, "id"},
		{"abort a final job", "POST", fmt.Sprintf("/v1/jobs/%d/abort", did), w, `{"reason":"x"}`, 409, CodeConflict, ""},
		{"abort with unknown field", "POST", fmt.Sprintf("/v1/jobs/%d/abort", qid), w, `{"why":"x"}`, 400, CodeInvalid, "why"},
		{"release a queued job", "POST", fmt.Sprintf("/v1/jobs/%d/release", qid), w, "", 409, CodeConflict, ""},
		{"retry a held job", "POST", fmt.Sprintf("/v1/jobs/%d/retry", hid), w, "", 409, CodeConflict, ""},
		{"retry with a body", "POST", fmt.Sprintf("/v1/jobs/%d/retry", did), w, `{"now":true}`, 400, CodeInvalid, "now"},
		{"delete a running job", "DELETE", fmt.Sprintf("/v1/jobs/%d", pid), adminSecret, "", 409, CodeConflict, ""},
		{"abort by key without key", "POST", "/v1/jobs/abort", w, `{"kind":"t.a"}`, 400, CodeInvalid, "key"},
		{"abort by key without kind", "POST", "/v1/jobs/abort", w, `{"key":"k1"}`, 400, CodeInvalid, "kind"},
		{"abort by unknown key", "POST", "/v1/jobs/abort", w, `{"kind":"t.a","key":"nope"}`, 404, CodeNotFound, ""},
		{"abort by key of an aborted job", "POST", "/v1/jobs/abort", w, `{"kind":"t.a","key":"ended"}`, 409, CodeConflict, ""},
		{"complete without attempt", "POST", fmt.Sprintf("/v1/jobs/%d/complete", pid), w, `{}`, 400, CodeInvalid, "attempt"},
		{"complete a stale attempt", "POST", fmt.Sprintf("/v1/jobs/%d/complete", pid), w, `{"attempt":2}`, 409, CodeConflict, "attempt"},
		{"complete a queued job", "POST", fmt.Sprintf("/v1/jobs/%d/complete", qid), w, `{"attempt":1}`, 409, CodeConflict, "attempt"},
		{"complete unknown id", "POST", "/v1/jobs/999999/complete", w, `{"attempt":1}`, 404, CodeNotFound, "id"},
		{"fail unknown id", "POST", "/v1/jobs/999999/fail", w, `{"attempt":1,"error":"x"}`, 404, CodeNotFound, "id"},
		{"fail two ways", "POST", fmt.Sprintf("/v1/jobs/%d/fail", pid), w, `{"attempt":1,"retry_after":"1m","permanent":true}`, 400, CodeInvalid, "retry_after"},
		{"fail with negative retry", "POST", fmt.Sprintf("/v1/jobs/%d/fail", pid), w, `{"attempt":1,"retry_after":-3}`, 400, CodeInvalid, "retry_after"},
		// Queues.
		{"negative max size", "PATCH", "/v1/queues/idle", adminSecret, `{"max_size":-1}`, 400, CodeInvalid, "max_size"},
		{"urgent priority out of range", "PATCH", "/v1/queues/idle", adminSecret, `{"urgent_priority":40000}`, 400, CodeInvalid, "urgent_priority"},
		{"empty queue patch", "PATCH", "/v1/queues/idle", adminSecret, `{}`, 400, CodeInvalid, ""},
		{"bad queue name", "PATCH", "/v1/queues/a%20b", adminSecret, `{"max_size":1}`, 400, CodeInvalid, "queue"},
		{"pause a bad queue name", "POST", "/v1/queues/a%20b/pause", w, ``, 400, CodeInvalid, "queue"},
		{"pop wait too long", "POST", "/v1/queues/ext/pop", w, `{"wait":"10m"}`, 400, CodeInvalid, "wait"},
		{"pop negative wait", "POST", "/v1/queues/ext/pop", w, `{"wait":-1}`, 400, CodeInvalid, "wait"},
		{"pop wait wrong type", "POST", "/v1/queues/ext/pop", w, `{"wait":[1]}`, 400, CodeInvalid, "wait"},
		{"pop kinds not a list", "POST", "/v1/queues/ext/pop", w, `{"kinds":"t.pop"}`, 400, CodeInvalid, "kinds"},
		{"pop bad queue", "POST", "/v1/queues/a%20b/pop", w, `{}`, 400, CodeInvalid, "queue"},
		// Stats.
		{"zero hours", "GET", "/v1/stats?hours=0", w, "", 400, CodeInvalid, "hours"},
		{"too many hours", "GET", "/v1/stats?hours=100000", w, "", 400, CodeInvalid, "hours"},
		{"bad from", "GET", "/v1/stats?from=now", w, "", 400, CodeInvalid, "from"},
		{"from after the year 9999", "GET", "/v1/stats?from=9999-12-31T23:00:00-05:00", w, "", 400, CodeInvalid, "from"},
		{"from at the end of 9999", "GET", "/v1/stats?from=9999-12-31T00:00:00Z", w, "", 400, CodeInvalid, "from"},
		{"hours and from", "GET", "/v1/stats?hours=2&from=2030-01-01T00:00:00Z", w, "", 400, CodeInvalid, "hours"},
		// Event stream (a refused stream sends no event stream).
		{"events metadata without =", "GET", "/v1/events?metadata=org", readSecret, "", 400, CodeInvalid, "metadata"},
		{"events bad last_event_id", "GET", "/v1/events?last_event_id=abc", readSecret, "", 400, CodeInvalid, "last_event_id"},
		{"events negative last_event_id", "GET", "/v1/events?last_event_id=-1", readSecret, "", 400, CodeInvalid, "last_event_id"},
		{"events unknown parameter", "GET", "/v1/events?state=done", readSecret, "", 400, CodeInvalid, "state"},
		{"events key twice", "GET", "/v1/events?key=a&key=b", readSecret, "", 400, CodeInvalid, "key"},
		{"events without token", "GET", "/v1/events", "", "", 401, CodeUnauthorized, ""},
		// Leases.
		{"lease truncated JSON", "POST", "/v1/leases", w, `{"kinds":`, 400, CodeMalformedJSON, ""},
		{"lease empty body", "POST", "/v1/leases", w, ``, 400, CodeMalformedJSON, ""},
		{"lease unknown field", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"colour":1}`, 400, CodeInvalid, "colour"},
		{"lease without kinds", "POST", "/v1/leases", w, `{"queues":["lq"]}`, 400, CodeInvalid, "kinds"},
		{"lease empty kinds", "POST", "/v1/leases", w, `{"kinds":[],"queues":["lq"]}`, 400, CodeInvalid, "kinds"},
		{"lease kinds not a list", "POST", "/v1/leases", w, `{"kinds":"t.lease"}`, 400, CodeInvalid, "kinds"},
		{"lease empty kind", "POST", "/v1/leases", w, `{"kinds":["t.lease",""],"queues":["lq"]}`, 400, CodeInvalid, "kinds"},
		{"lease bad kind", "POST", "/v1/leases", w, `{"kinds":["t.lease","no spaces"],"queues":["lq"]}`, 400, CodeInvalid, "kinds"},
		{"lease bad queue", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq","a b"]}`, 400, CodeInvalid, "queues"},
		{"lease max zero", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"max":0}`, 400, CodeInvalid, "max"},
		{"lease max too big", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"max":1001}`, 400, CodeInvalid, "max"},
		{"lease max as string", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"max":"5"}`, 400, CodeInvalid, "max"},
		{"lease max as fraction", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"max":1.5}`, 400, CodeInvalid, "max"},
		{"lease wait too long", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"wait":"10m"}`, 400, CodeInvalid, "wait"},
		{"lease negative wait", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"wait":-1}`, 400, CodeInvalid, "wait"},
		{"lease bad wait", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"wait":"soon"}`, 400, CodeInvalid, "wait"},
		{"lease too short", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"lease":"0s"}`, 400, CodeInvalid, "lease"},
		{"lease too long", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"lease":"2h"}`, 400, CodeInvalid, "lease"},
		{"lease as bool", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"lease":true}`, 400, CodeInvalid, "lease"},
		{"lease worker too long", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"worker":"` + strings.Repeat("w", 201) + `"}`, 400, CodeInvalid, "worker"},
		{"lease worker with a NUL", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"worker":"a\u0000b"}`, 400, CodeInvalid, "worker"},
		{"lease worker with a newline", "POST", "/v1/leases", w, `{"kinds":["t.lease"],"queues":["lq"],"worker":"a\nb"}`, 400, CodeInvalid, "worker"},
		{"lease with a read token", "POST", "/v1/leases", readSecret, `{"kinds":["t.lease"],"queues":["lq"]}`, 403, CodeForbidden, ""},
		{"heartbeat malformed", "POST", "/v1/leases/heartbeat", w, `{"token":`, 400, CodeMalformedJSON, ""},
		{"heartbeat without token", "POST", "/v1/leases/heartbeat", w, `{}`, 400, CodeInvalid, "token"},
		{"heartbeat token as number", "POST", "/v1/leases/heartbeat", w, `{"token":5}`, 400, CodeInvalid, "token"},
		{"heartbeat bad token", "POST", "/v1/leases/heartbeat", w, `{"token":"abc"}`, 400, CodeInvalid, "token"},
		{"heartbeat token with a short secret", "POST", "/v1/leases/heartbeat", w, tokenBody(liveTok[:len(liveTok)-1], ""), 400, CodeInvalid, "token"},
		{"heartbeat unknown field", "POST", "/v1/leases/heartbeat", w, tokenBody(liveTok, `"ttl":"1m"`), 400, CodeInvalid, "ttl"},
		{"heartbeat lease too short", "POST", "/v1/leases/heartbeat", w, tokenBody(liveTok, `"lease":"10ms"`), 400, CodeInvalid, "lease"},
		{"heartbeat bad lease", "POST", "/v1/leases/heartbeat", w, tokenBody(liveTok, `"lease":"long"`), 400, CodeInvalid, "lease"},
		{"heartbeat stale token", "POST", "/v1/leases/heartbeat", w, tokenBody(spentTok, ""), 409, CodeLeaseLost, "token"},
		{"heartbeat forged token", "POST", "/v1/leases/heartbeat", w, tokenBody(forged, ""), 409, CodeLeaseLost, "token"},
		{"complete malformed", "POST", "/v1/leases/complete", w, `not json`, 400, CodeMalformedJSON, ""},
		{"complete unknown field", "POST", "/v1/leases/complete", w, tokenBody(liveTok, `"output":1`), 400, CodeInvalid, "output"},
		{"complete bad token", "POST", "/v1/leases/complete", w, `{"token":"rl1.x.y"}`, 400, CodeInvalid, "token"},
		{"complete stale token", "POST", "/v1/leases/complete", w, tokenBody(spentTok, `"result":1`), 409, CodeLeaseLost, "token"},
		{"complete forged token", "POST", "/v1/leases/complete", w, tokenBody(forged, `"result":1`), 409, CodeLeaseLost, "token"},
		{"complete with a read token", "POST", "/v1/leases/complete", readSecret, tokenBody(liveTok, ""), 403, CodeForbidden, ""},
		{"fail without error", "POST", "/v1/leases/fail", w, tokenBody(liveTok, ""), 400, CodeInvalid, "error"},
		{"fail error as number", "POST", "/v1/leases/fail", w, tokenBody(liveTok, `"error":7`), 400, CodeInvalid, "error"},
		{"fail final as string", "POST", "/v1/leases/fail", w, tokenBody(liveTok, `"error":"x","final":"yes"`), 400, CodeInvalid, "final"},
		{"fail negative retry_after", "POST", "/v1/leases/fail", w, tokenBody(liveTok, `"error":"x","retry_after":"-1m"`), 400, CodeInvalid, "retry_after"},
		{"fail zero retry_after", "POST", "/v1/leases/fail", w, tokenBody(liveTok, `"error":"x","retry_after":0`), 400, CodeInvalid, "retry_after"},
		{"fail bad retry_after", "POST", "/v1/leases/fail", w, tokenBody(liveTok, `"error":"x","retry_after":"later"`), 400, CodeInvalid, "retry_after"},
		{"fail final with retry_after", "POST", "/v1/leases/fail", w, tokenBody(liveTok, `"error":"x","final":true,"retry_after":"1m"`), 400, CodeInvalid, "retry_after"},
		{"fail bad token", "POST", "/v1/leases/fail", w, `{"token":"","error":"x"}`, 400, CodeInvalid, "token"},
		{"fail stale token", "POST", "/v1/leases/fail", w, tokenBody(spentTok, `"error":"x"`), 409, CodeLeaseLost, "token"},
		{"snooze without delay", "POST", "/v1/leases/snooze", w, tokenBody(liveTok, ""), 400, CodeInvalid, "delay"},
		{"snooze zero delay", "POST", "/v1/leases/snooze", w, tokenBody(liveTok, `"delay":"0s"`), 400, CodeInvalid, "delay"},
		{"snooze negative delay", "POST", "/v1/leases/snooze", w, tokenBody(liveTok, `"delay":-5`), 400, CodeInvalid, "delay"},
		{"snooze bad delay", "POST", "/v1/leases/snooze", w, tokenBody(liveTok, `"delay":"a while"`), 400, CodeInvalid, "delay"},
		{"snooze bad token", "POST", "/v1/leases/snooze", w, `{"token":"rl1.1.1.30000.XYZ","delay":"1m"}`, 400, CodeInvalid, "token"},
		{"snooze stale token", "POST", "/v1/leases/snooze", w, tokenBody(spentTok, `"delay":"1m"`), 409, CodeLeaseLost, "token"},
		{"lease route with GET", "GET", "/v1/leases", w, "", 405, CodeMethodNotAllowed, ""},
		// Schedules.
		{"schedule bad spec", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"every 10 parsecs"}`, 400, CodeInvalid, "spec"},
		{"schedule without spec", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a"}`, 400, CodeInvalid, "spec"},
		{"schedule in the past", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"once at 2001-01-01T00:00:00Z"}`, 400, CodeInvalid, "spec"},
		{"schedule unknown zone", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"hourly","zone":"Mars/Olympus"}`, 400, CodeInvalid, "zone"},
		{"schedule without key", "POST", "/v1/schedules", w, `{"kind":"t.a","spec":"hourly"}`, 400, CodeInvalid, "key"},
		{"schedule bad key", "POST", "/v1/schedules", w, `{"key":"a b","kind":"t.a","spec":"hourly"}`, 400, CodeInvalid, "key"},
		{"schedule without kind", "POST", "/v1/schedules", w, `{"key":"n1","spec":"hourly"}`, 400, CodeInvalid, "kind"},
		{"schedule duplicate key", "POST", "/v1/schedules", w, `{"key":"kept","kind":"t.b","spec":"hourly"}`, 409, CodeDuplicate, "key"},
		{"schedule unknown field", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"hourly","every":"1h"}`, 400, CodeInvalid, "every"},
		{"schedule priority as string", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"hourly","priority":"hi"}`, 400, CodeInvalid, "priority"},
		{"schedule bad jitter", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"hourly","jitter":"a while"}`, 400, CodeInvalid, "jitter"},
		{"schedule jitter too long", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"hourly","jitter":"2d"}`, 400, CodeInvalid, "jitter"},
		{"schedule bad misfire", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"hourly","misfire":"later"}`, 400, CodeInvalid, "misfire"},
		{"schedule negative misfire cap", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"hourly","misfire_cap":-1}`, 400, CodeInvalid, "misfire_cap"},
		{"schedule bad overlap", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"hourly","overlap":"both"}`, 400, CodeInvalid, "overlap"},
		{"schedule bad condition", "POST", "/v1/schedules", w, `{"key":"n1","kind":"t.a","spec":"hourly","condition":"when ready"}`, 400, CodeInvalid, "condition"},
		{"schedule created by a reader", "POST", "/v1/schedules", readSecret, `{"key":"n1","kind":"t.a","spec":"hourly"}`, 403, CodeForbidden, ""},
		{"schedule patch bad spec", "PATCH", "/v1/schedules/kept", w, `{"spec":"daily at 25:00"}`, 400, CodeInvalid, "spec"},
		{"schedule patch unknown zone", "PATCH", "/v1/schedules/kept", w, `{"zone":"Nowhere/Land"}`, 400, CodeInvalid, "zone"},
		{"schedule patch nothing", "PATCH", "/v1/schedules/kept", w, `{}`, 400, CodeInvalid, ""},
		{"schedule patch other key", "PATCH", "/v1/schedules/kept", w, `{"key":"other","spec":"hourly"}`, 400, CodeInvalid, "key"},
		{"schedule patch unknown key", "PATCH", "/v1/schedules/nope", w, `{"spec":"hourly"}`, 404, CodeNotFound, "key"},
		{"schedule patch enabled as string", "PATCH", "/v1/schedules/kept", w, `{"enabled":"no"}`, 400, CodeInvalid, "enabled"},
		{"schedule get unknown", "GET", "/v1/schedules/nope", w, "", 404, CodeNotFound, "key"},
		{"schedule enable unknown", "POST", "/v1/schedules/nope/enable", w, "", 404, CodeNotFound, "key"},
		{"schedule disable unknown", "POST", "/v1/schedules/off%2Fnone/disable", w, `{"reason":"x"}`, 404, CodeNotFound, "key"},
		{"schedule disable unknown field", "POST", "/v1/schedules/kept/disable", w, `{"why":"x"}`, 400, CodeInvalid, "why"},
		{"schedule enable with a body", "POST", "/v1/schedules/off%2Fone/enable", w, `{"now":true}`, 400, CodeInvalid, "now"},
		{"schedule deleted by a writer", "DELETE", "/v1/schedules/kept", w, "", 403, CodeForbidden, ""},
		{"schedule delete unknown", "DELETE", "/v1/schedules/nope", adminSecret, "", 404, CodeNotFound, "key"},
		{"schedules enabled not a bool", "GET", "/v1/schedules?enabled=maybe", w, "", 400, CodeInvalid, "enabled"},
		{"schedules bad cursor", "GET", "/v1/schedules?cursor=" + encodeCursor(true, 5), w, "", 400, CodeInvalid, "cursor"},
		{"schedules zero limit", "GET", "/v1/schedules?limit=0", w, "", 400, CodeInvalid, "limit"},
		{"schedules search twice", "GET", "/v1/schedules?search=a&search=b", w, "", 400, CodeInvalid, "search"},
		{"preview without spec", "GET", "/v1/schedule-preview?tz=UTC", w, "", 400, CodeInvalid, "spec"},
		{"preview bad spec", "GET", "/v1/schedule-preview?spec=wibble", w, "", 400, CodeInvalid, "spec"},
		{"preview unknown zone", "GET", "/v1/schedule-preview?spec=hourly&tz=Mars%2FBase", w, "", 400, CodeInvalid, "tz"},
		{"preview zero fires", "GET", "/v1/schedule-preview?spec=hourly&n=0", w, "", 400, CodeInvalid, "n"},
		{"preview too many fires", "GET", "/v1/schedule-preview?spec=hourly&n=1001", w, "", 400, CodeInvalid, "n"},
		{"preview bad after", "GET", "/v1/schedule-preview?spec=hourly&after=soon", w, "", 400, CodeInvalid, "after"},
		// Batch complete: the request as a whole (an item's own error is a 200; see TestLeaseCompleteBatch).
		{"complete batch malformed", "POST", "/v1/leases/complete/batch", w, `{"items":[`, 400, CodeMalformedJSON, ""},
		{"complete batch empty body", "POST", "/v1/leases/complete/batch", w, ``, 400, CodeMalformedJSON, ""},
		{"complete batch without items", "POST", "/v1/leases/complete/batch", w, `{}`, 400, CodeInvalid, "items"},
		{"complete batch empty items", "POST", "/v1/leases/complete/batch", w, `{"items":[]}`, 400, CodeInvalid, "items"},
		{"complete batch items not a list", "POST", "/v1/leases/complete/batch", w, `{"items":{"token":"x"}}`, 400, CodeInvalid, "items"},
		{"complete batch unknown field", "POST", "/v1/leases/complete/batch", w, `{"items":[],"tokens":[]}`, 400, CodeInvalid, "tokens"},
		{"complete batch unknown item field", "POST", "/v1/leases/complete/batch", w, `{"items":[` + tokenBody(liveTok, `"output":1`) + `]}`, 400, CodeInvalid, "output"},
		{"complete batch token as number", "POST", "/v1/leases/complete/batch", w, `{"items":[{"token":5}]}`, 400, CodeInvalid, "items.token"},
		{"complete batch too many items", "POST", "/v1/leases/complete/batch", w, `{"items":[` + strings.Repeat(tokenBody(liveTok, "")+",", 1000) + tokenBody(liveTok, "") + `]}`, 400, CodeInvalid, "items"},
		{"complete batch with a read token", "POST", "/v1/leases/complete/batch", readSecret, `{"items":[` + tokenBody(liveTok, "") + `]}`, 403, CodeForbidden, ""},
		{"complete batch with GET", "GET", "/v1/leases/complete/batch", w, "", 405, CodeMethodNotAllowed, ""},
		// Routing.
		{"wrong method", "PUT", "/v1/jobs", w, `{}`, 405, CodeMethodNotAllowed, ""},
		{"unknown route", "GET", "/v1/nothing", w, "", 404, CodeNotFound, ""},
		// Auth.
		{"missing token", "POST", "/v1/jobs", "", `{"kind":"t.a"}`, 401, CodeUnauthorized, ""},
		{"wrong token", "POST", "/v1/jobs", "not-a-token-at-all-xx", `{"kind":"t.a"}`, 401, CodeUnauthorized, ""},
		{"read token enqueues", "POST", "/v1/jobs", readSecret, `{"kind":"t.a"}`, 403, CodeForbidden, ""},
		{"read token pops", "POST", "/v1/queues/ext/pop", readSecret, ``, 403, CodeForbidden, ""},
		{"write token deletes", "DELETE", fmt.Sprintf("/v1/jobs/%d", qid), w, "", 403, CodeForbidden, ""},
		{"write token sets limits", "PATCH", "/v1/queues/idle", w, `{"max_size":5}`, 403, CodeForbidden, ""},
		{"metrics without token", "GET", "/metrics", "", "", 401, CodeUnauthorized, ""},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
	for _, tc := range cases {
		r := e.do(tc.method, tc.path, tc.secret, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
			continue
		}
		ae := r.errorOf(t)
		if ae.Code != tc.code || ae.Field != tc.field || ae.Message == "" {
			t.Errorf("%s: error %+v, want code %s and field %q", tc.name, ae, tc.code, tc.field)
		}
	}
	if after := e.snapshot(); after != before {
		t.Errorf("bad input changed the store:\nbefore %s\nafter  %s", before, after)
	}
	// 405 tells what is allowed; 401 how to authenticate.
	if r := e.do("PUT", "/v1/jobs", w, ""); r.header.Get("Allow") != "GET, POST" {
		t.Errorf("405 Allow = %q", r.header.Get("Allow"))
	}
	if r := e.do("GET", "/v1/jobs", "", ""); r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	if r := e.do("POST", "/v1/jobs", w, `{"kind":"t.a"}`); r.status != http.StatusOK {
		t.Errorf("a good request after all that: %d %s", r.status, r.body)
	}
}

// TestParseDurationMessages: a duration the API cannot read is a 400 that
// names the field, with internal/duration's reason.
func TestParseDurationMessages(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`1e300`:     `invalid timeout: 1e300 seconds is out of range`,
		`"soon"`:    `invalid timeout: "soon" is not a duration (like 90s, 1h30m or 7d)`,
		`"200000d"`: `invalid timeout: "200000d" is out of range`,
		`true`:      `invalid timeout: true is neither a duration string (like "90s") nor a number of seconds`,
	} {
		d, err := parseDuration("timeout", json.RawMessage(raw))
		ae, ok := err.(*apiError)
		if !ok || ae.Status != http.StatusBadRequest || ae.Code != CodeInvalid || ae.Field != "timeout" || ae.Message != want {
			t.Errorf("parseDuration(timeout, %s) = %v, %#v; want a 400 on timeout: %s", raw, d, err, want)
		}
	}
}
