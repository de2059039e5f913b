package execworker

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes body to a file in a fresh temporary directory and returns a
// Command that runs it with /bin/sh (running the file through sh, rather
// than exec'ing it, avoids ETXTBSY when parallel tests fork while another
// test's script is still open for writing).
func script(t *testing.T, body string) Command {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return Command{Argv: []string{"/bin/sh", path}}
}

// waitFor polls cond every few milliseconds until it holds, failing the
// test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

// readPID waits for path to hold a pid written by a script.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 10*time.Second, "the script to write "+filepath.Base(path), func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// echoPGID is shell that prints the shell's process group id (the
// supervisor's pid: the command is not the group's leader).
const echoPGID = `(set -- $(cat /proc/$$/stat); echo "$5")`

// assertGroupGone waits until kill(-pgid, 0) says no process of the group
// is left (the reaper of orphans may need a moment for zombies).
func assertGroupGone(t *testing.T, pgid int) {
	t.Helper()
	waitFor(t, 15*time.Second, "process group "+strconv.Itoa(pgid)+" to be gone", func() bool {
		return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
	})
}

func TestRunOutcomes(t *testing.T) {
	t.Parallel()
	longStderr := strings.Repeat("x", 10000)
	tests := []struct {
		name     string
		cmd      func(t *testing.T) Command
		in       Input
		opts     Options
		check    func(t *testing.T, res Result, err error)
		wantJSON string // Output, compared as JSON; "" means nil
		wantLast string
	}{
		{
			name: "success with JSON result",
			cmd: func(t *testing.T) Command {
				return script(t, `cat >/dev/null; echo progress; echo '  {"ok": true, "n": 3}  '`)
			},
			in:       Input{Job: []byte(`{"args":{}}`)},
			wantJSON: `{"ok":true,"n":3}`,
			wantLast: `{"ok": true, "n": 3}`,
		},
		{
			name: "success with non-JSON last line",
			cmd: func(t *testing.T) Command {
				return script(t, "echo '{\"a\":1}'\necho 'all done'\necho ''\necho '   '\n")
			},
			wantLast: "all done",
		},
		{
			name:     "success without trailing newline",
			cmd:      func(t *testing.T) Command { return script(t, `printf '[1,2,3]'`) },
			wantJSON: `[1,2,3]`,
			wantLast: `[1,2,3]`,
		},
		{
			name:     "success with no output",
			cmd:      func(t *testing.T) Command { return script(t, `exit 0`) },
			wantLast: "",
		},
		{
			name:     "shell command",
			cmd:      func(*testing.T) Command { return Command{Shell: `echo '"from sh -c"'`} },
			wantJSON: `"from sh -c"`,
			wantLast: `"from sh -c"`,
		},
		{
			name:     "last line longer than MaxLine is cut and not JSON",
			cmd:      func(t *testing.T) Command { return script(t, `echo '{"a":"0123456789abcdef"}'`) },
			opts:     Options{MaxLine: 10},
			wantLast: `{"a":"0123`,
		},
		{
			name:     "large job on stdin that the command never reads",
			cmd:      func(t *testing.T) Command { return script(t, `echo '{"ignored":true}'`) },
			in:       Input{Job: []byte(`"` + strings.Repeat("j", 1<<20) + `"`)},
			wantJSON: `{"ignored":true}`,
			wantLast: `{"ignored":true}`,
		},
		{
			// The job arrives as one newline-terminated line, so a command
			// that copies it to stdout still ends with its own result line.
			name:     "job echoed, then the result",
			cmd:      func(t *testing.T) Command { return script(t, `cat; echo '{"ok":true}'`) },
			in:       Input{Job: []byte(`{"args":{"n":1}}`)},
			wantJSON: `{"ok":true}`,
			wantLast: `{"ok":true}`,
		},
		{
			name: "env vars and stdin visible to the command",
			cmd: func(t *testing.T) Command {
				c := script(t, `job=$(cat)
printf '{"id":"%s","kind":"%s","queue":"%s","key":"%s","attempt":"%s","extra":"%s","job":%s}\n' \
  "$ROTA_JOB_ID" "$ROTA_JOB_KIND" "$ROTA_JOB_QUEUE" "$ROTA_JOB_KEY" "$ROTA_ATTEMPT" "$EXTRA" "$job"`)
				c.Env = []string{"EXTRA=hello", "ROTA_JOB_ID=spoofed"}
				return c
			},
			in:       Input{ID: 42, Kind: "analysis.ssi", Queue: "mail", Key: "doc-7", Attempt: 3, Job: []byte(`{"args":{"n":1}}`)},
			wantJSON: `{"id":"42","kind":"analysis.ssi","queue":"mail","key":"doc-7","attempt":"3","extra":"hello","job":{"args":{"n":1}}}`,
		},
		{
			name: "working directory",
			cmd: func(t *testing.T) Command {
				c := script(t, `printf '"%s"\n' "$(basename "$(pwd)")"`)
				dir := filepath.Join(t.TempDir(), "workdir")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				c.Dir = dir
				return c
			},
			wantJSON: `"workdir"`,
		},
		{
			name: "exit 75 asks for a retry",
			cmd:  func(t *testing.T) Command { return script(t, `echo 'database busy' >&2; exit 75`) },
			check: func(t *testing.T, _ Result, err error) {
				if !errors.Is(err, ErrRetryLater) {
					t.Fatalf("err = %v, want ErrRetryLater", err)
				}
				var ee *ExitError
				if errors.As(err, &ee) {
					t.Errorf("exit 75 is also an *ExitError: %v", err)
				}
				if !strings.Contains(err.Error(), "database busy") {
					t.Errorf("err = %q, want the stderr tail in it", err)
				}
			},
		},
		{
			name: "exit 3 with stderr tail",
			cmd: func(t *testing.T) Command {
				return script(t, `printf '%s' "`+longStderr+`" >&2; echo '{"partial":1}'; echo 'ünïcode boom' >&2; exit 3`)
			},
			opts: Options{StderrTail: 20},
			check: func(t *testing.T, res Result, err error) {
				var ee *ExitError
				if !errors.As(err, &ee) {
					t.Fatalf("err = %v (%T), want *ExitError", err, err)
				}
				if ee.Code != 3 || ee.Signal != "" {
					t.Errorf("Code, Signal = %d, %q; want 3, \"\"", ee.Code, ee.Signal)
				}
				if len(ee.StderrTail) > 20 || !strings.HasSuffix(ee.StderrTail, "ünïcode boom\n") {
					t.Errorf("StderrTail = %q, want at most 20 bytes ending in the last line", ee.StderrTail)
				}
				if !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "boom") {
					t.Errorf("err = %q, want the status and the stderr tail", err)
				}
				if res.StderrTail != ee.StderrTail {
					t.Errorf("Result.StderrTail = %q, want %q", res.StderrTail, ee.StderrTail)
				}
			},
			wantJSON: `{"partial":1}`,
		},
		{
			name: "killed by a signal",
			cmd:  func(t *testing.T) Command { return script(t, `echo 'about to die' >&2; kill -USR1 $$`) },
			check: func(t *testing.T, _ Result, err error) {
				var ee *ExitError
				if !errors.As(err, &ee) || ee.Signal != "SIGUSR1" || ee.Code != -1 {
					t.Fatalf("err = %#v, want *ExitError with Signal SIGUSR1 and Code -1", err)
				}
				if !strings.Contains(err.Error(), "killed by SIGUSR1: about to die") {
					t.Errorf("err = %q", err)
				}
			},
		},
		{
			// 147 would be death by SIGSTOP: the supervisor must exit with
			// the status, not stop itself (Run would then wait forever).
			name: "exit status of a stop signal is a status",
			cmd:  func(t *testing.T) Command { return script(t, `exit 147`) },
			check: func(t *testing.T, _ Result, err error) {
				var ee *ExitError
				if !errors.As(err, &ee) || ee.Code != 147 || ee.Signal != "" {
					t.Fatalf("err = %#v, want *ExitError with Code 147", err)
				}
			},
		},
		{
			name: "killed by SIGTERM it did not trap",
			cmd:  func(t *testing.T) Command { return script(t, `kill -TERM $$`) },
			check: func(t *testing.T, _ Result, err error) {
				var ee *ExitError
				if !errors.As(err, &ee) || ee.Signal != "SIGTERM" || ee.Code != -1 {
					t.Fatalf("err = %#v, want *ExitError with Signal SIGTERM", err)
				}
			},
		},
		{
			name: "shell command not found",
			cmd:  func(*testing.T) Command { return Command{Shell: "rota-no-such-command-xyz --flag"} },
			check: func(t *testing.T, _ Result, err error) {
				var ee *ExitError
				if !errors.As(err, &ee) || ee.Code != 127 {
					t.Fatalf("err = %v, want *ExitError with Code 127", err)
				}
				if !strings.Contains(err.Error(), "command not found") || !strings.Contains(err.Error(), "rota-no-such-command-xyz") {
					t.Errorf("err = %q, want it to say the command was not found and name it", err)
				}
			},
		},
		{
			name: "program not in PATH",
			cmd:  func(*testing.T) Command { return Command{Argv: []string{"rota-no-such-command-xyz"}} },
			check: func(t *testing.T, _ Result, err error) {
				if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), "rota-no-such-command-xyz") {
					t.Fatalf("err = %v, want exec.ErrNotFound naming the program", err)
				}
			},
		},
		{
			name: "program path does not exist",
			cmd:  func(t *testing.T) Command { return Command{Argv: []string{filepath.Join(t.TempDir(), "missing")}} },
			check: func(t *testing.T, _ Result, err error) {
				if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
					t.Fatalf("err = %v, want fs.ErrNotExist naming the program", err)
				}
			},
		},
		{
			name: "working directory does not exist",
			cmd: func(t *testing.T) Command {
				return Command{Shell: "true", Dir: filepath.Join(t.TempDir(), "nope")}
			},
			check: func(t *testing.T, _ Result, err error) {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("err = %v, want fs.ErrNotExist", err)
				}
			},
		},
		{
			name: "no command",
			cmd:  func(*testing.T) Command { return Command{Shell: "  "} },
			check: func(t *testing.T, _ Result, err error) {
				if !errors.Is(err, ErrNoCommand) {
					t.Fatalf("err = %v, want ErrNoCommand", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := Run(context.Background(), tt.cmd(t), tt.in, tt.opts)
			if tt.check != nil {
				tt.check(t, res, err)
			} else if err != nil {
				t.Fatalf("Run: %v", err)
			}
			assertJSON(t, res.Output, tt.wantJSON)
			if tt.wantLast != "" || (tt.check == nil && tt.wantJSON == "") {
				if res.LastLine != tt.wantLast {
					t.Errorf("LastLine = %q, want %q", res.LastLine, tt.wantLast)
				}
			}
		})
	}
}

