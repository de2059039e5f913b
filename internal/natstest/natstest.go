// Package natstest gives tests NATS servers: the shared one in
// ROTA_TEST_NATS_URL (the test is skipped without it, or fails when
// ROTA_TEST_REQUIRE_SERVICES=1, as in .ci/run), random subject prefixes so
// that tests share it in parallel, and private nats-server processes that a
// test may stop and start again.
package natstest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The environment of the tests that need NATS.
const (
	// EnvURL names the shared test server, like nats://127.0.0.1:4222
	// (with JetStream enabled).
	EnvURL = "ROTA_TEST_NATS_URL"
	// EnvServer is the nats-server binary of Start (default: nats-server
	// on the PATH, else /usr/sbin/nats-server).
	EnvServer = "ROTA_TEST_NATS_SERVER"
	// EnvRequireServices=1 turns a missing server into a failure.
	EnvRequireServices = "ROTA_TEST_REQUIRE_SERVICES"
)

// readyTimeout bounds the wait for a started server to accept clients.
const readyTimeout = 15 * time.Second

// URL returns the shared test server's URL, or skips the test (fails it
// when the services are required).
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		missing(t, EnvURL+" is not set", " (e.g. nats://127.0.0.1:4222, a server with JetStream)")
	}
	return url
}

// missing skips the test for what is missing, or fails it when the
// services are required.
func missing(t testing.TB, what, hint string) {
	t.Helper()
	if os.Getenv(EnvRequireServices) == "1" {
		t.Fatalf("%s and %s=1: NATS is required", what, EnvRequireServices)
	}
	t.Skipf("NATS tests skipped: %s%s", what, hint)
}

// Prefix returns a new subject prefix of two tokens, "rotatest.<random>",
// so that the tests of one server do not see each other's messages.
func Prefix(t testing.TB) string {
	return "rotatest." + Token(t)
}

// Token returns a random subject token (and stream name): 16 hex digits
// after "t".
func Token(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b)
}

// Server is a nats-server process of one test, on a port of its own, with
// JetStream (its store in a temporary directory that outlives restarts).
type Server struct {
	// URL is nats://127.0.0.1:<port>.
	URL string

	t    testing.TB
	bin  string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *lockedBuffer
}

// lockedBuffer is the server's output, written by exec's copying
// goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start starts a private nats-server with JetStream on a free port of
// 127.0.0.1; extra are more of its flags (say --auth TOKEN). It is killed
// when the test ends. Without a nats-server binary the test is skipped (or
// fails when the services are required).
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin := os.Getenv(EnvServer)
	if bin == "" {
		if p, err := exec.LookPath("nats-server"); err == nil {
			bin = p
		} else if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
			bin = "/usr/sbin/nats-server"
		} else {
			missing(t, "no nats-server binary", " (install Debian's nats-server, or set "+EnvServer+")")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	args := append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir()}, extra...)
	s := &Server{URL: "nats://127.0.0.1:" + strconv.Itoa(port), t: t, bin: bin, args: args}
	t.Cleanup(s.kill)
	s.Restart()
	return s
}

// Restart starts the server again after Stop (same port, same JetStream
// store) and waits until it accepts clients.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("natstest: the server is running")
	}
	s.out = new(lockedBuffer)
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("natstest: start %s: %v", s.bin, err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(readyTimeout)
	addr := strings.TrimPrefix(s.URL, "nats://")
	for {
		if ready(addr) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("natstest: %s %s did not accept clients within %s; its output:\n%s", s.bin, strings.Join(s.args, " "), readyTimeout, s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ready reports whether a NATS server at addr sends its INFO line.
func ready(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "INFO ")
}

// Stop kills the server (SIGKILL, like a crash) and waits for it to end.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatal("natstest: the server is not running")
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func (s *Server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
	if s.t.Failed() && s.out != nil {
		s.t.Logf("natstest: nats-server output:\n%s", s.output())
	}
}

// output is the server's output so far.
func (s *Server) output() string {
	if s.out == nil {
		return ""
	}
	return s.out.String()
}
