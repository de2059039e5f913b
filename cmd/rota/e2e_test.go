package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/pgtest"
	"github.com/rotahq/rota/internal/version"
	"github.com/rotahq/rota/store"
)

// The test binary doubles as the rota CLI: with ROTA_E2E_CLI=1 it runs the
// command line instead of the tests, so the end-to-end tests start real rota
// processes without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("ROTA_E2E_CLI") == "1" {
		os.Exit(runWith(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr, e2eRegister(os.Getenv)))
	}
	os.Exit(m.Run())
}

// env is a test's environment: a temp dir with its own database.
type env struct {
	t    *testing.T
	dir  string
	db   string
	vars []string
}

func newEnv(t *testing.T, vars ...string) *env {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "rota.db")
	// Each rota serve listens on a port of its own (tests run in parallel).
	base := []string{"ROTA_E2E_CLI=1", "ROTA_DATABASE_URL=" + db, "ROTA_NODE_ID=e2e", "ROTA_LOG_LEVEL=warn", "ROTA_LISTEN=127.0.0.1:0"}
	return &env{t: t, dir: dir, db: db, vars: append(base, vars...)}
}

func (e *env) command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), e.vars...), raceExitEnv())
	// A test binary that dies (killed, or a broken pipe) takes its servers with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// raceExitEnv is the GORACE setting of the processes the tests start. A
// binary built with -race sleeps atexit_sleep_ms (1000 by default) before it
// exits while it has other threads, for their last races to be reported: a
// second for each of the hundreds of CLI commands these tests run, which
// made the race run of this package several minutes longer. The processes
// the tests start have nothing left to run when they exit (a command is
// done; a stopped serve has ended its goroutines), so they exit at once.
// Races are still reported when they happen, and fail the process (exit 66).
// Without -race, GORACE is not read.
func raceExitEnv() string {
	gorace := os.Getenv("GORACE")
	if !strings.Contains(gorace, "atexit_sleep_ms") {
		gorace = strings.TrimSpace(gorace + " atexit_sleep_ms=0")
	}
	return "GORACE=" + gorace
}

// skipUnderRace skips a test in a build with the race detector, for why: a
// test whose worth is the processes' behaviour (their output, their exit
// codes), where the code it runs is run with the race detector by other
// tests, and that the race detector only slows down. The test still runs in
// the plain `go test ./...` of .ci/run.
func skipUnderRace(t *testing.T, why string) {
	t.Helper()
	if raceEnabled {
		t.Skip("not with -race (it runs without): " + why)
	}
}

// cli runs one command to completion.
func (e *env) cli(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	return e.cliIn("", args...)
}

// cliIn runs one command with stdin to completion.
func (e *env) cliIn(stdin string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	cmd := e.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	code = 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("rota %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return o.String(), er.String(), code
}

// ok runs a command that must succeed.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.cli(args...)
	if code != 0 {
		e.t.Fatalf("rota %v: exit %d: %s", args, code, errOut)
	}
	return out
}

