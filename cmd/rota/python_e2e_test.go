package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pythonWorkerScript is the example remote worker of the Python client,
// relative to this package.
var pythonWorkerScript = filepath.Join("..", "..", "clients", "python", "examples", "worker.py")

// TestPythonWorkerKilledMidJob is issue 5's end-to-end check of remote
// workers: rota serve as a process, the CLI enqueues, a Python worker
// (clients/python) leases the job and is SIGKILLed mid-job; the lease
// expires, the job is rescued (attempt 1 lost) and a second Python worker
// runs it to done.
func TestPythonWorkerKilledMidJob(t *testing.T) {
	t.Parallel()
	python := requirePython(t)
	// The leader rescues expired leases every ROTA_LEASE_DURATION/2.
	e := newEnv(t, "ROTA_LOG_LEVEL=info", "ROTA_LEASE_DURATION=1s")
	base := startServe(t, e).base
	requireLeaseRoutes(t, base)

	const kind = "py.e2e.sleep"
	var job struct {
		ID int64 `json:"id"`
	}
	e.jsonOut(&job, "enqueue", kind, `{"block_first": true}`)

	first, firstOut := startPythonWorker(t, python, base, kind, "first")
	waitLine(t, firstOut, fmt.Sprintf("started %d 1", job.ID))
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	// Gone without a word: the job stays running until its lease expires.
	var shown struct {
		State    string         `json:"state"`
		Attempt  int            `json:"attempt"`
		Result   map[string]any `json:"result"`
		Attempts []struct {
			Number  int    `json:"number"`
			Outcome string `json:"outcome"`
		} `json:"attempts"`
	}
	e.jsonOut(&shown, "jobs", "show", fmt.Sprint(job.ID))
	if shown.Attempt != 1 {
		t.Fatalf("after the kill: attempt %d, want 1 (%+v)", shown.Attempt, shown)
	}

	_, secondOut := startPythonWorker(t, python, base, kind, "second")
	waitLine(t, secondOut, fmt.Sprintf("started %d 2", job.ID))
	waitFor(t, 60*time.Second, "the job to be done", func() bool {
		e.jsonOut(&shown, "jobs", "show", fmt.Sprint(job.ID))
		return shown.State == "done"
	})
	if shown.Attempt != 2 || len(shown.Attempts) != 2 {
		t.Fatalf("done job: attempt %d with %d attempts recorded, want 2 and 2: %+v", shown.Attempt, len(shown.Attempts), shown)
	}
	if a := shown.Attempts[0]; a.Number != 1 || a.Outcome != "lost" {
		t.Errorf("first attempt: %+v, want number 1 lost", a)
	}
	if a := shown.Attempts[1]; a.Number != 2 || a.Outcome != "done" {
		t.Errorf("second attempt: %+v, want number 2 done", a)
	}
	if shown.Result["attempt"] != float64(2) || shown.Result["worker"] != "second" {
		t.Errorf("result %v, want attempt 2 by the second worker", shown.Result)
	}
}

// requirePython returns the path of python3, skipping the test without it
// unless ROTA_TEST_REQUIRE_SERVICES=1 (as in CI), where it fails.
func requirePython(t *testing.T) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("ROTA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("python3 is required with ROTA_TEST_REQUIRE_SERVICES=1: %v", err)
		}
		t.Skipf("no python3 on PATH (%v): the Python worker test needs it", err)
	}
	return python
}

// requireLeaseRoutes fails the test early, saying why, when the server has
// no lease protocol (POST /v1/leases is 404).
func requireLeaseRoutes(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Post(base+"/v1/leases", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		t.Fatal("this server has no lease routes (POST /v1/leases is 404)")
	}
}

// startPythonWorker runs the example Python worker for kind against base,
// named name, and returns it with a channel of its stdout lines; its logs go
// to the test log. It is killed when the test ends.
func startPythonWorker(t *testing.T, python, base, kind, name string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(python, pythonWorkerScript, "--server", base, "--kind", kind, "--name", name,
		"--lease", "2", "--wait", "1", "--concurrency", "1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stderrDone, stdoutDone := make(chan struct{}), make(chan struct{})
	// Wait only after the readers are done, and log nothing after the test ends.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-stderrDone
		<-stdoutDone
		_ = cmd.Wait()
	})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(name + ": " + sc.Text())
		}
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(stdoutDone)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody waits for so many lines
			}
		}
	}()
	return cmd, lines
}

// waitLine waits for want on lines.
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the worker ended before printing %q", want)
			}
			if line == want {
				return
			}
		case <-timeout:
			t.Fatalf("timed out waiting for the worker to print %q", want)
		}
	}
}
