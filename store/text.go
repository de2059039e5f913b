package store

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// CleanText returns s as every store keeps free text (error messages, a
// panic's location, an abort's reason): valid UTF-8 without NUL
// characters, each invalid byte and each NUL replaced by U+FFFD, as
// encoding/json does for invalid bytes. PostgreSQL rejects NULs and
// invalid UTF-8 in text; a worker's error may hold any bytes.
func CleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0 || (r == utf8.RuneError && size == 1) {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// CleanJSON returns raw (a JSON text) with each \u0000 escape in its
// strings replaced by \ufffd and each invalid UTF-8 byte by U+FFFD: JSON
// that PostgreSQL's jsonb accepts. raw itself is returned when it needs no
// change.
func CleanJSON(raw json.RawMessage) json.RawMessage {
	if utf8.Valid(raw) && !bytes.Contains(raw, []byte(`\u0000`)) {
		return raw
	}
	out := make([]byte, 0, len(raw)+8)
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw):
			// An escape: backslashes appear only inside strings, in pairs
			// with the escaped character, so \\u0000 is not an escape of NUL.
			if raw[i+1] == 'u' && i+6 <= len(raw) && string(raw[i+2:i+6]) == "0000" {
				out = append(out, `\ufffd`...)
				i += 6
				continue
			}
			out = append(out, c, raw[i+1])
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, raw[i:i+size]...)
			}
			i += size
		}
	}
	return out
}
