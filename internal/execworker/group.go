package execworker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// group is a running command's process group; its id is the command's pid.
type group struct {
	pgid   int
	waitc  chan error // receives the command's Wait result once
	exited bool       // the command has been waited for
	werr   error      // its Wait result
}

// terminate sends SIGTERM to the whole group, and SIGKILL if anything in it
// is still alive after grace; it returns when the command has exited and
// the group is gone, or killWait after SIGKILL at the latest. It says what
// it did.
func (g *group) terminate(grace time.Duration) string {
	_ = syscall.Kill(-g.pgid, syscall.SIGTERM) // ESRCH: already gone
	if g.waitGone(grace) {
		return "terminated with SIGTERM"
	}
	_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
	how := fmt.Sprintf("killed with SIGKILL after %s grace", grace)
	if !g.waitGone(killWait) {
		how += fmt.Sprintf(" (process group %d still not gone after %s)", g.pgid, killWait)
	}
	return how
}

// waitGone waits up to d for the command to exit and its group to be gone,
// and reports whether both happened. It polls the group, starting at 1ms
// and backing off to 50ms: there is no notification for processes that are
// not our children.
func (g *group) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	interval := time.Millisecond
	for {
		if g.exited && !groupAlive(g.pgid) {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		var waitc <-chan error
		if !g.exited {
			waitc = g.waitc
		}
		t := time.NewTimer(min(interval, left))
		select {
		case g.werr = <-waitc:
			g.exited = true
		case <-t.C:
		}
		t.Stop()
		interval = min(2*interval, 50*time.Millisecond)
	}
}

// groupAlive reports whether any process of group pgid is alive. kill(2)
// counts zombies too, which the reaper of orphans may leave for seconds, so
// when it says yes, /proc is asked whether any member is more than a zombie.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	live, ok := liveMember(pgid)
	return live || !ok
}

// liveMember scans /proc for a process of group pgid that is not a zombie.
// ok is false when /proc cannot be read.
func liveMember(pgid int) (live, ok bool) {
	dir, err := os.Open("/proc")
	if err != nil {
		return false, false
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return false, false
	}
	want := []byte(strconv.Itoa(pgid))
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 3 || !bytes.Equal(f[2], want) {
			continue
		}
		if s := string(f[0]); s != "Z" && s != "X" {
			return true, true
		}
	}
	return false, true
}

// signalName returns a signal's conventional name ("SIGTERM").
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGTRAP:
		return "SIGTRAP"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGALRM:
		return "SIGALRM"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGXCPU:
		return "SIGXCPU"
	case syscall.SIGXFSZ:
		return "SIGXFSZ"
	case syscall.SIGSYS:
		return "SIGSYS"
	}
	return "signal " + strconv.Itoa(int(s))
}
