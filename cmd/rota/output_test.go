package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// TestTableCellsAreOneLine checks that a cell with line breaks, tabs or
// other control characters takes one line of the table and keeps the
// columns after it aligned.
func TestTableCellsAreOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cell, want string
	}{
		{"plain", "exit status 1", "exit status 1"},
		{"newlines", "exit status 1: line one\nline two\n", `exit status 1: line one\nline two\n`},
		{"crlf", "a\r\nb", `a\r\nb`},
		{"tab", "col\tumn", `col\tumn`},
		{"invalid UTF-8", "bad \xff byte \xc3", `bad \xff byte \xc3`},
		{"valid non-ASCII", "naïve ☃", "naïve ☃"},
		{"escape sequence", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"form feed and vertical tab", "a\fb\vc", `a\x0cb\x0bc`},
		{"nul and del", "a\x00b\x7f", `a\x00b\x7f`},
		{"c1 next line", "a\u0085b", `a\u0085b`},
		{"line separator", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"not control", `C:\temp é ✓`, `C:\temp é ✓`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			rows := [][]string{{"1", tt.cell, "end"}, {"22", "short", "end"}}
			if err := table(&b, []string{"ID", tt.cell, "LAST"}, rows); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d lines, want 3 (a header and two rows):\n%s", len(lines), b.String())
			}
			if !strings.Contains(lines[0], tt.want) || !strings.Contains(lines[1], tt.want) {
				t.Errorf("cell %q not shown as %q:\n%s", tt.cell, tt.want, b.String())
			}
			column := func(l, s string) int { return utf8.RuneCountInString(l[:strings.Index(l, s)]) }
			last := column(lines[0], "LAST")
			for _, l := range lines[1:] {
				if column(l, "end") != last {
					t.Errorf("columns not aligned:\n%s", b.String())
				}
			}
		})
	}
}

// TestPrintJobOneLineEach checks that rota jobs show gives each field and
// each attempt one line, however many lines their errors have.
func TestPrintJobOneLineEach(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tail := "exit status 1: Traceback (most recent call last):\n\tFile \"w.py\", line 3\nValueError: bad\n"
	j := &rota.Job{Job: store.Job{ID: 7, Kind: "scan.host", Queue: "default", State: store.StateError, Attempt: 2, MaxAttempts: 2,
		LastError: tail, Attempts: []store.Attempt{
			{Number: 1, Node: "n1", StartedAt: start, FinishedAt: start.Add(time.Second), Outcome: store.OutcomeError, Error: tail},
			{Number: 2, Node: "n1", StartedAt: start, FinishedAt: start.Add(time.Second), Outcome: store.OutcomeError, Error: tail},
		}}}
	var b bytes.Buffer
	if err := printJob(&b, j); err != nil {
		t.Fatal(err)
	}
	fields, attempts, ok := strings.Cut(b.String(), "\nattempts:\n")
	if !ok {
		t.Fatalf("no attempts:\n%s", b.String())
	}
	if n := strings.Count(fields, "\n"); n != 17 { // id to node, result and last error
		t.Errorf("%d lines of fields, want 17:\n%s", n, fields)
	}
	if !strings.Contains(fields, `last error:  exit status 1: Traceback (most recent call last):\n\tFile "w.py", line 3\nValueError: bad\n`+"\n") {
		t.Errorf("last error not on one line:\n%s", fields)
	}
	lines := strings.Split(strings.TrimSuffix(attempts, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines of attempts, want a header and 2:\n%s", len(lines), attempts)
	}
	for _, l := range lines[1:] {
		if !strings.HasSuffix(l, `ValueError: bad\n  -`) {
			t.Errorf("attempt line %q does not end with its error and location", l)
		}
	}
}

// TestTimesNameTheirZone: times in tables are in the local zone (TZ) and
// say which (they showed a bare wall time, ambiguous across machines).
func TestTimesNameTheirZone(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ tz, want string }{{"Asia/Kolkata", " IST"}, {"UTC", " UTC"}} {
		e := newEnv(t, "TZ="+c.tz)
		e.ok("enqueue", "tz.job", "{}", "--delay", "1h")
		if out := e.ok("jobs", "ls"); !strings.Contains(out, c.want) {
			t.Errorf("TZ=%s: jobs ls does not name the zone (%q):\n%s", c.tz, c.want, out)
		}
		if out := e.ok("jobs", "show", "1"); !strings.Contains(out, c.want) {
			t.Errorf("TZ=%s: jobs show does not name the zone (%q):\n%s", c.tz, c.want, out)
		}
		if out := e.ok("stats", "--hours", "2"); !strings.Contains(out, ":00"+c.want) {
			t.Errorf("TZ=%s: stats --hours does not name the zone (%q):\n%s", c.tz, c.want, out)
		}
	}
}

// TestPrintJSONKeepsText: --json writes text as it is (a schedule spec's
// & came out as \u0026), also in the types that marshal themselves (jobs
// and schedules), where json.Marshal still escapes it.
func TestPrintJSONKeepsText(t *testing.T) {
	t.Parallel()
	const text = "every 5 minutes & <weekdays>"
	for _, v := range []any{
		map[string]string{"spec": text},
		&rota.Schedule{Spec: text},
		&rota.Job{Job: store.Job{Key: text}},
		&rota.Job{Job: store.Job{Key: text}, Duplicate: true},
	} {
		var b bytes.Buffer
		if err := printJSON(&b, v); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), `"`+text+`"`) {
			t.Errorf("printJSON(%T) escaped the text: %s", v, b.String())
		}
		m, err := json.Marshal(v)
		if err != nil || strings.Contains(string(m), "&") {
			t.Errorf("json.Marshal(%T) = %s, %v: want & escaped as before", v, m, err)
		}
	}
}
