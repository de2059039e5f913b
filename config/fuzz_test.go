package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParseWorkerConfig checks that parsing never panics, that every error
// says something, and that a config that parses survives MarshalJSON and a
// second parse unchanged (and marshals to the same bytes again). The seed
// corpus is in testdata/fuzz/FuzzParseWorkerConfig.
func FuzzParseWorkerConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ParseWorkerConfig(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error message for %q", data)
			}
			return
		}
		b, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("Marshal of the config parsed from %q: %v", data, err)
		}
		again, err := ParseWorkerConfig(b)
		if err != nil {
			t.Fatalf("re-parse of %s (from %q): %v", b, data, err)
		}
		if !reflect.DeepEqual(typed(again), typed(w)) {
			t.Fatalf("round trip changed the config:\nfrom %q\nfirst  %+v\nsecond %+v", data, typed(w), typed(again))
		}
		b2, err := json.Marshal(again)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("second Marshal = %s, %v; want %s", b2, err, b)
		}
		// Merging over nothing, or over itself, changes nothing either.
		raw := w.Raw()
		for _, base := range []map[string]json.RawMessage{nil, raw} {
			merged, err := build(merge(base, raw))
			if err != nil || !reflect.DeepEqual(typed(merged), typed(w)) {
				t.Fatalf("merge of %q over %v = %+v, %v; want %+v", data, base != nil, typed(merged), err, typed(w))
			}
		}
	})
}