// jsonOut runs a command with --json and decodes its output.
func (e *env) jsonOut(v any, args ...string) {
	e.t.Helper()
	out := e.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("rota %v: %v in %s", args, err, out)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

type statsOut struct {
	ByState map[store.State]int64 `json:"by_state"`
}

func (e *env) counts() map[store.State]int64 {
	e.t.Helper()
	var s statsOut
	e.jsonOut(&s, "stats")
	return s.ByState
}

func TestBadInputExitsTwoAndChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("enqueue", "demo.kind", `{"n":1}`, "--key", "k1")
	before := e.counts()
	aFile := filepath.Join(e.dir, "not-a-dir")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		vars  []string
		field string // must appear in the message
	}{
		{"bad args json", []string{"enqueue", "demo.kind", `{"n":`}, nil, "args"},
		{"priority out of range", []string{"enqueue", "demo.kind", "{}", "--priority", "99999"}, nil, "priority"},
		{"negative priority", []string{"enqueue", "demo.kind", "{}", "--priority", "-1"}, nil, "priority"},
		{"bad conflict policy", []string{"enqueue", "demo.kind", "{}", "--key", "k2", "--on-conflict", "merge"}, nil, "on_conflict"},
		{"conflict without key", []string{"enqueue", "demo.kind", "{}", "--on-conflict", "replace"}, nil, "on_conflict"},
		{"bad kind", []string{"enqueue", "bad kind!", "{}"}, nil, "kind"},
		{"bad queue", []string{"enqueue", "demo.kind", "{}", "--queue", "no spaces"}, nil, "queue"},
		{"empty queue", []string{"enqueue", "demo.kind", "{}", "--queue", ""}, nil, "invalid queue: empty"},
		{"bad run-at", []string{"enqueue", "demo.kind", "{}", "--run-at", "tomorrow"}, nil, "run_at"},
		{"run-at and delay", []string{"enqueue", "demo.kind", "{}", "--run-at", "2030-01-01T00:00:00Z", "--delay", "1h"}, nil, "run_at"},
		{"negative delay", []string{"enqueue", "demo.kind", "{}", "--delay", "-1h"}, nil, "delay"},
		{"negative attempts", []string{"enqueue", "demo.kind", "{}", "--max-attempts", "-3"}, nil, "max_attempts"},
		{"zero attempts", []string{"enqueue", "demo.kind", "{}", "--max-attempts", "0"}, nil, "max_attempts"},
		{"bad metadata", []string{"enqueue", "demo.kind", "{}", "--metadata", "novalue"}, nil, "metadata"},
		{"bad duration flag", []string{"enqueue", "demo.kind", "{}", "--timeout", "soon"}, nil, "timeout"},
		{"negative delay in seconds", []string{"enqueue", "demo.kind", "{}", "--delay", "-90"}, nil, "invalid delay: -1m30s is negative"},
		{"delay not a number", []string{"enqueue", "demo.kind", "{}", "--delay", "NaN"}, nil, `"--delay" flag: not a duration`},
		{"delay out of range", []string{"enqueue", "demo.kind", "{}", "--delay", "1e400"}, nil, `"--delay" flag: a number of seconds out of range`},
		{"jitter over a day", []string{"schedules", "create", "j", "--kind", "demo.kind", "--spec", "daily", "--jitter", "2d"}, nil, "invalid jitter"},
		{"bad bench interval", []string{"bench", "latency", "--every", "often"}, nil, `"--every" flag`},
		{"bench lookahead in seconds over the maximum", []string{"bench", "schedules", "--lookahead", "90"}, nil, "invalid lookahead: 1m30s"},
		{"bench of no jobs", []string{"bench", "throughput", "-n", "0"}, nil, "invalid jobs: 0"},
		{"bench schedules for no time", []string{"bench", "schedules", "--duration", "0s"}, nil, "invalid duration: 0"},
		{"unknown flag", []string{"enqueue", "demo.kind", "{}", "--colour", "red"}, nil, "colour"},
		{"missing kind", []string{"enqueue"}, nil, "enqueue takes"},
		{"unknown command", []string{"frobnicate"}, nil, "unknown command"},
		{"unknown jobs command", []string{"jobs", "frobnicate"}, nil, `unknown command "frobnicate" for "rota jobs"`},
		{"unknown queues command", []string{"queues", "frobnicate", "default"}, nil, `unknown command "frobnicate" for "rota queues"`},
		{"unknown nodes command", []string{"nodes", "frobnicate"}, nil, `unknown command "frobnicate" for "rota nodes"`},
		{"unknown schedules command", []string{"schedules", "frobnicate"}, nil, `unknown command "frobnicate" for "rota schedules"`},
		{"unknown bench workload", []string{"bench", "frobnicate"}, nil, `unknown command "frobnicate" for "rota bench"`},
		{"bad state", []string{"jobs", "ls", "--state", "finished"}, nil, "state"},
		{"bad limit", []string{"jobs", "ls", "--limit", "-5"}, nil, "limit"},
		{"zero limit", []string{"jobs", "ls", "--limit", "0"}, nil, "limit"},
		{"bad id", []string{"jobs", "show", "abc"}, nil, "id"},
		{"zero id", []string{"jobs", "cancel", "0"}, nil, "id"},
		{"cancel id and key", []string{"jobs", "cancel", "1", "--kind", "demo.kind", "--key", "k1"}, nil, "not both"},
		{"cancel key without kind", []string{"jobs", "cancel", "--key", "k1"}, nil, "--kind"},
		{"queue max size negative", []string{"queues", "set", "default", "--max-size", "-1"}, nil, "max_size"},
		{"queue set nothing", []string{"queues", "set", "default"}, nil, "nothing to set"},
		{"bad env duration", []string{"jobs", "ls"}, []string{"ROTA_LEASE_DURATION=abc"}, "ROTA_LEASE_DURATION"},
		{"bad env level", []string{"jobs", "ls"}, []string{"ROTA_LOG_LEVEL=loud"}, "ROTA_LOG_LEVEL"},
		{"bad leader lease", []string{"nodes", "ls"}, []string{"ROTA_LEADER_LEASE=0s"}, "ROTA_LEADER_LEASE"},
		{"nodes ls with an argument", []string{"nodes", "ls", "node-a"}, nil, "ls takes"},
		{"bad database url", []string{"jobs", "ls"}, []string{"ROTA_DATABASE_URL=mysql://x/y"}, "mysql"},
		{"missing workers dir (enqueue)", []string{"enqueue", "demo.kind", "{}"}, []string{"ROTA_WORKERS_DIR=/nonexistent/workers"}, "ROTA_WORKERS_DIR"},
		{"workers dir a file (enqueue)", []string{"enqueue", "demo.kind", "{}", "--workers-dir", aFile}, nil, "ROTA_WORKERS_DIR"},
		{"missing workers dir (serve)", []string{"serve", "--listen", "off"}, []string{"ROTA_WORKERS_DIR=/nonexistent/workers"}, "ROTA_WORKERS_DIR"},
		{"bad bench size", []string{"bench", "throughput", "-n", "-5"}, nil, "jobs"},
		{"serve with a missing workers dir", []string{"serve", "--listen", "off"},
			[]string{"ROTA_WORKERS_DIR=" + filepath.Join(e.dir, "no-such-dir")}, "ROTA_WORKERS_DIR"},
		{"serve with a file as workers dir", []string{"serve", "--listen", "off", "--workers-dir", filepath.Join(e.dir, "rota.db")},
			nil, "ROTA_WORKERS_DIR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ce := *e
			ce.t = t
			ce.vars = append(append([]string(nil), e.vars...), tc.vars...)
			_, errOut, code := ce.cli(tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, errOut)
			}
			if !strings.Contains(errOut, tc.field) {
				t.Errorf("message %q does not name %q", errOut, tc.field)
			}
		})
	}
	after := e.counts()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("bad input changed the store: before %v, after %v", before, after)
	}
	// Commands that read or change what a store holds do not create an
	// SQLite file that is not there (a typo in ROTA_DATABASE_URL).
	typo := filepath.Join(e.dir, "typo.db")
	for _, args := range [][]string{{"jobs", "ls"}, {"jobs", "show", "1"}, {"queues", "ls"}, {"stats"}, {"nodes", "ls"}, {"schedules", "ls"}} {
		e2 := *e
		e2.vars = append(slices.Clone(e.vars), "ROTA_DATABASE_URL="+typo)
		_, errOut, code := e2.cli(args...)
		if code != exitUsage || !strings.Contains(errOut, "ROTA_DATABASE_URL") || !strings.Contains(errOut, typo) {
			t.Errorf("%v on a missing file: exit %d, %q; want %d naming ROTA_DATABASE_URL and the path", args, code, errOut, exitUsage)
		}
		if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v created %s: %v", args, typo, err)
		}
	}
	// A missing job is an error, but not a usage error.
	for _, args := range [][]string{{"jobs", "show", "999"}, {"jobs", "cancel", "999"}, {"jobs", "retry", "999"}} {
		if _, errOut, code := e.cli(args...); code != exitError || strings.TrimSpace(errOut) != "rota: job 999 not found" {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}

// postgresEnv returns the environment for a test on PostgreSQL: the URL from
// ROTA_TEST_DATABASE_URL and a fresh schema, dropped when the test ends. It
// skips the test without the URL, unless ROTA_TEST_REQUIRE_SERVICES=1.
func postgresEnv(t *testing.T) []string {
	t.Helper()
	url := pgtest.URL(t)
	return []string{"ROTA_DATABASE_URL=" + url, "ROTA_POSTGRES_SCHEMA=" + pgtest.Schema(t, url, "rota_e2e_")}
}

// onEachStore runs test in parallel subtests on SQLite (a file of the
// test's env) and on PostgreSQL (a fresh schema; skipped without a test
// database), each with an env that also holds vars.
func onEachStore(t *testing.T, test func(t *testing.T, e *env, driver string), vars ...string) {
	t.Helper()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			var pg []string
			if driver == "postgres" {
				pg = postgresEnv(t)
			}
			test(t, newEnv(t, append(pg, vars...)...), driver)
		})
	}
}

func TestCLIRoundTrip(t *testing.T) {
	t.Parallel()
	onEachStore(t, testCLIRoundTrip)
}

