package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, filepath.Join(t.TempDir(), "x.db"), &out); err != nil {
		t.Fatal(err)
	}
	// host-d: a user's own scan (1); host-c: never scanned (2); host-a: 6 of
	// 7 days ago, 3 + round(1/7 * 997) = 145; host-b: 1 hour ago, 3 + round(167/168 * 997) = 994.
	want := `pop host-d priority 1
pop host-c priority 2
pop host-a priority 145
pop host-b priority 994
left in queue: host-e (org other)
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}
