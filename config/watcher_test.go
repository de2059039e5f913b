package config

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startWatcher makes a Watcher on dir and runs it until the test ends.
func startWatcher(t *testing.T, dir string) (*Watcher, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	w, err := NewWatcher(dir, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return w, logs
}

// waitUntil waits on w.Changes until cond holds for the current state,
// failing after a deadline.
func waitUntil(t *testing.T, w *Watcher, what string, cond func(Workers, []error) bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond(w.Current(), w.Errors()) {
		select {
		case <-w.Changes():
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; current errors: %v", what, w.Errors())
		}
	}
}

// maxWorkers returns kind's max_workers, or -1 when kind has no file or the
// key is not set.
func maxWorkers(ws Workers, kind string) int {
	w, ok := ws.Lookup(kind)
	if !ok || w.MaxWorkers == nil {
		return -1
	}
	return *w.MaxWorkers
}

// hasError reports whether errs holds one whose message contains want.
func hasError(errs []error, want string) bool {
	for _, err := range errs {
		if strings.Contains(err.Error(), want) {
			return true
		}
	}
	return false
}

// hasErrorFor reports whether errs holds a *FileError for path.
func hasErrorFor(errs []error, path string) bool {
	for _, err := range errs {
		var fe *FileError
		if errors.As(err, &fe) && fe.Path == path {
			return true
		}
	}
	return false
}

func TestWatcherReloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"_defaults.json": `{"timeout": "1m"}`,
		"a.json":         `{"max_workers": 1}`,
	})
	w, _ := startWatcher(t, dir)
	if got := maxWorkers(w.Current(), "a"); got != 1 {
		t.Fatalf("initial max_workers = %d, want 1", got)
	}

	t.Run("edit in place", func(t *testing.T) {
		writeFiles(t, dir, map[string]string{"a.json": `{"max_workers": 2}`})
		waitUntil(t, w, "a.max_workers = 2", func(ws Workers, _ []error) bool { return maxWorkers(ws, "a") == 2 })
	})
	t.Run("file created after start", func(t *testing.T) {
		writeFiles(t, dir, map[string]string{"b.json": `{"max_workers": 7, "custom": "x"}`})
		waitUntil(t, w, "kind b", func(ws Workers, _ []error) bool { return maxWorkers(ws, "b") == 7 })
		var s string
		if err := w.Current().Kind("b").Get("custom", &s); err != nil || s != "x" {
			t.Errorf("b.custom = %q, %v", s, err)
		}
	})
	t.Run("editor writes a temporary file and renames it", func(t *testing.T) {
		tmp := filepath.Join(dir, ".a.json.swp")
		writeFiles(t, dir, map[string]string{".a.json.swp": `{"max_workers": 3}`})
		if err := os.Rename(tmp, filepath.Join(dir, "a.json")); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, w, "a.max_workers = 3", func(ws Workers, _ []error) bool { return maxWorkers(ws, "a") == 3 })
	})
	t.Run("defaults change reaches every kind", func(t *testing.T) {
		writeFiles(t, dir, map[string]string{"_defaults.json": `{"timeout": "2m"}`})
		waitUntil(t, w, "timeout 2m", func(ws Workers, _ []error) bool {
			a, b := ws.Kind("a"), ws.Kind("b")
			return a.Timeout != nil && *a.Timeout == 2*time.Minute && b.Timeout != nil && *b.Timeout == 2*time.Minute
		})
	})
	t.Run("deleted file removes the kind", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, "b.json")); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, w, "kind b gone", func(ws Workers, _ []error) bool { _, ok := ws.Lookup("b"); return !ok })
		if b := w.Current().Kind("b"); b.Timeout == nil || *b.Timeout != 2*time.Minute || b.MaxWorkers != nil {
			t.Errorf("Kind(b) after delete = %+v, want the defaults", typed(b))
		}
	})
}

