package store

import (
	"encoding/json"
	"testing"
)

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"plain é ✓":        "plain é ✓",
		"a\x00b":           "a\ufffdb",
		"bad \xff\xfe end": "bad \ufffd\ufffd end",
		"cut \xe2\x9c":     "cut \ufffd\ufffd",
	} {
		if got := CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
		// The same replacement as encoding/json's.
		enc, _ := json.Marshal(in)
		var dec string
		if err := json.Unmarshal(enc, &dec); err != nil || (dec != want && in != "a\x00b") {
			t.Errorf("json round trip of %q = %q, want %q", in, dec, want)
		}
	}
}

func TestCleanJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:                   `{"a":1}`,
		`{"s":"a\u0000b"}`:          `{"s":"a\ufffdb"}`,
		`{"s":"\\u0000"}`:           `{"s":"\\u0000"}`,
		`{"s":"\\\u0000"}`:          `{"s":"\\\ufffd"}`,
		`["\u00001","\"\u0000"]`:    `["\ufffd1","\"\ufffd"]`,
		"{\"s\":\"\xff\"}":          `{"s":"` + "\ufffd" + `"}`,
		`{"\u0000":"\u00e9\u0000"}`: `{"\ufffd":"\u00e9\ufffd"}`,
	} {
		got := CleanJSON(json.RawMessage(in))
		if string(got) != want {
			t.Errorf("CleanJSON(%s) = %s, want %s", in, got, want)
		}
		if !json.Valid(got) {
			t.Errorf("CleanJSON(%s) = %s: not valid JSON", in, got)
		}
	}
	if CleanJSON(nil) != nil {
		t.Error("CleanJSON(nil) is not nil")
	}
}
