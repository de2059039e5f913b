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
	want := `loaded: [divvy.start_resource divvy.stop_resource]
scheduled 3 events, first is scheduled
rejected tracker: job 1: invalid priority: -5 is out of range 0..32767
stop events stored: 0
every event started at or after its time: true
start i-0a1 (bot night-shift)
start i-0b2 (bot night-shift)
start i-0c3 (bot night-shift)
after unload: []
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}
