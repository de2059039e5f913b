package execworker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for Options, and the exit status that asks for a retry.
const (
	DefaultKillGrace  = 10 * time.Second
	DefaultStderrTail = 4096
	DefaultMaxLine    = 1 << 20 // 1 MiB
	ExitTempFail      = 75      // EX_TEMPFAIL from sysexits.h
)

// How long Run waits, after SIGKILL, for the process group to be gone, and
// after that for the command's output pipes to close (a process that left
// the group may hold them).
const (
	killWait = 5 * time.Second
	pipeWait = time.Second
)

var (
	// ErrRetryLater is returned (wrapped) when the command exits with
	// status 75 (EX_TEMPFAIL): the job should run again later, and the
	// attempt does not count as a failure.
	ErrRetryLater = errors.New("retry later")
	// ErrNoCommand is returned when a Command has neither Argv nor Shell.
	ErrNoCommand = errors.New("execworker: no command (neither argv nor shell given)")
)

// Command is what to run for a job.
type Command struct {
	// Argv is the program and its arguments. A program name without a
	// slash is looked up in PATH.
	Argv []string
	// Shell is a command line run with /bin/sh -c when Argv is empty.
	Shell string
	// Dir is the working directory; empty for the caller's.
	Dir string
	// Env holds extra NAME=value entries, added to the caller's environment.
	Env []string
}

// Input is the job handed to the command.
type Input struct {
	ID      int64
	Kind    string
	Queue   string
	Key     string
	Attempt int
	// Job is the job as JSON, written to the command's standard input,
	// which is then closed.
	Job []byte
}

// Options tune Run. The zero value uses the defaults.
type Options struct {
	// KillGrace is the time between SIGTERM and SIGKILL. 0 means
	// DefaultKillGrace; a negative value sends SIGKILL right after SIGTERM.
	KillGrace time.Duration
	// StderrTail is how many bytes of the end of stderr are kept. 0 means
	// DefaultStderrTail; a negative value keeps none.
	StderrTail int
	// MaxLine is the longest stdout line kept; a longer last line is cut
	// and is never taken as JSON output. 0 means DefaultMaxLine.
	MaxLine int
}

