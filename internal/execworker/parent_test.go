package execworker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// helperEnv, when "1", makes the test binary run one command with Run
// (the shell in helperShellEnv) instead of the tests: a stand-in for a rota
// process that a test can SIGKILL.
const (
	helperEnv      = "ROTA_EXECWORKER_HELPER"
	helperShellEnv = "ROTA_EXECWORKER_HELPER_SHELL"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		_, err := Run(context.Background(), Command{Shell: os.Getenv(helperShellEnv)}, Input{}, Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCommandDiesWithItsParent kills the process that runs a command with
// SIGKILL and checks that everything in the command's process group dies
// with it, also the processes the command started (the kernel's
// parent-death signal reaches only the process that was started).
func TestCommandDiesWithItsParent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		shell string // must write $DIR/group once its children run
	}{
		{"background child", `sleep 300 & ` + untilExeced + `; ` + echoPGID + ` > "$DIR/group"; wait`},
		{"foreground child of sh -c", echoPGID + ` > "$DIR/group"; sleep 300; echo "outlived rota" > "$DIR/late"`},
		{"child that left the shell's job control", `(trap '' TERM; exec sleep 300) & ` + echoPGID + ` > "$DIR/group"; wait`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			helper := exec.Command(os.Args[0], "-test.run=^$")
			helper.Env = append(os.Environ(), helperEnv+"=1", helperShellEnv+"="+tt.shell, "DIR="+dir)
			if err := helper.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = helper.Process.Kill()
				_ = helper.Wait()
			})
			pgid := readPID(t, filepath.Join(dir, "group"))
			// A failed test leaves no orphans behind.
			t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
			if !groupAlive(pgid) {
				t.Fatalf("process group %d is not running before the kill", pgid)
			}
			if err := helper.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = helper.Wait()
			waitFor(t, 15*time.Second, fmt.Sprintf("process group %d to die with its parent", pgid), func() bool {
				return !groupAlive(pgid)
			})
			if _, err := os.Stat(filepath.Join(dir, "late")); err == nil {
				t.Error("the command went on after its parent was killed")
			}
		})
	}
}
