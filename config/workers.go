package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// DefaultsFile is the file of a worker directory that every kind's file is
// merged over.
const DefaultsFile = "_defaults.json"

// Workers is the configuration of a worker directory: each kind's file
// merged over the defaults file. A Workers value is never changed after it
// is made, and the configs it hands out are copies, so it is safe to share
// between goroutines.
type Workers struct {
	defaults WorkerConfig
	kinds    map[string]WorkerConfig
}

// Defaults returns the configuration of _defaults.json alone (empty if there
// is none).
func (ws Workers) Defaults() WorkerConfig { return ws.defaults.clone() }

// Kind returns kind's configuration: its file merged over the defaults, or
// the defaults alone when kind has no file.
func (ws Workers) Kind(kind string) WorkerConfig {
	if w, ok := ws.kinds[kind]; ok {
		return w.clone()
	}
	return ws.defaults.clone()
}

// Lookup returns kind's merged configuration and whether kind has a file.
func (ws Workers) Lookup(kind string) (WorkerConfig, bool) {
	w, ok := ws.kinds[kind]
	if !ok {
		return WorkerConfig{}, false
	}
	return w.clone(), true
}

// Kinds returns the kinds that have a file, sorted.
func (ws Workers) Kinds() []string { return slices.Sorted(maps.Keys(ws.kinds)) }

// Equal reports whether ws and o hold the same configuration.
func (ws Workers) Equal(o Workers) bool {
	if !reflect.DeepEqual(ws.defaults.Raw(), o.defaults.Raw()) || len(ws.kinds) != len(o.kinds) {
		return false
	}
	for k, w := range ws.kinds {
		ow, ok := o.kinds[k]
		if !ok || !reflect.DeepEqual(w.Raw(), ow.Raw()) {
			return false
		}
	}
	return true
}

// clone returns a copy of w that shares nothing mutable with it.
func (w WorkerConfig) clone() WorkerConfig {
	c := w
	c.LogLevel = clonePtr(w.LogLevel)
	c.MaxWorkers = clonePtr(w.MaxWorkers)
	c.Timeout = clonePtr(w.Timeout)
	c.MaxAttempts = clonePtr(w.MaxAttempts)
	c.Queue = clonePtr(w.Queue)
	c.Priority = clonePtr(w.Priority)
	c.Interval = clonePtr(w.Interval)
	c.Retention = clonePtr(w.Retention)
	c.GlobalMaxWorkers = clonePtr(w.GlobalMaxWorkers)
	c.RateLimit = clonePtr(w.RateLimit)
	c.Ranker = clonePtr(w.Ranker)
	if w.Backoff != nil {
		c.Backoff = &Backoff{Base: clonePtr(w.Backoff.Base), Max: clonePtr(w.Backoff.Max), Jitter: clonePtr(w.Backoff.Jitter)}
	}
	if w.Exec != nil {
		c.Exec = &Exec{Shell: w.Exec.Shell, Argv: slices.Clone(w.Exec.Argv)}
	}
	c.Custom = maps.Clone(w.Custom)
	c.raw = maps.Clone(w.raw)
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// LoadWorkerDir reads every <kind>.json file of dir and merges each over
// dir/_defaults.json. Files that cannot be read or parsed are left out and
// reported, each as a *FileError naming its path. Files whose names start
// with "." are ignored (editor and temporary files), and so are
// subdirectories.
func LoadWorkerDir(dir string) (Workers, []error) {
	l := newLoader(dir)
	l.scan()
	return l.result()
}

// loader keeps the last good contents of each file of a worker directory
// across scans.
type loader struct {
	dir    string
	files  map[string]*fileState // by file name
	dirErr error                 // the directory could not be read
}

type fileState struct {
	read bool                       // data holds what was last read
	data []byte                     // the file's last contents
	good map[string]json.RawMessage // the last contents that parsed; nil if none did
	err  error                      // the file's current problem
}

func newLoader(dir string) *loader {
	return &loader{dir: dir, files: make(map[string]*fileState)}
}

// scan re-reads the directory. A file that no longer parses keeps its last
// good contents; a file that is gone is forgotten.
func (l *loader) scan() {
	if l.dir == "" {
		l.dirErr = errors.New("config: no worker directory given")
		return
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		l.dirErr = &FileError{Path: l.dir, Err: err}
		return
	}
	l.dirErr = nil
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		path := filepath.Join(l.dir, name)
		st := l.files[name]
		if st == nil {
			st = &fileState{}
		}
		if reserved(name) {
			seen[name] = true
			l.files[name] = st
			st.err = &FileError{Path: path, Err: errors.New(`file names starting with "_" are reserved (the defaults file is ` + DefaultsFile + `)`)}
			continue
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		seen[name] = true
		l.files[name] = st
		if err != nil {
			st.err = &FileError{Path: path, Err: err}
			continue
		}
		if st.read && bytes.Equal(data, st.data) {
			continue
		}
		st.read, st.data = true, data
		obj, err := parseObject(data)
		if err == nil {
			_, err = build(obj)
		}
		if err != nil {
			st.err = &FileError{Path: path, Err: err, KeptLastGood: st.good != nil}
			continue
		}
		st.good, st.err = obj, nil
	}
	for name := range l.files {
		if !seen[name] {
			delete(l.files, name)
		}
	}
}

func reserved(name string) bool { return strings.HasPrefix(name, "_") && name != DefaultsFile }

// result merges the last good contents into a Workers and lists the
// current problems, sorted by path.
func (l *loader) result() (Workers, []error) {
	var errs []error
	if l.dirErr != nil {
		errs = append(errs, l.dirErr)
	}
	var defaults map[string]json.RawMessage
	if st := l.files[DefaultsFile]; st != nil {
		defaults = st.good
	}
	ws := Workers{kinds: make(map[string]WorkerConfig)}
	var err error
	if ws.defaults, err = build(merge(nil, defaults)); err != nil {
		errs = append(errs, &FileError{Path: filepath.Join(l.dir, DefaultsFile), Err: err})
	}
	for _, name := range slices.Sorted(maps.Keys(l.files)) {
		st := l.files[name]
		if st.err != nil {
			errs = append(errs, st.err)
		}
		if name == DefaultsFile || reserved(name) || st.good == nil {
			continue
		}
		w, err := build(merge(defaults, st.good))
		if err != nil { // cannot happen: every value was checked in its own file
			errs = append(errs, &FileError{Path: filepath.Join(l.dir, name), Err: err})
			continue
		}
		ws.kinds[strings.TrimSuffix(name, ".json")] = w
	}
	return ws, errs
}
