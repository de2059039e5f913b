package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Timing of the Watcher: a reload waits until the directory has been quiet
// for watchDebounce, but never more than watchMaxDelay after the first
// event; while the directory cannot be read it is retried every
// watchRetry.
const (
	watchDebounce = 50 * time.Millisecond
	watchMaxDelay = 500 * time.Millisecond
	watchRetry    = time.Second
)

// Watcher keeps a worker directory's configuration current while the node
// runs. It watches the directory (not the files), so files created later,
// removed, or replaced by a rename (as editors and Kubernetes ConfigMaps do)
// are all seen. When a file fails to parse, it is logged with its path and
// reason and reported by Errors, and the last good version of that file
// stays in effect; a removed file's kind loses its config.
type Watcher struct {
	dir     string
	logger  *slog.Logger
	changes chan struct{}

	mu      sync.Mutex
	loader  *loader
	current Workers
	errs    []error
	running bool
	hinted  map[string]bool // file and key of the key hints logged (see logKeyHints)
}

// NewWatcher reads dir once (so Current is ready at once) and returns a
// Watcher for it; call Run to follow changes. It fails only if dir cannot be
// read; bad files are logged and reported by Errors. A nil logger discards.
func NewWatcher(dir string, logger *slog.Logger) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := newLoader(dir)
	l.scan()
	if l.dirErr != nil {
		return nil, l.dirErr
	}
	w := &Watcher{dir: dir, logger: logger, changes: make(chan struct{}, 1), loader: l}
	w.current, w.errs = l.result()
	for _, err := range w.errs {
		w.logProblem(err)
	}
	w.logKeyHints(w.current)
	return w, nil
}

// Current returns the configuration in effect.
func (w *Watcher) Current() Workers {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// Errors returns the current problems, one per bad file (each a
// *FileError naming the path), sorted by path; nil when all is well.
func (w *Watcher) Errors() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs)
}

// Changes receives a value after a reload that changed Current or Errors.
// Signals coalesce: the channel holds at most one, so a slow reader sees
// one signal for several changes and should read Current afresh.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Run follows the directory until ctx ends, then returns nil. It returns an
// error if no file watcher can be made (inotify limits), or if it is called
// twice.
func (w *Watcher) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("config: Watcher.Run called twice")
	}
	w.running = true
	w.mu.Unlock()

	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config: watch %s: %w", w.dir, err)
	}
	defer fw.Close()

	// The directory is watched, not its files. If it cannot be watched or
	// read (it was removed, say), the last good config stays and both are
	// retried every watchRetry.
	watching := false
	var retry <-chan time.Time
	refresh := func() {
		if !watching {
			if err := fw.Add(w.dir); err == nil {
				watching = true
			}
		}
		if dirErr := w.reload(); dirErr || !watching {
			retry = time.After(watchRetry)
		} else {
			retry = nil
		}
	}
	// Catch what changed between NewWatcher and the watch.
	refresh()

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	pending := false
	var first time.Time
	schedule := func() {
		if !pending {
			pending, first = true, time.Now()
			debounce.Reset(watchDebounce)
		} else if time.Since(first) < watchMaxDelay {
			debounce.Reset(watchDebounce)
		}
	}
	dir := filepath.Clean(w.dir)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return fmt.Errorf("config: watch %s: watcher closed", w.dir)
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if filepath.Clean(ev.Name) == dir && ev.Op.Has(fsnotify.Remove|fsnotify.Rename) {
				watching = false // the watch went with the directory
			}
			schedule()
		case err, ok := <-fw.Errors:
			if !ok {
				return fmt.Errorf("config: watch %s: watcher closed", w.dir)
			}
			w.logger.Warn("worker config: watch error; rescanning", "dir", w.dir, "err", err)
			schedule()
		case <-debounce.C:
			pending = false
			refresh()
		case <-retry:
			refresh()
		}
	}
}

// reload rescans the directory, publishes the result, and signals Changes
// if anything changed. It reports whether the directory could not be read.
func (w *Watcher) reload() (dirErr bool) {
	w.mu.Lock()
	w.loader.scan()
	cur, errs := w.loader.result()
	configChanged := !cur.Equal(w.current)
	old := make(map[string]bool, len(w.errs))
	for _, err := range w.errs {
		old[err.Error()] = true
	}
	errsChanged := len(errs) != len(w.errs)
	for _, err := range errs {
		if !old[err.Error()] {
			errsChanged = true
			w.logProblem(err)
		}
	}
	if len(errs) == 0 && len(w.errs) > 0 {
		w.logger.Info("worker config: all files are valid again", "dir", w.dir)
	}
	if configChanged {
		w.logger.Info("worker config reloaded", "dir", w.dir, "kinds", len(cur.kinds))
		w.logKeyHints(cur)
	}
	w.current, w.errs = cur, errs
	dirErr = w.loader.dirErr != nil
	w.mu.Unlock()

	if configChanged || errsChanged {
		select {
		case w.changes <- struct{}{}:
		default:
		}
	}
	return dirErr
}

// logKeyHints warns, once per file and key, of a key that looks like a
// misspelt known key (see WorkerConfig.KeyHints). A kind's file is not
// blamed for the keys it inherits from the defaults file.
func (w *Watcher) logKeyHints(ws Workers) {
	seen := make(map[string]bool)
	check := func(path string, wc WorkerConfig, inherited map[string]json.RawMessage) {
		for key, known := range wc.KeyHints() {
			if _, ok := inherited[key]; ok {
				continue
			}
			id := path + "\x00" + key
			seen[id] = true
			if !w.hinted[id] {
				w.logger.Warn("worker config: unknown key, kept as the worker's own; did you mean "+known+"?",
					"path", path, "key", key)
			}
		}
	}
	check(filepath.Join(w.dir, DefaultsFile), ws.defaults, nil)
	for _, kind := range ws.Kinds() {
		check(filepath.Join(w.dir, kind+".json"), ws.kinds[kind], ws.defaults.Custom)
	}
	w.hinted = seen
}

func (w *Watcher) logProblem(err error) {
	var fe *FileError
	if errors.As(err, &fe) {
		if fe.KeptLastGood {
			w.logger.Error("worker config: bad file; keeping its last good version", "path", fe.Path, "err", fe.Err)
		} else {
			w.logger.Error("worker config: bad file; its kind has no configuration of its own until it is fixed", "path", fe.Path, "err", fe.Err)
		}
		return
	}
	w.logger.Error("worker config: "+err.Error(), "dir", w.dir)
}