func testCLIRoundTrip(t *testing.T, e *env, driver string) {
	var job store.Job
	e.jsonOut(&job, "enqueue", "report.build", `{"week":47}`, "--key", "w47", "--priority", "7",
		"--metadata", "org=acme", "--hold", "--max-attempts", "3", "--timeout", "90s")
	if job.State != store.StateReady || job.Priority != 7 || job.Key != "w47" || job.Metadata["org"] != "acme" ||
		job.MaxAttempts != 3 || job.Timeout != 90*time.Second || compact(t, job.Args) != `{"week":47}` {
		t.Fatalf("enqueued %+v", job)
	}
	// The same key returns the same job.
	// A job that never ran has no start, finish or lease in --json (not
	// Go's zero time).
	if out := e.ok("jobs", "show", fmt.Sprint(job.ID), "--json"); strings.Contains(out, "0001-01-01") ||
		strings.Contains(out, "started_at") || strings.Contains(out, "lease_until") {
		t.Errorf("jobs show --json of a held job shows times it does not have:\n%s", out)
	}
	var dup store.Job
	var mark struct {
		Duplicate bool `json:"duplicate"`
	}
	e.jsonOut(&dup, "enqueue", "report.build", `{"week":48}`, "--key", "w47")
	e.jsonOut(&mark, "enqueue", "report.build", `{"week":48}`, "--key", "w47")
	if dup.ID != job.ID || compact(t, dup.Args) != `{"week":47}` || !mark.Duplicate {
		t.Fatalf("duplicate key gave %+v (duplicate: %v), want job %d, marked duplicate", dup, mark.Duplicate, job.ID)
	}
	if out := e.ok("enqueue", "report.build", "{}", "--key", "w47"); !strings.Contains(out,
		fmt.Sprintf(`job %d ready (report.build, queue default, priority 7): already active with key "w47", not enqueued again`, job.ID)) {
		t.Errorf("duplicate key, text: %q", out)
	}
	// With reject, a duplicate is an error (exit 1) that names the active job.
	if _, errOut, code := e.cli("enqueue", "report.build", "{}", "--key", "w47", "--on-conflict", "reject"); code != exitError ||
		strings.TrimSpace(errOut) != fmt.Sprintf(`rota: job %d, of kind "report.build", is active with the key "w47" (--on-conflict reject)`, job.ID) {
		t.Fatalf("rejected duplicate: exit %d, %q", code, errOut)
	}
	var released store.Job
	e.jsonOut(&released, "jobs", "release", fmt.Sprint(job.ID))
	if released.State != store.StateQueued {
		t.Fatalf("released: %s", released.State)
	}
	out, errOut, code := e.cliIn(`{"from":"stdin"}`, "enqueue", "report.build", "-", "--delay", "1h", "--json")
	var later store.Job
	if code != 0 || json.Unmarshal([]byte(out), &later) != nil {
		t.Fatalf("enqueue from stdin: exit %d: %s %s", code, out, errOut)
	}
	if later.State != store.StateScheduled || compact(t, later.Args) != `{"from":"stdin"}` {
		t.Fatalf("delayed job from stdin: %s %s", later.State, later.Args)
	}
	var page struct {
		Jobs []store.Job `json:"jobs"`
	}
	e.jsonOut(&page, "jobs", "ls", "--metadata", "org=acme")
	if len(page.Jobs) != 1 || page.Jobs[0].ID != job.ID {
		t.Fatalf("ls by metadata: %+v", page.Jobs)
	}
	var cancelled store.Job
	e.jsonOut(&cancelled, "jobs", "cancel", "--kind", "report.build", "--key", "w47", "--reason", "not needed")
	if cancelled.State != store.StateAborted {
		t.Fatalf("cancel: %s", cancelled.State)
	}
	var retried store.Job
	e.jsonOut(&retried, "jobs", "retry", fmt.Sprint(job.ID))
	if retried.State != store.StateQueued {
		t.Fatalf("retry: %s", retried.State)
	}
	if out := e.ok("jobs", "show", fmt.Sprint(job.ID)); !strings.Contains(out, "report.build") || !strings.Contains(out, "queued") {
		t.Errorf("show: %s", out)
	}
	e.ok("queues", "pause", "default")
	var qs []store.Queue
	e.jsonOut(&qs, "queues", "ls")
	if len(qs) != 1 || !qs[0].Paused || qs[0].Counts[store.StateQueued] != 1 || qs[0].Counts[store.StateScheduled] != 1 {
		t.Fatalf("queues: %+v", qs)
	}
	// Its JSON spells fields as the HTTP API does; a queue without jobs has counts {}.
	e.ok("queues", "pause", "empty")
	var raw []map[string]any
	e.jsonOut(&raw, "queues", "ls")
	for _, q := range raw {
		for _, f := range []string{"name", "paused", "max_size", "urgent_priority", "counts"} {
			if _, ok := q[f]; !ok {
				t.Errorf("queues ls --json: %v has no %q", q, f)
			}
		}
		if c, ok := q["counts"].(map[string]any); !ok || (q["name"] == "empty" && len(c) != 0) {
			t.Errorf("queues ls --json: counts of %v", q)
		}
		if _, ok := q["oldest_queued_at"]; ok && q["name"] == "empty" {
			t.Errorf("queues ls --json: an empty queue has an oldest queued job: %v", q)
		}
	}
	e.ok("queues", "resume", "empty")
	e.ok("queues", "resume", "default")
	e.ok("queues", "set", "default", "--max-size", "2", "--urgent-priority", "1")
	if _, errOut, code := e.cli("enqueue", "report.build", "{}"); code != exitError ||
		strings.TrimSpace(errOut) != `rota: queue "default" is full (2 waiting jobs, max size 2; it takes only jobs of priority 1 or under): queue full` {
		t.Fatalf("full queue accepted a job: exit %d %s", code, errOut)
	}
	e.ok("enqueue", "report.build", "{}", "--priority", "1") // urgent
	if c := e.counts(); c[store.StateQueued] != 2 || c[store.StateScheduled] != 1 {
		t.Fatalf("counts %v", c)
	}
	if out := e.ok("jobs", "delete", fmt.Sprint(later.ID)); out != fmt.Sprintf("delete: job %d deleted (report.build, was scheduled)\n", later.ID) {
		t.Errorf("delete: %q", out)
	}
	if out := e.ok("migrate"); !strings.Contains(out, driver+" schema at version") {
		t.Errorf("migrate: %s", out)
	}
}

