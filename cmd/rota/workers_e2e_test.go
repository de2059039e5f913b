package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// TestServeFollowsWorkerFiles edits a running `rota serve`'s workers
// directory: a changed custom key reaches the command, a new file binds a
// new kind, a bad file is logged with its path and reason while its last
// good version stays bound, a changed exec rebinds the kind, and a file
// whose exec is gone unbinds it. No step restarts the server.
func TestServeFollowsWorkerFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := filepath.Join(e.dir, "workers")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.vars = append(e.vars, "ROTA_WORKERS_DIR="+dir)
	// write replaces a file the way editors do (write aside, rename), so the
	// server never reads it half written.
	write := func(name, content string) {
		t.Helper()
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("_defaults.json", `{"max_attempts": 4, "greeting": "hello"}`)
	// `cat` answers with its input: the job, with the config it was given.
	write("e2e.cfg.json", `{"exec": "cat", "mode": "a"}`)

	srv := startServe(t, e, "--log-level", "info")

	// run enqueues a job of kind and returns it once it is final.
	run := func(kind string) store.Job {
		t.Helper()
		var j store.Job
		e.jsonOut(&j, "enqueue", kind, "{}")
		waitFor(t, 30*time.Second, "job of "+kind+" to finish", func() bool {
			e.jsonOut(&j, "jobs", "show", jsonID(j.ID))
			return j.State.Final()
		})
		if j.State != store.StateDone {
			t.Fatalf("job %d of %s ended %s: %s", j.ID, kind, j.State, j.LastError)
		}
		return j
	}
	// config returns the config object a `cat` job's command was given.
	config := func(j store.Job) map[string]any {
		t.Helper()
		var in struct {
			Config map[string]any `json:"config"`
		}
		if err := json.Unmarshal(j.Result, &in); err != nil {
			t.Fatalf("job %d: result %s: %v", j.ID, j.Result, err)
		}
		return in.Config
	}

	// The kind's file merged over the defaults, custom keys included.
	j := run("e2e.cfg")
	if c := config(j); c["mode"] != "a" || c["greeting"] != "hello" || j.MaxAttempts != 4 {
		t.Errorf("first job: config %v, max attempts %d; want mode a, the defaults' greeting and 4 attempts", c, j.MaxAttempts)
	}

	// A changed custom key reaches the next commands.
	write("e2e.cfg.json", `{"exec": "cat", "mode": "b"}`)
	waitFor(t, 30*time.Second, "the changed mode to reach the command", func() bool { return config(run("e2e.cfg"))["mode"] == "b" })

	// A new file binds a new kind.
	write("e2e.new.json", `{"exec": ["echo", "{\"new\": true}"]}`)
	waitFor(t, 30*time.Second, "the new kind to run", func() bool {
		var j store.Job
		e.jsonOut(&j, "enqueue", "e2e.new", "{}")
		waitFor(t, 30*time.Second, "the new kind's job to leave queued", func() bool {
			e.jsonOut(&j, "jobs", "show", jsonID(j.ID))
			return j.State.Final()
		})
		return j.State == store.StateDone && compact(t, j.Result) == `{"new":true}`
	})

	// A bad file is reported with its path and reason; its last good
	// version stays in force.
	bad := filepath.Join(dir, "e2e.cfg.json")
	if err := os.WriteFile(bad, []byte(`{"exec": "cat", "mode": "c", "max_workers": -1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.waitLog(t, "the bad file", func(line string) bool {
		return strings.Contains(line, bad) && strings.Contains(line, "max_workers") && strings.Contains(line, "keeping its last good version")
	})
	if c := config(run("e2e.cfg")); c["mode"] != "b" {
		t.Errorf("with a bad file the command got mode %v, want the last good b", c["mode"])
	}

	// A changed exec rebinds the kind.
	write("e2e.cfg.json", `{"exec": ["echo", "{\"rebound\": true}"]}`)
	waitFor(t, 30*time.Second, "the new command to run", func() bool { return compact(t, run("e2e.cfg").Result) == `{"rebound":true}` })

	// A file without exec unbinds its kind: its jobs wait, others run.
	write("e2e.new.json", `{"mode": "no command"}`)
	waitFor(t, 30*time.Second, "the kind without a command to be left waiting", func() bool {
		var waiting store.Job
		e.jsonOut(&waiting, "enqueue", "e2e.new", "{}")
		run("e2e.cfg") // the node claims while the new job waits
		e.jsonOut(&waiting, "jobs", "show", jsonID(waiting.ID))
		if waiting.State != store.StateQueued {
			return false
		}
		_, _, _ = e.cli("jobs", "cancel", jsonID(waiting.ID))
		return true
	})

	srv.stop(t)
}

// jsonID formats a job id for the command line.
func jsonID(id int64) string { return strconv.FormatInt(id, 10) }