func (o Options) withDefaults() Options {
	if o.KillGrace == 0 {
		o.KillGrace = DefaultKillGrace
	} else if o.KillGrace < 0 {
		o.KillGrace = 0
	}
	if o.StderrTail == 0 {
		o.StderrTail = DefaultStderrTail
	} else if o.StderrTail < 0 {
		o.StderrTail = 0
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	return o
}

// Result is what a command left behind. Run fills it whatever the outcome,
// as far as the command got.
type Result struct {
	// Output is the last non-empty line of stdout if it is valid JSON
	// (surrounding spaces trimmed), else nil. It is the job's result when
	// the command succeeds.
	Output json.RawMessage
	// LastLine is the last non-empty line of stdout, trimmed, at most
	// Options.MaxLine bytes.
	LastLine string
	// StderrTail is the end of stderr, at most Options.StderrTail bytes.
	StderrTail string
}

// ExitError is a command that failed: it exited with a status other than 0
// and 75, or was killed by a signal it was not sent by Run.
type ExitError struct {
	Code       int    // the exit status; -1 when killed by a signal
	Signal     string // the signal's name ("SIGSEGV") when killed by one
	StderrTail string // the end of stderr
}

// Error returns the exit status or signal, with a hint for 126 and 127,
// followed by the stderr tail.
func (e *ExitError) Error() string {
	var msg string
	switch {
	case e.Signal != "":
		msg = "execworker: killed by " + e.Signal
	case e.Code == 126:
		msg = "execworker: exit status 126 (command not executable)"
	case e.Code == 127:
		msg = "execworker: exit status 127 (command not found)"
	default:
		msg = "execworker: exit status " + strconv.Itoa(e.Code)
	}
	return withTail(msg, e.StderrTail)
}

func withTail(msg, tail string) string {
	if t := strings.TrimSpace(tail); t != "" {
		return msg + ": " + t
	}
	return msg
}

// Run runs cmd for one job and waits for it, and for everything it started
// in its process group, to end.
//
// The command runs in its own process group, under a supervisor that
// kills the group if the caller dies (see the package documentation), with
// the job's JSON on stdin and an environment of the caller's, then
// cmd.Env, then ROTA_JOB_ID, ROTA_JOB_KIND, ROTA_JOB_QUEUE, ROTA_JOB_KEY and
// ROTA_ATTEMPT (which cmd.Env cannot override).
//
// Outcomes: exit 0 returns a nil error; exit 75 an error matching
// errors.Is(err, ErrRetryLater); any other exit or a signal an *ExitError.
// When ctx ends first (abort, timeout, shutdown), the group gets SIGTERM,
// and SIGKILL if anything in it is still alive after opts.KillGrace; the
// error then wraps ctx.Err() (and context.Cause(ctx) when it differs).
// Processes left in the group after the command exits are ended the same
// way. An error starting the command (not found, not executable, bad Dir)
// is returned wrapped, so errors.Is(err, exec.ErrNotFound) or
// errors.Is(err, fs.ErrNotExist) work.
func Run(ctx context.Context, cmd Command, in Input, opts Options) (Result, error) {
	opts = opts.withDefaults()
	argv := cmd.Argv
	if len(argv) == 0 {
		if strings.TrimSpace(cmd.Shell) == "" {
			return Result{}, ErrNoCommand
		}
		argv = []string{shellPath, "-c", cmd.Shell}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, ctxError(ctx, "not started")
	}

	// The program is found here, as exec.Command would find it, so that a
	// missing one is an error to start, not an exit status of the supervisor.
	prog, err := findProgram(argv[0], cmd.Dir)
	if err != nil {
		return Result{}, fmt.Errorf("execworker: start %s: %w", argv[0], err)
	}
	c := exec.Command(shellPath, append([]string{"-c", supervisor, "rota-exec", prog}, argv[1:]...)...)
	c.Dir = cmd.Dir
	c.Env = append(append(os.Environ(), cmd.Env...),
		"ROTA_JOB_ID="+strconv.FormatInt(in.ID, 10),
		"ROTA_JOB_KIND="+in.Kind,
		"ROTA_JOB_QUEUE="+in.Queue,
		"ROTA_JOB_KEY="+in.Key,
		"ROTA_ATTEMPT="+strconv.Itoa(in.Attempt),
	)
	// Its own process group, so an abort reaches everything it started. The
	// group's leader is the supervisor, which gets supervisorDeathSignal
	// when rota dies (even by SIGKILL) and then kills the whole group, so a
	// job whose lease will expire and be retried is not also finished by
	// the command or anything it started.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: supervisorDeathSignal}

	// The pipes are ours, not os/exec's, so that Wait returns when the
	// command exits even if something it left behind holds them open.
	p, err := newPipes()
	if err != nil {
		return Result{}, fmt.Errorf("execworker: %w", err)
	}
	defer p.closeOurs()
	c.Stdin, c.Stdout, c.Stderr = p.stdinR, p.stdoutW, p.stderrW
	err = c.Start()
	p.closeTheirs()
	if err != nil {
		return Result{}, fmt.Errorf("execworker: start %s: %w", argv[0], err)
	}

	stdout := &lastLine{max: opts.MaxLine}
	stderr := &tail{n: opts.StderrTail}
	var readers sync.WaitGroup
	readers.Go(func() { _, _ = io.Copy(stdout, p.stdoutR) })
	readers.Go(func() { _, _ = io.Copy(stderr, p.stderrR) })
	go func() {
		// One line: newline-terminated, so `read line` in a shell gets it
		// and a command that copies it to stdout still ends its own last line.
		_, _ = p.stdinW.Write(in.Job) // EPIPE if the command does not read it: fine
		if len(in.Job) > 0 && in.Job[len(in.Job)-1] != '\n' {
			_, _ = p.stdinW.Write([]byte{'\n'})
		}
		_ = p.stdinW.Close()
	}()

	g := &group{pgid: c.Process.Pid, waitc: make(chan error, 1)}
	go func() { g.waitc <- c.Wait() }()

	cancelled := false
	select {
	case g.werr = <-g.waitc:
		g.exited = true
	case <-ctx.Done():
		// If the command finished at the same moment, its outcome stands.
		select {
		case g.werr = <-g.waitc:
			g.exited = true
		default:
			cancelled = true
		}
	}
	var how string
	if cancelled || groupAlive(g.pgid) {
		how = g.terminate(opts.KillGrace)
	}

	// Everything in the group is gone, so the pipes reach EOF, unless a
	// process that left the group still holds them.
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(pipeWait):
		p.closeOurs() // unblocks the readers
		<-done
	}

	res := Result{StderrTail: stderr.String()}
	res.LastLine, res.Output = stdout.result()
	if cancelled {
		return res, ctxError(ctx, how)
	}
	return res, outcome(g.werr, res.StderrTail)
}

