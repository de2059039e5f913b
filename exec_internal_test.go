package rota

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestExecRetryAfter: the delay a command exiting with status 75 gives on
// its last line of standard output.
func TestExecRetryAfter(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		out     string
		want    time.Duration
		ok      bool
		wantErr string
	}{
		{``, 0, false, ""},
		{`{"done":true}`, 0, false, ""},
		{`[1,2]`, 0, false, ""},
		{`"5m"`, 0, false, ""},
		{`{"retry_after":null}`, 0, false, ""},
		{`{"retry_after":"5m"}`, 5 * time.Minute, true, ""},
		{`{"retry_after":"1h30m","why":"rate limited"}`, 90 * time.Minute, true, ""},
		{`{"retry_after":300}`, 300 * time.Second, true, ""},
		{`{"retry_after":0.25}`, 250 * time.Millisecond, true, ""},
		// Durations as the HTTP API reads them (internal/duration): days too.
		{`{"retry_after":"7d"}`, 7 * 24 * time.Hour, true, ""},
		{`{"retry_after":"1d12h"}`, 36 * time.Hour, true, ""},
		{`{"retry_after":4.35}`, 4350 * time.Millisecond, true, ""}, // rounded, not truncated
		{`{"retry_after":"soon"}`, 0, false, `retry_after "soon" is not a duration (like 90s, 1h30m or 7d)`},
		{`{"retry_after":"90"}`, 0, false, `"90" is not a duration`},
		{`{"retry_after":""}`, 0, false, `"" is not a duration`},
		{`{"retry_after":"-5m"}`, 0, false, "not a positive delay"},
		{`{"retry_after":"-1d"}`, 0, false, "not a positive delay"},
		{`{"retry_after":0}`, 0, false, "not a positive delay"},
		{`{"retry_after":"0"}`, 0, false, "not a positive delay"},
		{`{"retry_after":-1}`, 0, false, "not a positive delay"},
		{`{"retry_after":1e300}`, 0, false, "retry_after 1e300 seconds is out of range"},
		{`{"retry_after":-1e300}`, 0, false, "retry_after -1e300 seconds is out of range"},
		{`{"retry_after":"200000d"}`, 0, false, `retry_after "200000d" is out of range`},
		{`{"retry_after":true}`, 0, false, `retry_after true is neither a duration string (like "90s") nor a number of seconds`},
		{`{"retry_after":{"s":5}}`, 0, false, "neither a duration string"},
	} {
		d, ok, err := execRetryAfter(json.RawMessage(c.out))
		if d != c.want || ok != c.ok || (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("execRetryAfter(%s) = %s, %v, %v; want %s, %v, error containing %q", c.out, d, ok, err, c.want, c.ok, c.wantErr)
		}
	}
}
