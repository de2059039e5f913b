package events_test

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/events"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNATSUnreachableWarns: a NATS URL nobody answers is warned about
// (an abort listener sends nothing that would fail and show it), with the
// URL's token hidden.
func TestNATSUnreachableWarns(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a port nobody listens on
	var logs syncBuffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c := newClient(t, openSQLite(t), rota.Options{})
	a, err := events.NewAborter(c, "", lg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := events.NewNATSAbortListener(a, events.NATSAbortOptions{Subject: "rota.abort",
		NATSConnOptions: events.NATSConnOptions{URL: "nats://S3CRETTOKEN@" + addr, ReconnectWait: 20 * time.Millisecond, Logger: lg}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	waitFor(t, "a warning that NATS cannot be reached", func() bool { return strings.Contains(logs.String(), "cannot reach NATS") })
	if out := logs.String(); strings.Contains(out, "S3CRETTOKEN") || !strings.Contains(out, "nats://xxxxx@"+addr) {
		t.Errorf("log:\n%s", out)
	}
}
