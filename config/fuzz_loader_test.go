package config

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// FuzzLoadWorkerDir writes a defaults file and one kind's file to a
// directory and loads it as the server does, checking the merge: the kind's
// keys win, the defaults' other keys stay, a null unsets; a bad file is
// reported with its path and left out (a bad defaults file leaves the kind
// alone); and two files that parse alone always merge into a config that
// parses. The seed corpus is in testdata/fuzz/FuzzLoadWorkerDir.
func FuzzLoadWorkerDir(f *testing.F) {
	f.Fuzz(func(t *testing.T, defaults, kind []byte) {
		dir := t.TempDir()
		defPath, kindPath := filepath.Join(dir, DefaultsFile), filepath.Join(dir, "k.json")
		for path, data := range map[string][]byte{defPath: defaults, kindPath: kind} {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ws, errs := LoadWorkerDir(dir)
		d, derr := ParseWorkerConfig(defaults)
		k, kerr := ParseWorkerConfig(kind)

		named := func(path string) bool {
			return slices.ContainsFunc(errs, func(err error) bool {
				var fe *FileError
				return errors.As(err, &fe) && fe.Path == path && fe.Err.Error() != ""
			})
		}
		if (derr != nil) != named(defPath) || (kerr != nil) != named(kindPath) || len(errs) > 2 {
			t.Fatalf("defaults err %v, kind err %v: loader reported %v", derr, kerr, errs)
		}
		got, ok := ws.Lookup("k")
		if kerr != nil {
			if ok {
				t.Fatalf("a kind whose file does not parse has a config: %+v", got)
			}
			return
		}
		if !ok {
			t.Fatalf("kind %q parses alone but has no config (errors %v)", kind, errs)
		}
		base := d.Raw()
		if derr != nil {
			base = nil
		}
		want := map[string][]byte{}
		for key, v := range base {
			want[key] = v
		}
		for key, v := range k.Raw() {
			want[key] = v
		}
		// Nulls in the kind's file unset the defaults' keys.
		obj, _ := parseObject(kind)
		for key, v := range obj {
			if isNull(v) {
				delete(want, key)
			}
		}
		raw := got.Raw()
		if len(raw) != len(want) {
			t.Fatalf("merged keys %v, want %v", slices.Sorted(maps.Keys(raw)), slices.Sorted(maps.Keys(want)))
		}
		for key, v := range want {
			if !bytes.Equal(raw[key], v) {
				t.Fatalf("merged %q = %s, want %s", key, raw[key], v)
			}
		}
		again, err := build(raw)
		if err != nil || !reflect.DeepEqual(typed(again), typed(got)) {
			t.Fatalf("the merged config does not build to itself: %v", err)
		}
	})
}