// TestJSONOutputIsSnakeCase checks the shape of the --json output of the
// list commands: the field names of the HTTP API (snake_case, never Go's
// field names), and no zero times for what has not happened.
func TestJSONOutputIsSnakeCase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("enqueue", "report.build", "{}", "--timeout", "90s")
	e.ok("queues", "pause", "idle") // a queue without jobs
	e.ok("schedules", "create", "a", "--kind", "report.build", "--spec", "daily", "--jitter", "1500ms")
	e.ok("schedules", "create", "b", "--kind", "report.build", "--spec", "daily")
	keys := func(args ...string) []map[string]json.RawMessage {
		t.Helper()
		var v any
		e.jsonOut(&v, args...)
		var objs []map[string]json.RawMessage
		raw, _ := json.Marshal(v)
		if _, ok := v.([]any); !ok {
			raw = []byte("[" + string(raw) + "]")
		}
		if err := json.Unmarshal(raw, &objs); err != nil {
			t.Fatalf("rota %v --json: %v in %s", args, err, raw)
		}
		return objs
	}
	has := func(what string, obj map[string]json.RawMessage, want ...string) {
		t.Helper()
		for _, k := range want {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s: no %q in %v", what, k, slices.Sorted(maps.Keys(obj)))
			}
		}
	}
	lacks := func(what string, obj map[string]json.RawMessage, unwanted ...string) {
		t.Helper()
		for _, k := range unwanted {
			if v, ok := obj[k]; ok {
				t.Errorf("%s: has %q (%s)", what, k, v)
			}
		}
	}
	for _, q := range keys("queues", "ls") {
		has("queues ls", q, "name", "paused", "max_size", "urgent_priority", "counts")
		lacks("queues ls", q, "Name", "MaxSize", "Counts")
		if string(q["name"]) == `"idle"` {
			lacks("queues ls, a queue without jobs", q, "oldest_queued_at")
			if c := string(q["counts"]); c != "{}" {
				t.Errorf("queues ls, a queue without jobs: counts %s, want {}", c)
			}
		}
	}
	page := keys("schedules", "ls", "--limit", "1")[0]
	has("schedules ls", page, "schedules", "next_after_key")
	lacks("schedules ls", page, "Schedules", "NextAfterKey")
	last := keys("schedules", "ls", "--after", "a")[0]
	has("schedules ls, last page", last, "schedules")
	lacks("schedules ls, last page", last, "next_after_key")
	var jobs struct {
		Jobs []map[string]json.RawMessage `json:"jobs"`
	}
	lacks("jobs ls, last page", keys("jobs", "ls")[0], "next_after_id")
	e.jsonOut(&jobs, "jobs", "ls")
	if len(jobs.Jobs) != 1 {
		t.Fatalf("jobs ls: %d jobs, want 1", len(jobs.Jobs))
	}
	has("jobs ls, a queued job", jobs.Jobs[0], "id", "state", "run_at", "created_at")
	lacks("jobs ls, a queued job", jobs.Jobs[0], "lease_until", "started_at", "finished_at")
	// Durations as the HTTP API writes them, not nanoseconds.
	for what, got := range map[string]json.RawMessage{
		`job timeout "1m30s"`:           keys("jobs", "show", "1")[0]["timeout"],
		`schedule jitter "1.5s"`:        keys("schedules", "show", "a")[0]["jitter"],
		`schedule misfire_grace "1m0s"`: keys("schedules", "show", "a")[0]["misfire_grace"],
	} {
		if want := what[strings.Index(what, `"`):]; string(got) != want {
			t.Errorf("%s: got %s", what, got)
		}
	}
}

// TestServeSurvivesKillAndShutsDownGracefully starts `rota serve` as a real
// process with an exec worker, kills it with SIGKILL mid-run, starts it
// again, interrupts a third run with SIGTERM, and checks that every job ends
// done, that killed attempts were retried after their lease expired, and
// that no job's work completed twice.
func TestServeSurvivesKillAndShutsDownGracefully(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, e *env, _ string) { testServeSurvivesKill(t, e) },
		// A lease of 3 s: with 1 s, a heartbeat delayed by a loaded machine
		// (the race detector in CI) let a lease expire under a running job.
		"ROTA_LEASE_DURATION=3s", "ROTA_SHUTDOWN_TIMEOUT=50ms", "ROTA_ABORT_GRACE=2s")
}

