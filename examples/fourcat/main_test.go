package main

import (
	"context"
	"path/filepath"
	"regexp"
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
	want := []string{
		`elections done    attempts counted 1, history 1, result {"posts":90,"query":"elections"}`,
		// The retry-later attempt is in the history but not counted.
		`busy      done    attempts counted 1, history 2, result {"posts":40,"query":"busy"}`,
		`forbidden aborted attempts counted 1, history 1, error "query not allowed"`,
		// The crash is counted, retried after the backoff, and its panic
		// stays in the history with its location: the line that called
		// parseSince, then the panic's own line.
		`crash     done    attempts counted 2, history 2, result {"posts":50,"query":"crash"}, error "panic: cannot parse date in \"crash\""`,
		`crash     attempt 1: panic: cannot parse date in "crash" at main.go:NN -> main.go:NN`,
		`clean_up ran 6 times`,
	}
	lineNumbers := regexp.MustCompile(`main\.go:[0-9]+`)
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i := range want {
		if lineNumbers.ReplaceAllString(got[i], "main.go:NN") != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