func TestWatcherKeepsLastGood(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"_defaults.json":    `{"max_attempts": 5}`,
		"analysis.ssi.json": `{"max_workers": 1}`,
	})
	w, logs := startWatcher(t, dir)
	kindPath := filepath.Join(dir, "analysis.ssi.json")
	defaultsPath := filepath.Join(dir, "_defaults.json")

	// A broken kind file: reported with its path, old config stays.
	writeFiles(t, dir, map[string]string{"analysis.ssi.json": `{"max_workers": "ten"}`})
	// (os.WriteFile truncates first, so an "empty file" error may come and go.)
	waitUntil(t, w, "an error for the broken file", func(_ Workers, errs []error) bool {
		return hasErrorFor(errs, kindPath) && hasError(errs, `"ten"`)
	})
	errs := w.Errors()
	if len(errs) != 1 || errs[0].Error() != kindPath+`: max_workers: want a whole number ≥ 0, got "ten"` {
		t.Errorf("Errors() = %v", errs)
	}
	if got := maxWorkers(w.Current(), "analysis.ssi"); got != 1 {
		t.Errorf("max_workers = %d after a bad edit, want the last good 1", got)
	}
	if l := logs.String(); !strings.Contains(l, kindPath) || !strings.Contains(l, "want a whole number") {
		t.Errorf("logs do not name the path and the reason:\n%s", l)
	}

	// A broken defaults file: the last good defaults stay.
	writeFiles(t, dir, map[string]string{"_defaults.json": `{"max_attempts": `})
	waitUntil(t, w, "an error for the broken defaults", func(_ Workers, errs []error) bool {
		return hasErrorFor(errs, defaultsPath) && hasError(errs, "unexpected end of JSON input")
	})
	if a := w.Current().Kind("analysis.ssi"); a.MaxAttempts == nil || *a.MaxAttempts != 5 {
		t.Errorf("max_attempts = %v after the defaults broke, want the last good 5", a.MaxAttempts)
	}
	if d := w.Current().Defaults(); d.MaxAttempts == nil || *d.MaxAttempts != 5 {
		t.Errorf("Defaults().MaxAttempts = %v, want the last good 5", d.MaxAttempts)
	}

	// Fixing both clears the errors and applies the new values.
	writeFiles(t, dir, map[string]string{
		"_defaults.json":    `{"max_attempts": 6}`,
		"analysis.ssi.json": `{"max_workers": 10}`,
	})
	waitUntil(t, w, "fixed files", func(ws Workers, errs []error) bool {
		a := ws.Kind("analysis.ssi")
		return len(errs) == 0 && maxWorkers(ws, "analysis.ssi") == 10 && a.MaxAttempts != nil && *a.MaxAttempts == 6
	})

	// A kind that was never good has no config, only an error.
	writeFiles(t, dir, map[string]string{"new.json": `{"priority": -5}`})
	waitUntil(t, w, "an error for new.json", func(_ Workers, errs []error) bool {
		return hasErrorFor(errs, filepath.Join(dir, "new.json"))
	})
	if _, ok := w.Current().Lookup("new"); ok {
		t.Error("a kind whose only file is bad has a config")
	}
	// Deleting the bad file clears its error.
	if err := os.Remove(filepath.Join(dir, "new.json")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, w, "no errors", func(_ Workers, errs []error) bool { return len(errs) == 0 })
}

func TestWatcherChangesCoalesce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := startWatcher(t, dir)
	for i := range 20 {
		writeFiles(t, dir, map[string]string{"k.json": `{"max_workers": ` + string(rune('0'+i%10)) + `}`})
	}
	writeFiles(t, dir, map[string]string{"k.json": `{"max_workers": 42}`})
	waitUntil(t, w, "the last write", func(ws Workers, _ []error) bool { return maxWorkers(ws, "k") == 42 })
	if cap(w.Changes()) != 1 {
		t.Errorf("Changes() capacity = %d, want 1", cap(w.Changes()))
	}
	// Rewriting the same bytes changes nothing; a later real change still
	// arrives.
	writeFiles(t, dir, map[string]string{"k.json": `{"max_workers": 42}`})
	writeFiles(t, dir, map[string]string{"other.json": `{"max_workers": 1}`})
	waitUntil(t, w, "other", func(ws Workers, _ []error) bool { return maxWorkers(ws, "other") == 1 })
}