func testServeSurvivesKill(t *testing.T, e *env) {
	const jobs = 24
	workers := filepath.Join(e.dir, "workers")
	if err := os.Mkdir(workers, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each job logs its start, waits until the gate file exists, then logs
	// its end: the test decides when work can finish, so no step depends on
	// how fast the machine is. The waiting and the end are in a subshell, a
	// child of the command, as a real worker's work often is (sh -c "cd app
	// && python3 worker.py"): the kill must end it too, or it would log its
	// end beside the job's retry.
	log := filepath.Join(e.dir, "work.log")
	gate := filepath.Join(e.dir, "gate")
	script := fmt.Sprintf(`echo "start $ROTA_JOB_ID $ROTA_ATTEMPT" >> %[1]s; (while [ ! -e %[2]s ]; do sleep 0.02; done; echo "end $ROTA_JOB_ID $ROTA_ATTEMPT" >> %[1]s); echo '{"ok":true}'`, log, gate)
	cfg, _ := json.Marshal(map[string]any{"exec": script, "max_workers": 4, "max_attempts": 5})
	if err := os.WriteFile(filepath.Join(workers, "e2e.sleep.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	e.vars = append(e.vars, "ROTA_WORKERS_DIR="+workers)
	for i := range jobs {
		e.ok("enqueue", "e2e.sleep", fmt.Sprintf(`{"i":%d}`, i))
	}
	lines := func(prefix string) []string {
		f, err := os.Open(log)
		if err != nil {
			return nil
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				out = append(out, sc.Text())
			}
		}
		return out
	}
	serve := func() *exec.Cmd {
		cmd := e.command("serve")
		cmd.Stderr = &testWriter{t: t, prefix: "serve: "}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // a failed test must not leave it running
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		return cmd
	}

	// Run 1: killed while 4 jobs run.
	s1 := serve()
	waitFor(t, 60*time.Second, "4 starts", func() bool { return len(lines("start ")) >= 4 })
	if err := s1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s1.Wait()
	if c := e.counts(); c[store.StateRunning] != 4 {
		t.Fatalf("want the killed node's 4 jobs left running: %v", c)
	}

	// Run 2: starts 4 more jobs; a graceful stop puts them back, not counted.
	run2 := time.Now()
	s2 := serve()
	waitFor(t, 60*time.Second, "4 more starts", func() bool { return len(lines("start ")) >= 8 })
	if err := s2.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s2.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	// Still running now: only jobs of the killed run whose lease run 2 did
	// not yet take back; none that run 2 started.
	var running struct {
		Jobs []store.Job `json:"jobs"`
	}
	e.jsonOut(&running, "jobs", "ls", "--state", "running")
	for _, j := range running.Jobs {
		if !j.StartedAt.Before(run2) {
			t.Errorf("job %d started by run 2 (%s) is still running after its graceful stop", j.ID, j.StartedAt)
		}
	}

	// Run 3: the gate opens; the killed node's jobs come back after their
	// lease expires, and everything finishes.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s3 := serve()
	done := func() int64 { return e.counts()[store.StateDone] }
	waitFor(t, 120*time.Second, "all jobs done", func() bool { return done() == jobs })
	if err := s3.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s3.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}

	// No job's work completed twice: one "end" line per job.
	ends := map[string]int{}
	for _, l := range lines("end ") {
		ends[strings.Fields(l)[1]]++
	}
	if len(ends) != jobs {
		t.Errorf("%d distinct jobs completed their work, want %d", len(ends), jobs)
	}
	for id, n := range ends {
		if n != 1 {
			t.Errorf("job %s completed its work %d times", id, n)
		}
	}
	// Killed attempts are recorded as lost and were retried; interrupted ones are not counted.
	var page struct {
		Jobs []store.Job `json:"jobs"`
	}
	e.jsonOut(&page, "jobs", "ls", "--limit", "100")
	var lost, interrupted int
	for _, j := range page.Jobs {
		full := store.Job{}
		e.jsonOut(&full, "jobs", "show", fmt.Sprint(j.ID))
		if full.State != store.StateDone || compact(t, full.Result) != `{"ok":true}` {
			t.Errorf("job %d: %s result %s", j.ID, full.State, full.Result)
		}
		counted := 0
		for i, at := range full.Attempts {
			switch at.Outcome {
			case store.OutcomeLost:
				lost++
				counted++
				if at.Node != "e2e" {
					t.Errorf("job %d: lost attempt names node %q", j.ID, at.Node)
				}
			case store.OutcomeInterrupted:
				interrupted++
			case store.OutcomeDone:
				counted++
				if i != len(full.Attempts)-1 {
					t.Errorf("job %d: done attempt is not the last: %+v", j.ID, full.Attempts)
				}
			default:
				t.Errorf("job %d: unexpected attempt %+v", j.ID, at)
			}
		}
		if full.Attempt != counted {
			t.Errorf("job %d: attempt counter %d, counted attempts %d (%+v)", j.ID, full.Attempt, counted, full.Attempts)
		}
	}
	if lost == 0 {
		t.Error("no attempt was recorded as lost after SIGKILL")
	}
	if interrupted == 0 {
		t.Error("no attempt was recorded as interrupted after SIGTERM")
	}
}

// compact returns JSON without insignificant space (the CLI indents its output).
func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compact %s: %v", b, err)
	}
	return buf.String()
}

// testWriter sends a process's output to the test log.
type testWriter struct {
	t      *testing.T
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + l)
	}
	return len(p), nil
}

