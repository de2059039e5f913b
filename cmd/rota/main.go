// Command rota runs and drives rota, the durable job scheduler: `rota serve`
// runs a node; the other commands enqueue, inspect and manage jobs and queues
// on the configured store, and `rota bench` measures it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/config"
	"github.com/rotahq/rota/remote"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed (store unreachable, job not found, ...)
	exitUsage = 2 // bad input: flags, arguments, option values
)

// defaultGCPercent is the garbage collector's target (as GOGC) the rota
// binary runs with unless GOGC is set: rota's heap stays a few MiB however
// many jobs pass, so at Go's default of 100 the collector ran about thirty
// times a second under load and took a third of the process's CPU time
// (decision 0020).
const defaultGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the process exit code.
func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(args, getenv, stdin, stdout, stderr, nil)
}

// runWith is run with register, when not nil, called on the client of
// `rota serve` before it starts: the end-to-end tests add Go workers this way.
func runWith(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer,
	register func(*rota.Client) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(getenv, stdin, stdout, stderr, register)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// Library errors already start with "rota: ".
	msg := strings.TrimPrefix(err.Error(), "rota: ")
	var re *remote.Error
	if errors.As(err, &re) && re.Status == http.StatusUnauthorized {
		msg += " (give the server's token with --token or ROTA_TOKEN)"
	}
	fmt.Fprintln(stderr, "rota:", msg)
	if isUsage(err) {
		return exitUsage
	}
	return exitError
}

// usageError marks bad input from the user: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func isUsage(err error) bool {
	var ue usageError
	var fe *rota.FieldError
	var ce *config.FieldError
	// cobra has no error type for an unknown command; its message is stable.
	// The server's refusals of input or credentials (400, 401, 403, 413, ...).
	var re *remote.Error
	return errors.As(err, &ue) || errors.As(err, &fe) || errors.As(err, &ce) ||
		(errors.As(err, &re) && re.BadInput()) ||
		strings.HasPrefix(err.Error(), "unknown command ")
}