func TestWatcherDirectoryRecreated(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "workers")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"a.json": `{"max_workers": 1}`})
	w, _ := startWatcher(t, dir)
	// Move the directory away in one step (deleting its files one by one
	// would rightly remove their kinds first).
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, w, "an error for the directory", func(_ Workers, errs []error) bool { return hasErrorFor(errs, dir) })
	if got := maxWorkers(w.Current(), "a"); got != 1 {
		t.Errorf("max_workers = %d while the directory is gone, want the last good 1", got)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"a.json": `{"max_workers": 2}`})
	waitUntil(t, w, "the recreated directory", func(ws Workers, errs []error) bool {
		return len(errs) == 0 && maxWorkers(ws, "a") == 2
	})
	// And it is watched again.
	writeFiles(t, dir, map[string]string{"a.json": `{"max_workers": 3}`})
	waitUntil(t, w, "an edit in the recreated directory", func(ws Workers, _ []error) bool { return maxWorkers(ws, "a") == 3 })
}

func TestWatcherErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewWatcher(filepath.Join(t.TempDir(), "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewWatcher(missing) = %v, want ErrNotExist", err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bad.json": `[]`})
	w, err := NewWatcher(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if errs := w.Errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "bad.json: want a JSON object") {
		t.Errorf("Errors() at start = %v", errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// A second Run fails at once, whether or not the first has started:
	// wait until the first has started by making it report a change.
	writeFiles(t, dir, map[string]string{"bad.json": `{}`})
	waitUntil(t, w, "bad.json fixed", func(_ Workers, errs []error) bool { return len(errs) == 0 })
	if err := w.Run(ctx); err == nil {
		t.Error("second Run returned nil")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// TestWatcherHintsAndNewBadFile: a key that looks like a misspelt known key
// is warned of once per file (not for each kind that inherits it from the
// defaults, not again on a reload), and a bad file that never parsed is not
// said to keep a last good version.
func TestWatcherHintsAndNewBadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"_defaults.json": `{"max_attempt": 3}`,
		"a.json":         `{"attempts": 2, "limit": 5}`,
		"b.json":         `{}`,
	})
	w, logs := startWatcher(t, dir)
	hints := func() int { return strings.Count(logs.String(), "did you mean") }
	if l := logs.String(); hints() != 2 ||
		!strings.Contains(l, `did you mean max_attempts?" path=`+filepath.Join(dir, "_defaults.json")+" key=max_attempt") ||
		!strings.Contains(l, `did you mean max_attempts?" path=`+filepath.Join(dir, "a.json")+" key=attempts") {
		t.Errorf("want one hint for the defaults' max_attempt and one for a.json's attempts (none for limit, none for b.json):\n%s", l)
	}
	writeFiles(t, dir, map[string]string{"c.json": `{"max_workers": "two"}`})
	waitUntil(t, w, "an error for c.json", func(_ Workers, errs []error) bool { return hasErrorFor(errs, filepath.Join(dir, "c.json")) })
	l := logs.String()
	if !strings.Contains(l, "its kind has no configuration of its own until it is fixed") || strings.Contains(l, "keeping its last good version") {
		t.Errorf("a new bad file's log:\n%s", l)
	}
	writeFiles(t, dir, map[string]string{"b.json": `{"max_workers": 4}`})
	waitUntil(t, w, "b's edit", func(ws Workers, _ []error) bool {
		mw := ws.Kind("b").MaxWorkers
		return mw != nil && *mw == 4
	})
	if hints() != 2 {
		t.Errorf("a reload repeated the hints:\n%s", logs.String())
	}
}
