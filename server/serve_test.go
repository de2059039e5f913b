package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeLimitsAndShutdown serves on a real listener: headers over the
// limit are refused, a body over the limit is 413 before the handler reads
// it, and Shutdown ends a waiting long poll, fails readiness and stops Serve.
func TestServeLimitsAndShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: Options{MaxHeaderBytes: 4 << 10, MaxBodyBytes: 2 << 10}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	hc := &http.Client{Timeout: waitTimeout}

	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("big headers: %d", resp.StatusCode)
	}
	resp, err = hc.Post(base+"/v1/jobs", "application/json", strings.NewReader(`{"kind":"a","args":"`+strings.Repeat("x", 4<<10)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), CodeTooLarge) {
		t.Errorf("big body: %d %s", resp.StatusCode, b)
	}

	polled := make(chan int, 1)
	go func() {
		resp, err := hc.Post(base+"/v1/queues/idle/pop", "application/json", strings.NewReader(`{"wait":"50s"}`))
		if err != nil {
			polled <- -1
			return
		}
		resp.Body.Close()
		polled <- resp.StatusCode
	}()
	waitFor(t, "the pop to wait", func() bool { return len(e.srv.polls.slots) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case code := <-polled:
		if code != http.StatusServiceUnavailable {
			t.Errorf("long poll at shutdown: %d", code)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the long poll did not end")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if _, err := hc.Get(base + "/healthz"); err == nil {
		t.Error("the server still answers after Shutdown")
	}
	if r := e.do("GET", "/readyz", "", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz after Shutdown: %d", r.status)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Serve(ln2); err != nil || !errors.Is(ln2.Close(), net.ErrClosed) {
		t.Errorf("Serve after Shutdown: %v; want nil with the listener closed", err)
	}
}
