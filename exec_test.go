package rota_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

// writeScript writes an executable /bin/sh script and returns its path.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "worker.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecWorker(t *testing.T) {
	t.Parallel()
	script := writeScript(t, `
input=$(cat)
case "$1" in
ok)
	echo "working on job $ROTA_JOB_ID attempt $ROTA_ATTEMPT"
	name=$(printf '%s' "$input" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p')
	printf '{"greeting":"hello %s","kind":"%s"}\n' "$name" "$ROTA_JOB_KIND"
	;;
later)
	echo "rate limited, try later" >&2
	exit 75
	;;
later5m)
	echo "rate limited for five minutes" >&2
	echo '{"retry_after":"5m"}'
	exit 75
	;;
fail)
	echo "the input was bad" >&2
	exit 1
	;;
esac
`)
	tests := []struct {
		name       string
		worker     rota.Worker
		want       rota.State
		wantOut    rota.Outcome
		wantResult string
		wantErr    string
		check      func(t *testing.T, j *rota.Job, enqueued time.Time)
	}{
		{
			name:       "done with the last stdout line as result",
			worker:     rota.Command(script, "ok"),
			want:       rota.StateDone,
			wantOut:    "done",
			wantResult: `{"greeting":"hello ada","kind":"test.exec"}`,
		},
		{
			name:    "exit 75 retries later",
			worker:  rota.ShellCommand(script + " later"),
			want:    rota.StateScheduled,
			wantOut: "retry_later",
			check: func(t *testing.T, j *rota.Job, enqueued time.Time) {
				if j.Attempt != 0 {
					t.Errorf("attempt = %d, want 0 (not counted)", j.Attempt)
				}
				if a := lastAttempt(t, j); !containsAll(a.Error, "exit status 75", "rate limited, try later") || j.LastError != "" {
					t.Errorf("attempt error %q, job error %q: want stderr in the attempt only", a.Error, j.LastError)
				}
				if d := j.RunAt.Sub(enqueued); d < rota.DefaultExecRetryDelay-time.Second {
					t.Errorf("run_at is %s after enqueue, want about %s", d, rota.DefaultExecRetryDelay)
				}
			},
		},
		{
			name:    "exit 75 retries after the command's own delay",
			worker:  rota.Command(script, "later5m"),
			want:    rota.StateScheduled,
			wantOut: "retry_later",
			check: func(t *testing.T, j *rota.Job, enqueued time.Time) {
				if d := j.RunAt.Sub(enqueued); j.Attempt != 0 || d < 5*time.Minute-time.Second || d > 5*time.Minute+time.Minute {
					t.Errorf("attempt %d, run_at %s after enqueue; want 0 and about 5m", j.Attempt, d)
				}
				if j.Result != nil {
					t.Errorf("result %s: the retry_after line is not a result", j.Result)
				}
			},
		},
		{
			name:    "exit 1 fails with stderr",
			worker:  rota.Command(script, "fail"),
			want:    rota.StateError,
			wantOut: "error",
			wantErr: "the input was bad",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := setup(t, rota.Options{}, func(c *rota.Client) { must(t, c.Register("test.exec", tt.worker)) })
			enqueued := time.Now()
			j := enqueue(t, c, "test.exec", map[string]string{"name": "ada"}, rota.MaxAttempts(1))
			j = waitJob(t, c, j.ID, string(tt.want), func(j *rota.Job) bool { return j.State == tt.want && len(j.Attempts) > 0 })
			if a := lastAttempt(t, j); a.Outcome != tt.wantOut {
				t.Errorf("outcome = %s (%s), want %s", a.Outcome, a.Error, tt.wantOut)
			}
			if tt.wantResult != "" && string(j.Result) != tt.wantResult {
				t.Errorf("result = %s, want %s", j.Result, tt.wantResult)
			}
			if !strings.Contains(j.LastError, tt.wantErr) {
				t.Errorf("last error = %q, want it to contain %q", j.LastError, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, j, enqueued)
			}
		})
	}
}

func TestExecWorkerAbortKillsProcess(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := setup(t, rota.Options{}, func(c *rota.Client) {
		must(t, c.Register("test.exec.long", rota.ShellCommand(`echo $$ > `+pidFile+`; exec sleep 600`)))
	})
	j := enqueue(t, c, "test.exec.long", nil)
	var pid int
	waitFor(t, "the command to start", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	_, err := c.Abort(context.Background(), j.ID, "enough")
	must(t, err)
	j = waitState(t, c, j.ID, rota.StateAborted)
	if a := lastAttempt(t, j); a.Outcome != "aborted" {
		t.Errorf("outcome = %s, want aborted", a.Outcome)
	}
	// The worker returned only once the process group was gone.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after abort (kill -0: %v)", pid, err)
	}
}

// TestExecWorkerStderrLogged checks that a successful command's standard
// error reaches the job's logger at debug level, shown or not by the kind's
// log level.
func TestExecWorkerStderrLogged(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	debug, info := slog.LevelDebug, slog.LevelInfo
	c := setup(t, rota.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))},
		func(c *rota.Client) {
			must(t, c.Register("test.exec.verbose", rota.ShellCommand(`echo "progress: 3 of 3 done" >&2`), rota.KindOptions{LogLevel: &debug}))
			must(t, c.Register("test.exec.quiet", rota.ShellCommand(`echo "quiet progress" >&2`), rota.KindOptions{LogLevel: &info}))
		})
	quiet := enqueue(t, c, "test.exec.quiet", nil)
	verbose := enqueue(t, c, "test.exec.verbose", nil)
	waitState(t, c, quiet.ID, rota.StateDone)
	waitState(t, c, verbose.ID, rota.StateDone)
	out := logs.String()
	if !containsAll(out, "level=DEBUG", "progress: 3 of 3 done", "kind=test.exec.verbose", fmt.Sprintf("job_id=%d", verbose.ID)) {
		t.Errorf("the verbose kind's stderr is not in the log:\n%s", out)
	}
	if strings.Contains(out, "quiet progress") {
		t.Errorf("the stderr of a kind at info level was logged:\n%s", out)
	}
}
