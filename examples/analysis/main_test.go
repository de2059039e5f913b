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
	msg := func(status string) string {
		return `{"tenant_id":9,"user_id":7,"document_id":"65e08e66bfe58ba848bccee0","run_type":"SSI","status":"` + status + `"}`
	}
	want := strings.Join([]string{msg("READY"), msg("QUEUED"), msg("RUNNING"), msg("ABORTED"),
		"abort of an unknown analysis ignored", `final state aborted, error "aborted by the user"`}, "\n") + "\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}