// TestEnqueueUsesKindFile: with ROTA_WORKERS_DIR set, a CLI enqueue takes
// the kind's queue, priority and attempts from its file (over the
// defaults file), and flags still win.
func TestEnqueueUsesKindFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := filepath.Join(e.dir, "workers")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"_defaults.json":   `{"max_attempts": 7}`,
		"demo.tuned.json":  `{"queue": "analysis", "priority": 50}`,
		"demo.broken.json": `{"priority": "high"`,
		"demo.ranked.json": `{"ranker": {"name": "recency", "window": "3d"}, "priority": 50}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.vars = append(e.vars, "ROTA_WORKERS_DIR="+dir)
	var j store.Job
	e.jsonOut(&j, "enqueue", "demo.tuned", "{}")
	if j.Queue != "analysis" || j.Priority != 50 || j.MaxAttempts != 7 {
		t.Errorf("from the kind's file: queue %s priority %d attempts %d, want analysis 50 7", j.Queue, j.Priority, j.MaxAttempts)
	}
	e.jsonOut(&j, "enqueue", "demo.tuned", "{}", "--queue", "urgent", "--priority", "3", "--max-attempts", "2")
	if j.Queue != "urgent" || j.Priority != 3 || j.MaxAttempts != 2 {
		t.Errorf("flags: queue %s priority %d attempts %d, want urgent 3 2", j.Queue, j.Priority, j.MaxAttempts)
	}
	// The kind's ranker sets the priority (over its file's priority) unless
	// the flag gives one: a key that never ran is 2, a person's job 1.
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--key", "host-1"}, rota.RecencyNeverRan},
		{[]string{"--key", "host-2", "--user-requested"}, rota.RecencyUserPriority},
		{[]string{"--key", "host-3", "--priority", "9"}, 9},
	} {
		e.jsonOut(&j, append([]string{"enqueue", "demo.ranked", "{}"}, tc.args...)...)
		if j.Priority != tc.want {
			t.Errorf("ranked kind %v: priority %d, want %d", tc.args, j.Priority, tc.want)
		}
	}
	// A kind whose file does not parse gets the defaults, with a warning naming the file.
	out, errOut, code := e.cli("enqueue", "demo.broken", "{}", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil {
		t.Fatalf("enqueue demo.broken: exit %d %s %s", code, out, errOut)
	}
	if j.Priority != store.DefaultPriority || j.MaxAttempts != 7 || !strings.Contains(errOut, "demo.broken.json") {
		t.Errorf("broken file: priority %d attempts %d, stderr %q", j.Priority, j.MaxAttempts, errOut)
	}
}

// nodeRow is a row of `rota nodes ls --json`.
type nodeRow = rota.NodeInfo

// TestNodesLs runs two `rota serve` processes on one store and checks what
// `rota nodes ls` shows: both alive with their host, pid, queues and kinds,
// one leader; after SIGKILL of the leader, the other leads within about the
// leader lease and the killed one turns stale; after SIGTERM, stopped.
func TestNodesLs(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, e *env, _ string) { testNodesLs(t, e) },
		"ROTA_LEASE_DURATION=600ms", "ROTA_LEADER_LEASE=1s", "ROTA_QUEUES=default=2,mail=1", "ROTA_SHUTDOWN_TIMEOUT=1s")
}

func testNodesLs(t *testing.T, e *env) {
	const leaderLease = time.Second
	var rows []nodeRow
	e.ok("migrate")
	e.jsonOut(&rows, "nodes", "ls")
	if rows == nil || len(rows) != 0 {
		t.Fatalf("nodes ls on a new store: %#v, want []", rows)
	}
	if out := e.ok("nodes", "ls"); !strings.HasPrefix(out, "NODE") || strings.Count(out, "\n") != 1 {
		t.Errorf("table on a new store: %q, want only the header", out)
	}

	workers := filepath.Join(e.dir, "workers")
	if err := os.Mkdir(workers, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(workers, "e2e.echo.json"), []byte(`{"exec": "cat"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.vars = append(e.vars, "ROTA_WORKERS_DIR="+workers)
	serve := func(node string) *exec.Cmd {
		cmd := e.command("serve", "--node-id", node)
		cmd.Stderr = &testWriter{t: t, prefix: node + ": "}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		return cmd
	}
	procs := map[string]*exec.Cmd{"node-a": serve("node-a"), "node-b": serve("node-b")}
	byID := func() map[string]nodeRow {
		e.jsonOut(&rows, "nodes", "ls")
		m := make(map[string]nodeRow, len(rows))
		for _, r := range rows {
			m[r.ID] = r
		}
		return m
	}
	leaderOf := func(m map[string]nodeRow) (string, int) {
		var id string
		n := 0
		for _, r := range m {
			if r.Leader {
				id, n = r.ID, n+1
			}
		}
		return id, n
	}

	var m map[string]nodeRow
	// The kinds of the worker files arrive with a node's first heartbeat
	// after they are loaded, so they are part of the wait.
	waitFor(t, 60*time.Second, "both nodes alive with their kinds, one leading", func() bool {
		m = byID()
		_, n := leaderOf(m)
		return len(m) == 2 && m["node-a"].State == "alive" && m["node-b"].State == "alive" && n == 1 &&
			fmt.Sprint(m["node-a"].Kinds) == "[e2e.echo]" && fmt.Sprint(m["node-b"].Kinds) == "[e2e.echo]"
	})
	host, _ := os.Hostname()
	// The nodes are this test binary: they register its version, as `rota
	// version` prints it ("devel": go test records no VCS revision).
	ver := version.Read().Version
	for id, cmd := range procs {
		r := m[id]
		if r.Host != host || r.PID != cmd.Process.Pid || fmt.Sprint(r.Queues) != "[default mail]" ||
			fmt.Sprint(r.Kinds) != "[e2e.echo]" || r.HeartbeatInterval != 200*time.Millisecond || r.StartedAt.IsZero() ||
			r.Version != ver {
			t.Errorf("%s: %+v, want version %q", id, r, ver)
		}
	}
	leader, _ := leaderOf(m)
	other := map[string]string{"node-a": "node-b", "node-b": "node-a"}[leader]
	table := e.ok("nodes", "ls")
	for _, want := range []string{"NODE", "LEADER", "STATE", "LAST HEARTBEAT", "QUEUES", "KINDS"} {
		if !strings.Contains(table, want) {
			t.Errorf("table header lacks %s:\n%s", want, table)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		f := strings.Fields(line)
		wantLeader := fmt.Sprint(f[0] == leader)
		if len(f) < 5 || f[3] != wantLeader || f[4] != "alive" || !strings.Contains(line, "default,mail") || !strings.Contains(line, "e2e.echo") ||
			f[len(f)-1] != ver {
			t.Errorf("table row %q: want leader %s, alive, its queues and kinds, version %s", line, wantLeader, ver)
		}
	}

	// The leader dies: the other node leads within about the lease, and
	// the dead one turns stale.
	if err := procs[leader].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procs[leader].Wait()
	killed := time.Now()
	var tookOver time.Duration
	waitFor(t, 60*time.Second, other+" leading and "+leader+" stale", func() bool {
		m = byID()
		if tookOver == 0 && m[other].Leader {
			tookOver = time.Since(killed)
		}
		return m[other].Leader && !m[leader].Leader && m[leader].State == "stale" && m[other].State == "alive"
	})
	t.Logf("%s led %s after %s was killed (leader lease %s)", other, tookOver, leader, leaderLease)
	// The polls start a CLI process each, and under the race detector on a
	// loaded machine one poll can take seconds: the bound is loose on
	// purpose. It still fails a takeover that waits for anything longer
	// than the leader lease (a job lease, a restart).
	if tookOver > 10*leaderLease {
		t.Errorf("%s led %s after the leader died; want about the leader lease %s", other, tookOver, leaderLease)
	}

	// A graceful stop: stopped, and no leader left.
	if err := procs[other].Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := procs[other].Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	m = byID()
	if r := m[other]; r.State != "stopped" || r.Leader || r.StoppedAt.IsZero() {
		t.Errorf("after SIGTERM: %+v", r)
	}
	if _, n := leaderOf(m); n != 0 {
		t.Errorf("%d leaders after every node stopped", n)
	}
}

// TestBenchProfiles: --cpuprofile and --memprofile write their profile
// (gzipped protocol buffers, as go tool pprof reads them); a path that
// cannot be created is bad input (exit 2, naming the flag).
func TestBenchProfiles(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"cpuprofile", "memprofile"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			prof := filepath.Join(e.dir, flag+".prof")
			e.ok("bench", "throughput", "-n", "200", "--"+flag, prof)
			if b, err := os.ReadFile(prof); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("profile %s: %v, %d bytes, want a gzip stream", prof, err, len(b))
			}
			_, errOut, code := e.cli("bench", "throughput", "-n", "200", "--"+flag, filepath.Join(e.dir, "no", "such", "dir", "x.prof"))
			if code != 2 || !strings.Contains(errOut, flag) {
				t.Errorf("unwritable profile: exit %d, %q; want 2 naming %s", code, errOut, flag)
			}
		})
	}
}

// TestBenchEventLogFlag: the bench's --event-log takes on or off, as the
// global setting of that name does (it was a bool, and --event-log=off,
// the global's spelling, was refused); off is the bench's default.
func TestBenchEventLogFlag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		args   []string
		logged bool
	}{
		{nil, false},
		{[]string{"--event-log", "on"}, true},
		{[]string{"--event-log=ON"}, true},
		{[]string{"--event-log", "off"}, false},
	} {
		var res struct {
			EventLog     bool   `json:"event_log"`
			EventsLogged uint64 `json:"events_logged"`
		}
		e.jsonOut(&res, append([]string{"bench", "throughput", "-n", "50"}, c.args...)...)
		// Each job makes at least two events (running, done) once the log runs.
		if res.EventLog != c.logged || (res.EventsLogged >= 100) != c.logged {
			t.Errorf("bench throughput %v: event_log %v, %d events logged; want the log on: %v", c.args, res.EventLog, res.EventsLogged, c.logged)
		}
	}
	for _, bad := range [][]string{{"--event-log", "maybe"}, {"--event-log"}} {
		_, errOut, code := e.cli(append([]string{"bench", "throughput", "-n", "50"}, bad...)...)
		if code != exitUsage || !strings.Contains(errOut, "--event-log") {
			t.Errorf("bench throughput %v: exit %d, %q; want %d naming --event-log", bad, code, errOut, exitUsage)
		}
	}
}