func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	if want == "" {
		if got != nil {
			t.Errorf("Output = %s, want nil", got)
		}
		return
	}
	if got == nil {
		t.Fatalf("Output = nil, want %s", want)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("Output %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("Output = %s, want %s", got, want)
	}
}

// The command exits at once but leaves a child behind holding stdout: Run
// ends the child (SIGTERM is enough) and returns the command's result.
func TestRunEndsLeftoverProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	childFile := filepath.Join(dir, "child")
	cmd := script(t, `sleep 60 & echo $! > "$CHILD"; `+echoPGID+` > "$CHILD.group"; echo '{"ok":true}'`)
	cmd.Env = []string{"CHILD=" + childFile}
	start := time.Now()
	res, err := Run(context.Background(), cmd, Input{}, Options{KillGrace: time.Minute})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	took := time.Since(start)
	t.Logf("Run took %s", took)
	if took > 30*time.Second {
		t.Errorf("Run took %s: the leftover child was not sent SIGTERM", took)
	}
	assertJSON(t, res.Output, `{"ok":true}`)
	assertGroupGone(t, readPID(t, childFile+".group"))
}

// untilExeced waits until the shell's last background child ($!) runs
// sleep: until then it is a fork of the shell that has the shell's TERM
// trap and loses a SIGTERM that arrives before its exec (the test then saw
// sleep outlive the SIGTERM and waited the whole grace).
const untilExeced = `while [ "$(cat /proc/$!/comm 2>/dev/null)" != sleep ]; do :; done`

func TestRunCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string // must write its process group to $PIDFILE once its traps are set
		grace      time.Duration
		wantHow    string
		wantStderr string
		minTook    time.Duration
		maxTook    time.Duration
	}{
		{
			name: "SIGTERM honoured",
			body: `trap 'echo "got TERM" >&2; exit 1' TERM
sleep 60 &
` + untilExeced + `
` + echoPGID + ` > "$PIDFILE"
wait`,
			grace:      time.Minute,
			wantHow:    "terminated with SIGTERM",
			wantStderr: "got TERM",
			maxTook:    30 * time.Second, // well under the grace
		},
		{
			name: "SIGTERM ignored, SIGKILL after grace",
			body: `trap '' TERM
sleep 60 &
` + untilExeced + `
` + echoPGID + ` > "$PIDFILE"
wait
echo "still here" >&2`,
			grace:   300 * time.Millisecond,
			wantHow: "SIGKILL",
			minTook: 300 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pidFile := filepath.Join(t.TempDir(), "pid")
			cmd := script(t, tt.body)
			cmd.Env = []string{"PIDFILE=" + pidFile}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			type ran struct {
				res Result
				err error
			}
			done := make(chan ran, 1)
			go func() {
				res, err := Run(ctx, cmd, Input{}, Options{KillGrace: tt.grace})
				done <- ran{res, err}
			}()
			pgid := readPID(t, pidFile)
			if pgid == syscall.Getpgrp() {
				t.Fatalf("the command runs in the test's own process group %d", pgid)
			}
			start := time.Now()
			cancel()
			var r ran
			select {
			case r = <-done:
			case <-time.After(time.Minute):
				t.Fatal("Run did not return within a minute of cancel")
			}
			took := time.Since(start)
			t.Logf("Run returned %s after cancel: %v", took, r.err)

			if !errors.Is(r.err, context.Canceled) {
				t.Fatalf("err = %v, want it to wrap context.Canceled", r.err)
			}
			if !strings.Contains(r.err.Error(), tt.wantHow) {
				t.Errorf("err = %q, want it to mention %q", r.err, tt.wantHow)
			}
			if !strings.Contains(r.res.StderrTail, tt.wantStderr) || strings.Contains(r.res.StderrTail, "still here") {
				t.Errorf("StderrTail = %q, want %q", r.res.StderrTail, tt.wantStderr)
			}
			if took < tt.minTook || (tt.maxTook > 0 && took > tt.maxTook) {
				t.Errorf("Run returned %s after cancel, want between %s and %s", took, tt.minTook, tt.maxTook)
			}
			assertGroupGone(t, pgid)
		})
	}
}