// shellPath is the shell that runs the supervisor (and Command.Shell).
const shellPath = "/bin/sh"

// supervisorDeathSignal is the signal the kernel sends the supervisor when
// the process that started it dies (PR_SET_PDEATHSIG).
const supervisorDeathSignal = syscall.SIGUSR1

// supervisor is the shell script that leads a command's process group: it
// runs the command ("$@") as its child, with the supervisor's standard
// input (which a shell would otherwise replace with /dev/null for a command
// in the background), and waits for it. When rota dies it gets
// supervisorDeathSignal and SIGKILLs the whole group: the kernel's
// parent-death signal reaches only the process rota started, so without it
// whatever the command started (the python of `sh -c "cd app && python3
// worker.py"`) would outlive rota and run on beside the job's retry. The
// supervisor ignores the SIGTERM (and INT, HUP) that an abort sends the
// group, and waits on for the command; it then exits as the command did:
// with its status, or killed by the same signal (re-raised once its own
// traps are reset; only the signals that end a process by default, 1-16
// and 24-31 but 28: never one that would stop the supervisor or that it
// would ignore).
const supervisor = `trap 'kill -KILL 0' USR1
trap : TERM INT HUP
exec 3<&0
"$@" <&3 3<&- &
c=$!
exec 0</dev/null 3<&-
while :; do
	wait "$c"
	s=$?
	kill -0 "$c" 2>/dev/null || break
done
trap - USR1 TERM INT HUP
case "$s" in
129|13[0-9]|14[0-4]|15[2-5]|15[7-9]) kill -"$((s - 128))" "$$" ;;
esac
exit "$s"`

// findProgram resolves name as exec.Command does (a name without a slash
// is looked up in PATH; a relative path is taken from dir), and checks that
// it can be run.
func findProgram(name, dir string) (string, error) {
	if !strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	path := name
	if dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return "", err
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return "", &fs.PathError{Op: "exec", Path: name, Err: syscall.EACCES}
	}
	return name, nil
}

// outcome turns the command's wait status into Run's error.
func outcome(werr error, stderrTail string) error {
	if werr == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) {
		return fmt.Errorf("execworker: wait: %w", werr)
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return &ExitError{Code: ee.ExitCode(), StderrTail: stderrTail}
	case ws.Signaled():
		return &ExitError{Code: -1, Signal: signalName(ws.Signal()), StderrTail: stderrTail}
	case ws.ExitStatus() == ExitTempFail:
		return fmt.Errorf("%s: %w", withTail("execworker: exit status 75 (EX_TEMPFAIL)", stderrTail), ErrRetryLater)
	}
	return &ExitError{Code: ws.ExitStatus(), StderrTail: stderrTail}
}