// TestBenchSchedulesOutput: bench schedules prints its figures as lines of
// their own (the process CPU line began with " ; ") and has no -n: its jobs
// are the fires of --schedules for --duration, and -n was silently ignored.
// A --duration within the warm-up is bad input.
func TestBenchSchedulesOutput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.ok("bench", "schedules", "--duration", "3s", "--schedules", "5")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "schedules on sqlite: ") {
		t.Fatalf("bench schedules:\n%s", out)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "  ") || strings.HasPrefix(strings.TrimSpace(l), ";") {
			t.Errorf("bench schedules: line %q is not a figure of its own:\n%s", l, out)
		}
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "  process CPU ") }) {
		t.Errorf("bench schedules: no process CPU line:\n%s", out)
	}
	if _, errOut, code := e.cli("bench", "schedules", "-n", "5"); code != exitUsage || !strings.Contains(errOut, "-n") {
		t.Errorf("bench schedules -n 5: exit %d, %q; want %d naming -n", code, errOut, exitUsage)
	}
	// A run no longer than the warm-up measures nothing: bad input, not a failure.
	if _, errOut, code := e.cli("bench", "schedules", "--duration", "2s"); code != exitUsage || !strings.Contains(errOut, "duration") {
		t.Errorf("bench schedules --duration 2s: exit %d, %q; want %d naming duration", code, errOut, exitUsage)
	}
}

// TestBenchSchedulesLookahead: bench schedules writes its fires ahead as
// the global setting (ROTA_SCHEDULE_LOOKAHEAD, --schedule-lookahead) says,
// which it ignored for its own --lookahead; --lookahead still overrides it.
func TestBenchSchedulesLookahead(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		vars, args []string
		ahead      bool
	}{
		{[]string{"ROTA_SCHEDULE_LOOKAHEAD=0"}, nil, false},
		{[]string{"ROTA_SCHEDULE_LOOKAHEAD=0"}, []string{"--lookahead", "1s"}, true},
	} {
		e := newEnv(t, c.vars...)
		var res struct {
			FiresAhead   int `json:"fires_ahead"`
			FiresStarted int `json:"fires_started"`
		}
		e.jsonOut(&res, append([]string{"bench", "schedules", "--duration", "3s", "--schedules", "3"}, c.args...)...)
		if res.FiresStarted == 0 || (res.FiresAhead > 0) != c.ahead {
			t.Errorf("%v %v: %d fires written ahead, %d started; want some ahead: %v", c.vars, c.args, res.FiresAhead, res.FiresStarted, c.ahead)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"postgres://rota:s3cret@db:5432/jobs?sslmode=disable", "postgres://rota:xxxxx@db:5432/jobs?sslmode=disable"},
		{"postgres://db/jobs", "postgres://db/jobs"},
		{"rota.db", "rota.db"},
		{"/var/lib/rota/rota.db", "/var/lib/rota/rota.db"},
	} {
		if got := redactURL(c.in); got != c.want {
			t.Errorf("redactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestJobsLsNextPageHint checks that the "more:" line of a partial page is
// a command that gives the next page: it keeps the filters, the limit and
// the order (it once said only `rota jobs ls --after N`), quoted for a shell.
func TestJobsLsNextPageHint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []int64
	for i := range 3 {
		var j store.Job
		e.jsonOut(&j, "enqueue", "page.k", fmt.Sprintf(`{"i":%d}`, i), "--metadata", "team=a b's", "--hold")
		ids = append(ids, j.ID)
		e.ok("enqueue", "page.other", "{}", "--hold") // not in the filter
	}
	args := []string{"jobs", "ls", "--kind", "page.k", "--metadata", "team=a b's", "--limit", "1", "--asc"}
	var seen []int64
	for page := 0; ; page++ {
		out, errOut, code := e.cli(args...)
		if code != 0 {
			t.Fatalf("rota %v: exit %d: %s", args, code, errOut)
		}
		for line := range strings.Lines(out) {
			if f := strings.Fields(line); len(f) > 0 && f[0] != "ID" {
				id, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					t.Fatalf("page %d: line %q", page, line)
				}
				seen = append(seen, id)
			}
		}
		hint, ok := strings.CutPrefix(strings.TrimSpace(errOut), "more: rota ")
		if !ok {
			if errOut != "" {
				t.Fatalf("page %d: stderr %q", page, errOut)
			}
			break
		}
		want := fmt.Sprintf(`jobs ls --asc --kind page.k --limit 1 --metadata 'team=a b'\''s' --after %d`, seen[len(seen)-1])
		if hint != want {
			t.Fatalf("page %d: hint %q, want %q", page, hint, want)
		}
		// The shell reads the hint back into the arguments of the next page.
		split, err := exec.Command("sh", "-c", `printf '%s\0' `+hint).Output()
		if err != nil {
			t.Fatal(err)
		}
		args = strings.Split(strings.TrimSuffix(string(split), "\x00"), "\x00")
		if page > len(ids) {
			t.Fatalf("more pages than jobs: %v", seen)
		}
	}
	if !slices.Equal(seen, ids) {
		t.Errorf("pages listed %v, want %v", seen, ids)
	}
}

// TestDurationFlagsReadAsTheHTTPAPI checks that the duration flags of the
// commands take what the HTTP API takes for a duration: a Go duration that
// may start with whole days, or a bare number of seconds.
func TestDurationFlagsReadAsTheHTTPAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const day = 24 * time.Hour
	for _, tt := range []struct {
		args      []string
		delay     time.Duration // run_at - created_at
		timeout   time.Duration
		wantState store.State
	}{
		{[]string{"--delay", "7d"}, 7 * day, 0, store.StateScheduled},
		{[]string{"--delay", "1d12h"}, 36 * time.Hour, 0, store.StateScheduled},
		{[]string{"--delay", "90"}, 90 * time.Second, 0, store.StateScheduled},
		{[]string{"--timeout", "7d"}, 0, 7 * day, store.StateQueued},
		{[]string{"--timeout", "1.5"}, 0, 1500 * time.Millisecond, store.StateQueued},
	} {
		var j store.Job
		e.jsonOut(&j, append([]string{"enqueue", "report.build", "{}"}, tt.args...)...)
		// The delay runs from the enqueue's own clock reading, the CLI's;
		// created_at is the store's, a moment later or earlier.
		if got := j.RunAt.Sub(j.CreatedAt); j.State != tt.wantState || j.Timeout != tt.timeout ||
			got < tt.delay-time.Minute || got > tt.delay+time.Minute {
			t.Errorf("enqueue %v: %s, timeout %s, runs %s after its creation; want %s, timeout %s, delay %s",
				tt.args, j.State, j.Timeout, got, tt.wantState, tt.timeout, tt.delay)
		}
	}
	var s store.Schedule
	e.jsonOut(&s, "schedules", "create", "a", "--kind", "report.build", "--spec", "daily", "--jitter", "1d", "--misfire-grace", "90")
	if s.Jitter != day || s.MisfireGrace != 90*time.Second {
		t.Errorf("schedules create --jitter 1d --misfire-grace 90: jitter %s, misfire grace %s", s.Jitter, s.MisfireGrace)
	}
	e.jsonOut(&s, "schedules", "update", "a", "--jitter", "3600", "--misfire-grace", "2d")
	if s.Jitter != time.Hour || s.MisfireGrace != 2*day {
		t.Errorf("schedules update --jitter 3600 --misfire-grace 2d: jitter %s, misfire grace %s", s.Jitter, s.MisfireGrace)
	}
}

