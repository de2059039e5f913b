package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tokens of the remote CLI tests.
const (
	remoteAdmin  = "remote-admin-0123456789"
	remoteReader = "remote-reader-0123456789"
)

func remoteTokens() string {
	return "ROTA_TOKENS=cli:admin:" + remoteAdmin + ",dash:read:" + remoteReader
}

// remoteEnv is env with the CLI pointed at server with token: by the
// variables, and with a store URL that must never be opened.
func remoteEnv(e *env, server, token string) *env {
	r := *e
	r.vars = append(append([]string(nil), e.vars...), "ROTA_SERVER="+server, "ROTA_DATABASE_URL="+filepath.Join(e.dir, "never-opened.db"))
	if token != "" {
		r.vars = append(r.vars, "ROTA_TOKEN="+token)
	}
	return &r
}

var (
	timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?`)
	agoRE  = regexp.MustCompile(`\([^()]* ago\)|\(in the future\)`)
)

// normalize replaces times (other than the zero time) and ages, which
// differ between two stores that saw the same commands.
func normalize(s string) string {
	s = timeRE.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "0001-01-01") {
			return m
		}
		return "<time>"
	})
	return agoRE.ReplaceAllString(s, "(<age>)")
}

// TestRemoteCLIMatchesLocal runs the same commands against two stores: one
// with the CLI on the store, one with the CLI over HTTP on a rota serve of
// the other (--server/ROTA_SERVER and a token). Output (text and --json),
// messages and exit codes must be the same, times aside. Then the read-only
// commands run on one store both ways and must print exactly the same.
func TestRemoteCLIMatchesLocal(t *testing.T) {
	// Its two rota serve processes are killed at its end, their exit
	// unchecked, so a race in them could not fail it; the CLI over HTTP
	// (package remote) and the API it calls (package server) are raced in
	// their own tests, and rota serve in the other tests here.
	skipUnderRace(t, "it compares the output of some 300 one-shot CLI processes")
	t.Parallel()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			var pgLocal, pgServed []string
			if driver == "postgres" {
				pgLocal, pgServed = postgresEnv(t), postgresEnv(t)
			}
			served := newEnv(t, append(pgServed, remoteTokens())...)
			served.vars = append(served.vars, "ROTA_WORKERS_DIR="+echoWorker(t, served.dir))
			testRemoteCLIMatchesLocal(t, newEnv(t, append(pgLocal, remoteTokens())...), served)
		})
	}
}

func testRemoteCLIMatchesLocal(t *testing.T, local, served *env) {
	startServe(t, local, "--log-level", "info") // both stores have a node, so both show one
	base := startServe(t, served, "--log-level", "info").base
	remote := remoteEnv(served, base, remoteAdmin)

	steps := [][]string{
		// Jobs.
		{"enqueue", "a.b", `{"x":1}`, "--key", "k1", "--metadata", "org=acme", "--priority", "5", "--timeout", "90s"},
		{"enqueue", "a.b", "--hold", "--max-attempts", "3"},
		{"enqueue", "c.d", "{}", "--queue", "scans/deep", "--delay", "1h"},
		{"enqueue", "c.d", `{"y":[1,2]}`, "--json", "--run-at", "2030-01-02T03:04:05Z"},
		{"enqueue", "a.b", "-", "--key", "k2", "--json"},
		{"enqueue", "a.b", "{}", "--key", "k1", "--on-conflict", "reject"},
		{"enqueue", "a.b", "{}", "--key", "k1"},
		{"enqueue", "bad kind!"},
		{"enqueue", "a.b", "{}", "--priority", "99999"},
		{"enqueue", "a.b", "{}", "--on-conflict", "replace"},
		{"enqueue", "a.b", "{}", "--delay", "-1h"},
		{"jobs", "ls"},
		{"jobs", "ls", "--json"},
		{"jobs", "ls", "--limit", "2"},
		{"jobs", "ls", "--after", "4", "--limit", "2", "--json"},
		{"jobs", "ls", "--asc", "--after", "1"},
		{"jobs", "ls", "--kind", "a.b", "--metadata", "org=acme", "--state", "queued"},
		{"jobs", "ls", "--queue", "scans/deep", "--created-from", "2020-01-01T00:00:00Z"},
		{"jobs", "ls", "--state", "finished"},
		{"jobs", "show", "1"},
		{"jobs", "show", "1", "--json"},
		{"jobs", "show", "999"},
		{"jobs", "release", "2"},
		{"jobs", "release", "1"},
		{"jobs", "cancel", "1", "--reason", "not needed"},
		{"jobs", "cancel", "1"},
		{"jobs", "cancel", "--kind", "a.b", "--key", "k2", "--json"},
		{"jobs", "cancel", "--kind", "a.b", "--key", "k2"},
		{"jobs", "cancel", "--kind", "a.b", "--key", "nope"},
		{"jobs", "retry", "1"},
		{"jobs", "retry", "3"},
		{"jobs", "delete", "4", "--json"},
		{"jobs", "delete", "999"},
		{"jobs", "show", "1", "--json"},
		// Queues.
		{"queues", "pause", "scans/deep"},
		{"queues", "set", "default", "--max-size", "10", "--urgent-priority", "2", "--json"},
		{"queues", "resume", "scans/deep", "--json"},
		{"queues", "set", "default", "--urgent-priority", "40000"},
		{"queues", "set", "bad name", "--max-size", "1"},
		{"queues", "ls"},
		{"queues", "ls", "--json"},
		// Stats.
		{"stats"},
		{"stats", "--json"},
		{"stats", "--hours", "-1"},
		{"stats", "--hours", "745"},
		{"nodes", "ls", "extra"},
		// Schedules.
		{"schedules", "create", "nightly/report", "--kind", "report", "--spec", "daily at 02:00", "--tz", "Europe/Amsterdam",
			"--metadata", "team=ops", "--args", `{"full":true}`, "--jitter", "30s", "--misfire", "all", "--misfire-cap", "5"},
		{"schedules", "create", "every10", "--kind", "scan.host", "--spec", "every 10 minutes", "--json", "--disabled"},
		{"schedules", "create", "nightly/report", "--kind", "report", "--spec", "hourly"},
		{"schedules", "create", "bad", "--kind", "report", "--spec", "every 10 parsecs"},
		{"schedules", "create", "bad", "--kind", "report", "--spec", "hourly", "--tz", "Mars/Olympus"},
		{"schedules", "create", "bad key", "--kind", "report", "--spec", "hourly"},
		{"schedules", "create", "bad", "--spec", "hourly"},
		{"schedules", "create", "bad", "--kind", "report", "--spec", "hourly", "--misfire", "later"},
		{"schedules", "ls"},
		{"schedules", "ls", "--json"},
		{"schedules", "ls", "--limit", "1"},
		{"schedules", "ls", "--after", "every10", "--json"},
		{"schedules", "ls", "--kind", "report"},
		{"schedules", "show", "nightly/report"},
		{"schedules", "show", "every10", "--json"},
		{"schedules", "show", "nope"},
		{"schedules", "update", "nightly/report", "--spec", "daily at 03:00", "--overlap", "skip", "--priority", "3"},
		{"schedules", "update", "nightly/report", "--overlap", "sometimes"},
		{"schedules", "update", "nope", "--spec", "hourly"},
		{"schedules", "update", "every10", "--metadata", "a=b", "--json"},
		{"schedules", "disable", "nightly/report", "--reason", "maintenance"},
		{"schedules", "enable", "every10", "--json"},
		{"schedules", "enable", "nope"},
		{"schedules", "disable", "nope"},
		{"schedules", "show", "nightly/report", "--json"},
		{"schedules", "rm", "every10"},
		{"schedules", "rm", "every10"},
		{"schedules", "rm", "nightly/report", "--json"},
		{"schedules", "next", "daily at 10:00", "--tz", "Europe/Amsterdam", "--after", "2026-03-28T12:00:00Z", "-n", "3"},
		{"schedules", "ls", "--json"},
	}
	codes := map[int]int{}
	for _, args := range steps {
		stdin := ""
		if len(args) > 2 && args[2] == "-" {
			stdin = `{"from":"stdin"}`
		}
		lOut, lErr, lCode := local.cliIn(stdin, args...)
		rOut, rErr, rCode := remote.cliIn(stdin, args...)
		codes[lCode]++
		if lCode != rCode || normalize(lOut) != normalize(rOut) || normalize(lErr) != normalize(rErr) {
			t.Errorf("rota %s:\nlocal  exit %d\n%s%s\nremote exit %d\n%s%s", strings.Join(args, " "),
				lCode, lOut, lErr, rCode, rOut, rErr)
		}
		// Both name the active job of a refused duplicate, from the store
		// or from the server's answer.
		if want := `rota: job 1, of kind "a.b", is active with the key "k1" (--on-conflict reject)`; slices.Contains(args, "reject") &&
			(strings.TrimSpace(lErr) != want || strings.TrimSpace(rErr) != want) {
			t.Errorf("rota %s: local %q, remote %q, want %q", strings.Join(args, " "), lErr, rErr, want)
		}
	}
	// The steps cover success, bad input and missing things.
	if codes[exitOK] < 40 || codes[exitUsage] < 10 || codes[exitError] < 10 {
		t.Errorf("exit codes of the steps: %v", codes)
	}

	// Read-only commands on one store, both ways: exactly the same output.
	served.ok("schedules", "create", "s1", "--kind", "report", "--spec", "hourly", "--disabled") // it must not fire between two runs
	// A job that ran, with its attempt and result.
	var ran struct {
		ID int64 `json:"id"`
	}
	remote.jsonOut(&ran, "enqueue", "e2e.echo", `{"n":1}`)
	ranID := strconv.FormatInt(ran.ID, 10)
	waitFor(t, 60*time.Second, "the echo job to be done", func() bool {
		return strings.Contains(remote.ok("jobs", "show", ranID), "state:     done")
	})
	for _, args := range [][]string{
		{"jobs", "ls", "--json"}, {"jobs", "ls"}, {"jobs", "show", "1", "--json"}, {"jobs", "show", "2"},
		{"jobs", "show", ranID}, {"jobs", "show", ranID, "--json"},
		{"queues", "ls", "--json"}, {"queues", "ls"}, {"stats", "--json"}, {"stats"},
		{"stats", "--hours", "700", "--json"}, {"stats", "--hours", "3"},
		{"schedules", "ls", "--json"}, {"schedules", "show", "s1"},
	} {
		lOut, lErr, lCode := served.cli(args...)
		rOut, rErr, rCode := remote.cli(args...)
		if lCode != 0 || rCode != 0 || lOut != rOut || lErr != rErr {
			t.Errorf("rota %s on one store:\nlocal  exit %d\n%s%s\nremote exit %d\n%s%s", strings.Join(args, " "),
				lCode, lOut, lErr, rCode, rOut, rErr)
		}
	}
	// nodes ls shows the last heartbeat and its age, which move between
	// two runs (and so may the width of the table's columns).
	for _, args := range [][]string{{"nodes", "ls"}, {"nodes", "ls", "--json"}} {
		lOut, rOut := served.ok(args...), remote.ok(args...)
		if strings.Join(strings.Fields(normalize(lOut)), " ") != strings.Join(strings.Fields(normalize(rOut)), " ") {
			t.Errorf("%v:\nlocal\n%s\nremote\n%s", args, lOut, rOut)
		}
	}
	if _, err := os.Stat(filepath.Join(served.dir, "never-opened.db")); err == nil {
		t.Error("the remote CLI opened the store of ROTA_DATABASE_URL")
	}
}

// TestRemoteCLIAuth: a missing, wrong or too weak token exits 2 with the
// server's message, and no output shows the token; serve and migrate
// refuse --server.
func TestRemoteCLIAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remoteTokens())
	base := startServe(t, e, "--log-level", "info").base
	for _, tc := range []struct {
		name  string
		token string
		args  []string
		wants []string
	}{
		{"no token", "", []string{"jobs", "ls"}, []string{"needs a bearer token", "--token", "ROTA_TOKEN"}},
		{"wrong token", "wrong-token-0123456789", []string{"queues", "ls"}, []string{"unknown token", "--token"}},
		{"read token enqueues", remoteReader, []string{"enqueue", "a.b"}, []string{`token "dash" has role read`, "write"}},
		{"read token deletes a schedule", remoteReader, []string{"schedules", "rm", "x"}, []string{"role read", "admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := remoteEnv(e, base, tc.token)
			r.t = t
			out, errOut, code := r.cli(tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d: %s", code, exitUsage, errOut)
			}
			for _, w := range tc.wants {
				if !strings.Contains(errOut, w) {
					t.Errorf("message %q does not say %q", errOut, w)
				}
			}
			if tc.token != "" && strings.Contains(out+errOut, tc.token) {
				t.Errorf("the output shows the token: %s%s", out, errOut)
			}
		})
	}
	// With --server and --token as flags; --help never shows the token.
	out := e.ok("jobs", "ls", "--json", "--server", base, "--token", remoteReader)
	if !strings.Contains(out, `"jobs": []`) {
		t.Errorf("jobs ls with flags: %s", out)
	}
	r := remoteEnv(e, base, remoteAdmin)
	help, _, _ := r.cli("jobs", "ls", "--help")
	if strings.Contains(help, remoteAdmin) || !strings.Contains(help, "--server") {
		t.Errorf("help shows the token or lacks --server:\n%s", help)
	}
	// A server that does not answer is an error (exit 1) naming it.
	down := remoteEnv(e, "http://127.0.0.1:1", remoteAdmin)
	if _, errOut, code := down.cli("jobs", "ls"); code != exitError || !strings.Contains(errOut, "127.0.0.1:1") || strings.Contains(errOut, remoteAdmin) {
		t.Errorf("server down: exit %d: %s", code, errOut)
	}
	// Commands on the store itself refuse --server, before opening anything.
	for _, args := range [][]string{{"serve"}, {"migrate"}} {
		_, errOut, code := r.cli(args...)
		if code != exitUsage || !strings.Contains(errOut, "--server") || !strings.Contains(errOut, "rota "+args[0]) {
			t.Errorf("%v with --server: exit %d: %s", args, code, errOut)
		}
	}
	if _, errOut, code := e.cli("jobs", "ls", "--server", "ftp://me:pw-0123456789@h"); code != exitUsage || !strings.Contains(errOut, "--server") || strings.Contains(errOut, "pw-0123456789") {
		t.Errorf("a bad server URL with a password: exit %d: %s", code, errOut)
	}
}

// echoWorker writes a workers directory under dir where kind e2e.echo runs
// a command that answers {"ok":true}, and returns it.
func echoWorker(t *testing.T, dir string) string {
	t.Helper()
	workers := filepath.Join(dir, "workers")
	if err := os.Mkdir(workers, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(workers, "e2e.echo.json"),
		[]byte(`{"exec": "cat >/dev/null; echo '{\"ok\":true}'"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return workers
}