// ctxError is the error for a run that ctx ended; how says what was done
// to the command.
func ctxError(ctx context.Context, how string) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause != nil && cause != err {
		return fmt.Errorf("execworker: %s: %w: %w", how, err, cause)
	}
	return fmt.Errorf("execworker: %s: %w", how, err)
}

// pipes are the command's stdin, stdout and stderr: the ends the command
// gets ("theirs", closed here after start) and ours.
type pipes struct {
	stdinR, stdinW   *os.File
	stdoutR, stdoutW *os.File
	stderrR, stderrW *os.File
}

func newPipes() (*pipes, error) {
	var p pipes
	var err error
	if p.stdinR, p.stdinW, err = os.Pipe(); err != nil {
		return nil, err
	}
	if p.stdoutR, p.stdoutW, err = os.Pipe(); err != nil {
		p.closeTheirs()
		p.closeOurs()
		return nil, err
	}
	if p.stderrR, p.stderrW, err = os.Pipe(); err != nil {
		p.closeTheirs()
		p.closeOurs()
		return nil, err
	}
	return &p, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			_ = f.Close() // a second Close only reports os.ErrClosed
		}
	}
}

func (p *pipes) closeTheirs() { closeAll(p.stdinR, p.stdoutW, p.stderrW) }
func (p *pipes) closeOurs()   { closeAll(p.stdinW, p.stdoutR, p.stderrR) }

// lastLine is an io.Writer that keeps only the last non-empty line written
// to it, cut at max bytes, so memory stays bounded whatever the command
// prints.
type lastLine struct {
	max             int
	cur, last       []byte
	curCut, lastCut bool
}

func (l *lastLine) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.add(p)
			break
		}
		l.add(p[:i])
		l.endLine()
		p = p[i+1:]
	}
	return n, nil
}

func (l *lastLine) add(b []byte) {
	if room := l.max - len(l.cur); len(b) > room {
		b = b[:max(room, 0)]
		l.curCut = true
	}
	l.cur = append(l.cur, b...)
}

func (l *lastLine) endLine() {
	if len(bytes.TrimSpace(l.cur)) > 0 {
		l.last, l.cur = l.cur, l.last[:0]
		l.lastCut = l.curCut
	} else {
		l.cur = l.cur[:0]
	}
	l.curCut = false
}

// result ends the current line and returns the last non-empty one, and it
// again as JSON if it is valid JSON and was not cut.
func (l *lastLine) result() (string, json.RawMessage) {
	l.endLine()
	line := strings.TrimSpace(string(l.last))
	if line == "" || l.lastCut || !json.Valid([]byte(line)) {
		return line, nil
	}
	return line, json.RawMessage(line)
}

// tail is an io.Writer that keeps the last n bytes written to it.
type tail struct {
	n   int
	buf []byte
	cut bool
}

func (t *tail) Write(p []byte) (int, error) {
	if t.n <= 0 {
		return len(p), nil
	}
	if len(p) >= t.n {
		t.cut = t.cut || len(p) > t.n || len(t.buf) > 0
		t.buf = append(t.buf[:0], p[len(p)-t.n:]...)
		return len(p), nil
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
		t.cut = true
	}
	return len(p), nil
}

// String returns the kept bytes. When the start was cut, it begins at the
// first whole line kept (the part of a line before it says nothing), or, if
// no line ends in the kept bytes before their last, without a UTF-8
// sequence cut in half.
func (t *tail) String() string {
	b := t.buf
	if len(b) > t.n {
		b = b[len(b)-t.n:]
		t.cut = true
	}
	if t.cut {
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			return string(b[i+1:])
		}
		for i := 0; i < 3 && len(b) > 0 && b[0]&0xC0 == 0x80; i++ {
			b = b[1:]
		}
	}
	return string(b)
}
