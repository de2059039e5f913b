package main

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tokens of the bench's cleanup tests.
const (
	benchAdmin = "bench-admin-0123456789"
	benchWrite = "bench-write-0123456789"
)

// benchQueues returns the bench-<random> queues the store of e lists,
// with how many jobs each holds.
func benchQueues(t *testing.T, e *env) map[string]int64 {
	t.Helper()
	var qs []struct {
		Name   string           `json:"name"`
		Counts map[string]int64 `json:"counts"`
	}
	e.jsonOut(&qs, "queues", "ls")
	out := map[string]int64{}
	for _, q := range qs {
		if strings.HasPrefix(q.Name, "bench-") {
			for _, n := range q.Counts {
				out[q.Name] += n
			}
		}
	}
	return out
}

// TestBenchThroughServerCleansUp: rota bench --server deletes the jobs of
// its bench-<random> queue when it ends, so that the server lists the
// queue no more: after a run, and after a run a first SIGINT stopped; not
// after a second interrupt, nor with --keep. A token that may not delete
// jobs is refused before the run (exit 2), unless with --keep.
func TestBenchThroughServerCleansUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "ROTA_TOKENS=admin:admin:"+benchAdmin+",w:write:"+benchWrite)
	base := startServe(t, e, "--log-level", "info").base
	admin := remoteEnv(e, base, benchAdmin)
	writer := remoteEnv(e, base, benchWrite)

	for _, tc := range []struct {
		name string
		e    *env
		args []string
		code int
		out  string // in stdout
		err  string // in stderr ("" for none)
		left int64  // jobs of the bench queue left on the server (-1: no queue)
	}{
		{"enqueue", admin, []string{"bench", "enqueue", "-n", "120"}, exitOK, "its 120 jobs deleted from the server", "", -1},
		{"throughput", admin, []string{"bench", "throughput", "-n", "150", "--workers", "2"}, exitOK, "its 150 jobs deleted", "", -1},
		{"latency", admin, []string{"bench", "latency", "-n", "5", "--every", "1ms"}, exitOK, "its 6 jobs deleted", "", -1},
		{"json", admin, []string{"bench", "enqueue", "-n", "30", "--json"}, exitOK, `"deleted": 30`, "", -1},
		{"keep", admin, []string{"bench", "enqueue", "-n", "40", "--keep"}, exitOK, "kept on the server with its jobs (--keep)", "", 40},
		// Refused before the run: nothing enqueued, nothing left.
		{"write token", writer, []string{"bench", "enqueue", "-n", "50"}, exitUsage, "",
			"invalid token: the token may not delete jobs (DELETE /v1/jobs/0: 403", -1},
		{"write token, keep", writer, []string{"bench", "enqueue", "-n", "50", "--keep"}, exitOK, "enqueue on http: 50 jobs", "", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := benchQueues(t, e)
			out, errOut, code := tc.e.cli(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || (tc.err == "") != (errOut == "") || !strings.Contains(errOut, tc.err) {
				t.Errorf("rota %s: exit %d, stdout %q, stderr %q; want exit %d, %q in stdout, %q in stderr",
					strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.out, tc.err)
			}
			var left int64 = -1
			for q, n := range benchQueues(t, e) {
				if _, ok := before[q]; !ok {
					left = n
				}
			}
			if left != tc.left {
				t.Errorf("the new bench queue holds %d jobs after the run (-1: none), want %d", left, tc.left)
			}
		})
	}
	if _, errOut, code := e.cli("bench", "enqueue", "-n", "10", "--keep"); code != exitUsage || !strings.Contains(errOut, "--server") {
		t.Errorf("--keep without --server: exit %d, %q; want %d naming --server", code, errOut, exitUsage)
	}

	// Interrupted: a first signal stops the run, and the cleanup runs; a
	// second (SIGTERM after SIGINT, two signals that cannot merge into
	// one) stops the cleanup.
	for _, tc := range []struct {
		name    string
		signals []os.Signal
		err     string // in stderr
		notErr  string // not in stderr
		left    bool   // the queue is left with jobs
	}{
		{"once", []os.Signal{syscall.SIGINT}, "interrupt signal received", "cleanup", false},
		{"twice", []os.Signal{syscall.SIGINT, syscall.SIGTERM}, "bench: cleanup interrupted", "", true},
	} {
		t.Run("interrupted "+tc.name, func(t *testing.T) {
			before := benchQueues(t, e)
			cmd := admin.command("bench", "enqueue", "-n", "100000000", "--concurrency", "1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					<-exited
				}
			})
			var queue string
			waitFor(t, 60*time.Second, "the bench's first jobs", func() bool {
				for q, n := range benchQueues(t, e) {
					if _, ok := before[q]; !ok && n > 0 {
						queue = q
						return true
					}
				}
				return false
			})
			for _, s := range tc.signals {
				if err := cmd.Process.Signal(s); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				t.Fatal("rota bench did not exit after the signals")
			}
			if code := cmd.ProcessState.ExitCode(); code != exitError || !strings.Contains(stderr.String(), tc.err) ||
				(tc.notErr != "" && strings.Contains(stderr.String(), tc.notErr)) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q (and not %q)", code, stderr.String(), exitError, tc.err, tc.notErr)
			}
			if n, ok := benchQueues(t, e)[queue]; ok != tc.left || (ok && n == 0) {
				t.Errorf("after the signals the server lists %s: %v, with %d jobs; want it listed with jobs: %v", queue, ok, n, tc.left)
			}
		})
	}
}