// TestJobsLsFilterLists checks that --state, --kind and --queue of rota
// jobs ls take comma-separated lists, as GET /v1/jobs does, as well as
// repeated flags: on the store and over --server alike.
func TestJobsLsFilterLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remoteTokens())
	enqueue := func(args ...string) int64 {
		t.Helper()
		var j store.Job
		e.jsonOut(&j, append([]string{"enqueue"}, args...)...)
		return j.ID
	}
	abQueued := enqueue("a.b", "{}")
	abScheduled := enqueue("a.b", "{}", "--delay", "1h")
	cdReady := enqueue("c.d", "{}", "--hold", "--queue", "mail")
	cdScheduled := enqueue("c.d", "{}", "--delay", "1h", "--queue", "mail")
	efQueued := enqueue("e.f", "{}", "--queue", "other")
	// No worker runs these kinds: the jobs stay as they are.
	remote := remoteEnv(e, startServe(t, e, "--log-level", "info").base, remoteAdmin)
	cases := []struct {
		filters []string
		want    []int64
	}{
		{[]string{"--state", "queued,scheduled"}, []int64{abQueued, abScheduled, cdScheduled, efQueued}},
		{[]string{"--state", "queued", "--state", "ready"}, []int64{abQueued, cdReady, efQueued}},
		{[]string{"--state", " scheduled , ,"}, []int64{abScheduled, cdScheduled}},
		{[]string{"--kind", "a.b,e.f"}, []int64{abQueued, abScheduled, efQueued}},
		{[]string{"--kind", "c.d", "--kind", "e.f", "--state", "scheduled,ready"}, []int64{cdReady, cdScheduled}},
		{[]string{"--queue", "mail,other"}, []int64{cdReady, cdScheduled, efQueued}},
		{[]string{"--queue", "default", "--queue", "other", "--kind", "a.b,c.d"}, []int64{abQueued, abScheduled}},
	}
	for _, via := range []struct {
		name string
		e    *env
	}{{"store", e}, {"server", remote}} {
		for _, tc := range cases {
			args := append([]string{"jobs", "ls", "--asc"}, tc.filters...)
			out, errOut, code := via.e.cli(append(args, "--json")...)
			var page struct {
				Jobs []store.Job `json:"jobs"`
			}
			if err := json.Unmarshal([]byte(out), &page); code != 0 || err != nil {
				t.Errorf("%s: rota %s: exit %d, %v: %s", via.name, strings.Join(args, " "), code, err, errOut)
				continue
			}
			got := make([]int64, len(page.Jobs))
			for i, j := range page.Jobs {
				got[i] = j.ID
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: rota %s: jobs %v, want %v", via.name, strings.Join(args, " "), got, tc.want)
			}
		}
		_, errOut, code := via.e.cli("jobs", "ls", "--state", "queued,finished")
		if code != exitUsage || !strings.Contains(errOut, `invalid state: "finished" is not one of`) {
			t.Errorf("%s: --state queued,finished: exit %d, %q; want %d naming the bad state", via.name, code, errOut, exitUsage)
		}
	}
}

// TestJobsShowMultiLineError checks that an exec worker's standard error,
// which has several lines, takes one line in each table that shows it (the
// attempts of rota jobs show, and rota jobs ls), and that --json keeps it
// as it is.
func TestJobsShowMultiLineError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	workers := filepath.Join(e.dir, "workers")
	if err := os.Mkdir(workers, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(workers, "e2e.fail.json"), []byte(`{"max_attempts": 1,
		"exec": "cat >/dev/null; printf 'Traceback:\\n\\tline 3\\nValueError: bad\\n' >&2; exit 1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.vars = append(e.vars, "ROTA_WORKERS_DIR="+workers)
	var j store.Job
	e.jsonOut(&j, "enqueue", "e2e.fail", "{}")
	startServe(t, e, "--log-level", "info")
	id := fmt.Sprint(j.ID)
	waitFor(t, 60*time.Second, "the job to fail", func() bool {
		e.jsonOut(&j, "jobs", "show", id)
		return j.State == store.StateError
	})
	if len(j.Attempts) != 1 || !strings.Contains(j.Attempts[0].Error, "Traceback:\n\tline 3\nValueError: bad") {
		t.Fatalf("jobs show --json: attempts %+v, want one whose error has the lines of standard error", j.Attempts)
	}
	const oneLine = `Traceback:\n\tline 3\nValueError: bad`
	show := e.ok("jobs", "show", id)
	_, attempts, _ := strings.Cut(show, "\nattempts:\n")
	if lines := strings.Split(strings.TrimSuffix(attempts, "\n"), "\n"); len(lines) != 2 || !strings.Contains(lines[1], oneLine) {
		t.Errorf("jobs show: attempts table not a header and one line with the error as %s:\n%s", oneLine, show)
	}
	// jobs ls shows the start of the error (its line break a space, its
	// tab escaped), in its column.
	ls := strings.Split(strings.TrimSuffix(e.ok("jobs", "ls"), "\n"), "\n")
	column := func(l, s string) int { return utf8.RuneCountInString(l[:max(strings.Index(l, s), 0)]) }
	if len(ls) != 2 || column(ls[0], "LAST ERROR") != column(ls[1], "execworker:") || !strings.HasSuffix(ls[1], `Traceback: \t…`) {
		t.Errorf("jobs ls: not a header and one line with the error in its column:\n%s", strings.Join(ls, "\n"))
	}
}
