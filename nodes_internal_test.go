package rota

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestProcessAlive(t *testing.T) {
	t.Parallel()
	// A child that exited and is not yet reaped is a zombie: not alive.
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := child.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for !zombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d did not become a zombie", pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
	tests := []struct {
		name string
		pid  int
		want bool
	}{
		{"this process", os.Getpid(), true},
		{"its parent", os.Getppid(), true},
		{"a zombie", pid, false},
		{"no pid", 0, false},
		{"negative", -1, false},
	}
	for _, tt := range tests {
		if got := processAlive(tt.pid); got != tt.want {
			t.Errorf("%s: processAlive(%d) = %v, want %v", tt.name, tt.pid, got, tt.want)
		}
	}
	if err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	if processAlive(pid) {
		t.Errorf("processAlive(%d) after it was reaped = true", pid)
	}
}
