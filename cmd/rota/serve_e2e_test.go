package main

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// servingRE finds the HTTP address in rota serve's "rota serving" log line.
var servingRE = regexp.MustCompile(`msg="rota serving".* http=(\S+)`)

// serveProc is a running rota serve, started by startServe.
type serveProc struct {
	cmd  *exec.Cmd
	base string      // http://host:port
	logs chan string // its log lines (a bounded copy); closed when it closes stderr
}

// startServe starts `rota serve` with args in e (which must log at info,
// for the address; the port should be 0), logs its lines to t, and waits
// until it says where it listens and answers /readyz. A process still
// running when the test ends is killed.
func startServe(t *testing.T, e *env, args ...string) *serveProc {
	t.Helper()
	cmd := e.command(append([]string{"serve"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, logs: make(chan string, 1000)}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	addr := make(chan string, 1)
	go func() {
		defer close(p.logs)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			t.Log("serve: " + line)
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
			select {
			case p.logs <- line:
			default:
			}
		}
	}()
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("rota serve did not say where it listens")
	}
	waitFor(t, 30*time.Second, "rota serve ready", func() bool {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, p.base+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// waitLog waits for a log line that match accepts (what names it in a
// failure). Lines read are gone for later calls.
func (p *serveProc) waitLog(t *testing.T, what string, match func(line string) bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.logs:
			if !ok {
				t.Fatalf("rota serve closed its log before logging %s", what)
			}
			if match(line) {
				return
			}
		case <-timeout:
			t.Fatalf("timed out waiting for rota serve to log %s", what)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range p.logs { // until the process closes stderr
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
}

// TestBenchThroughServer: rota bench takes the global --server setting, by
// flag or by ROTA_SERVER, and runs its workloads through that server's
// API; the schedules workload refuses it.
func TestBenchThroughServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "ROTA_LISTEN=127.0.0.1:0", "ROTA_LOG_LEVEL=info")
	p := startServe(t, e)
	if out := e.ok("bench", "enqueue", "-n", "200", "--server", p.base); !strings.Contains(out, "enqueue on http: 200 jobs") {
		t.Errorf("bench enqueue --server: %s", out)
	}
	byEnv := *e
	byEnv.vars = append(append([]string(nil), e.vars...), "ROTA_SERVER="+p.base)
	if out := byEnv.ok("bench", "throughput", "-n", "300"); !strings.Contains(out, "throughput on http: 300 jobs") {
		t.Errorf("ROTA_SERVER bench throughput: %s", out)
	}
	if _, errOut, code := byEnv.cli("bench", "schedules", "--duration", "1s"); code != 2 || !strings.Contains(errOut, "server") {
		t.Errorf("bench schedules with a server: exit %d, %q; want 2 naming the server", code, errOut)
	}
	// Flags about this process's own run were silently ignored.
	for _, flag := range [][]string{{"--event-log", "on"}, {"--cpuprofile", filepath.Join(e.dir, "c.prof")}, {"--memprofile", filepath.Join(e.dir, "m.prof")}} {
		_, errOut, code := byEnv.cli(append([]string{"bench", "throughput", "-n", "10"}, flag...)...)
		if code != 2 || !strings.Contains(errOut, strings.TrimPrefix(flag[0], "--")) || !strings.Contains(errOut, "--server") {
			t.Errorf("bench throughput %v with a server: exit %d, %q; want 2 naming the flag and --server", flag, code, errOut)
		}
	}
}