func TestRunContextEnds(t *testing.T) {
	t.Parallel()
	errAborted := errors.New("aborted by operator")
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want []error
	}{
		{
			name: "timeout",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			},
			want: []error{context.DeadlineExceeded},
		},
		{
			name: "cancel with a cause",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancelCause(context.Background())
				go cancel(errAborted)
				return ctx, func() {}
			},
			want: []error{context.Canceled, errAborted},
		},
		{
			name: "already cancelled",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			want: []error{context.Canceled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := tt.ctx()
			defer cancel()
			_, err := Run(ctx, Command{Shell: "exec sleep 60"}, Input{}, Options{KillGrace: 5 * time.Second})
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want it to match %v", err, w)
				}
			}
		})
	}
}

func TestLastLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		max      int
		writes   []string
		wantLine string
		wantJSON bool
	}{
		{"empty", 100, nil, "", false},
		{"one line", 100, []string{"{\"a\":1}\n"}, `{"a":1}`, true},
		{"split across writes", 100, []string{"{\"a\"", ":1}\nsecond", " line\n\n  \n"}, "second line", false},
		{"crlf", 100, []string{"[1]\r\n"}, "[1]", true},
		{"no newline at end", 100, []string{"x\n", "42"}, "42", true},
		{"cut", 4, []string{"123456\n"}, "1234", false},
		{"cut line then short one", 4, []string{"123456\n12\n"}, "12", true},
		{"short line then cut one", 4, []string{"12\n", "1234", "56"}, "1234", false},
		{"many lines", 8, []string{strings.Repeat("line\n", 10000) + "\"end\"\n"}, `"end"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := &lastLine{max: tt.max}
			for _, w := range tt.writes {
				if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				if len(l.cur) > tt.max || len(l.last) > tt.max {
					t.Fatalf("kept %d and %d bytes, over the cap %d", len(l.cur), len(l.last), tt.max)
				}
			}
			line, out := l.result()
			if line != tt.wantLine || (out != nil) != tt.wantJSON {
				t.Errorf("result = %q, %s; want %q, JSON %v", line, out, tt.wantLine, tt.wantJSON)
			}
		})
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		n      int
		writes []string
		want   string
	}{
		{"short", 10, []string{"abc", "def"}, "abcdef"},
		{"exact", 6, []string{"abc", "def"}, "abcdef"},
		{"over in small writes", 4, []string{"ab", "cd", "ef", "gh", "ij"}, "ghij"},
		{"one big write", 4, []string{"abcdefgh"}, "efgh"},
		{"big write after small", 4, []string{"xy", "abcd"}, "abcd"},
		{"cut inside a rune", 4, []string{"aaaé€"}, "€"},
		{"none kept", 0, []string{"abc"}, ""},
		{"cut starts at the first whole line", 12, []string{"noise line 1\nnoise line 2\n", "FATAL: x\n"}, "FATAL: x\n"},
		{"cut line and whole lines", 12, []string{"first\nsecond\nthird\n"}, "third\n"},
		{"cut exactly at a line start", 14, []string{"first\nsecond\nthird\n"}, "second\nthird\n"},
		{"only the last line ends", 6, []string{"abcdefgh\n"}, "defgh\n"},
		{"one long line cut", 5, []string{"abcdefgh"}, "defgh"},
		{"uncut keeps its first line", 20, []string{"first\nsecond\n"}, "first\nsecond\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := &tail{n: tt.n}
			for _, w := range tt.writes {
				if _, err := tl.Write([]byte(w)); err != nil {
					t.Fatal(err)
				}
				if len(tl.buf) > 2*tt.n {
					t.Fatalf("kept %d bytes, over twice the cap %d", len(tl.buf), tt.n)
				}
			}
			if got := tl.String(); got != tt.want {
				t.Errorf("tail = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExitErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  ExitError
		want string
	}{
		{ExitError{Code: 3}, "execworker: exit status 3"},
		{ExitError{Code: 3, StderrTail: "  oops\n"}, "execworker: exit status 3: oops"},
		{ExitError{Code: 126}, "execworker: exit status 126 (command not executable)"},
		{ExitError{Code: 127, StderrTail: "sh: x: not found\n"}, "execworker: exit status 127 (command not found): sh: x: not found"},
		{ExitError{Code: -1, Signal: "SIGSEGV"}, "execworker: killed by SIGSEGV"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
