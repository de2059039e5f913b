package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // a schedule spec's & stays &, not \u0026
	return enc.Encode(v)
}

// table writes aligned columns, each cell on one line (see oneLine).
// Every table the CLI prints goes through it.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(cells []string) {
		esc := make([]string, len(cells))
		for i, c := range cells {
			esc[i] = oneLine(c)
		}
		fmt.Fprintln(tw, strings.Join(esc, "\t"))
	}
	if header != nil {
		line(header)
	}
	for _, r := range rows {
		line(r)
	}
	return tw.Flush()
}

// oneLine makes s fit in one table cell: line breaks, tabs and the other
// control characters (which would end the cell or the row, or move the
// cursor) are written as Go escapes: \n, \r, \t, \x1b, \u0085. So are
// the Unicode line and paragraph separators, and the bytes of invalid
// UTF-8 (\xff: 0xff is tabwriter's escape byte, which would swallow the
// cell separators after it). Backslashes are left as they are: a cell is
// for reading; --json gives the exact text.
func oneLine(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, breaksCell) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i])
				continue
			}
		}
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case breaksCell(r) && r < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02x`, r)
		case breaksCell(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// breaksCell reports whether r cannot be shown as it is in a table cell.
func breaksCell(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// fmtTime shows t in the local time zone (TZ), named, so that a time read
// on one machine means the same on another; "-" for none.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtMeta(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// printJobs prints a job list as a table.
func printJobs(w io.Writer, jobs []*rota.Job) error {
	rows := make([][]string, len(jobs))
	for i, j := range jobs {
		rows[i] = []string{fmt.Sprint(j.ID), j.Kind, j.Queue, string(j.State), fmt.Sprint(j.Priority),
			fmt.Sprintf("%d/%d", j.Attempt, j.MaxAttempts), orDash(j.Key), fmtTime(j.RunAt), truncate(orDash(j.LastError), 40)}
	}
	return table(w, []string{"ID", "KIND", "QUEUE", "STATE", "PRIO", "ATTEMPT", "KEY", "RUN AT", "LAST ERROR"}, rows)
}

// printJob prints one job with its attempt history.
func printJob(w io.Writer, j *rota.Job) error {
	var fields [][]string
	line := func(k, v string) { fields = append(fields, []string{k + ":", v}) }
	line("id", fmt.Sprint(j.ID))
	line("kind", j.Kind)
	line("queue", j.Queue)
	line("state", string(j.State))
	if j.CancelRequested {
		line("cancel requested", "yes")
	}
	line("priority", fmt.Sprint(j.Priority))
	line("key", orDash(j.Key))
	line("metadata", fmtMeta(j.Metadata))
	line("args", compactJSON(j.Args))
	line("attempt", fmt.Sprintf("%d of %d", j.Attempt, j.MaxAttempts))
	if j.Timeout > 0 {
		line("timeout", j.Timeout.String())
	}
	line("run at", fmtTime(j.RunAt))
	line("created", fmtTime(j.CreatedAt))
	line("updated", fmtTime(j.UpdatedAt))
	line("started", fmtTime(j.StartedAt))
	line("finished", fmtTime(j.FinishedAt))
	line("node", orDash(j.Node))
	line("result", orDash(compactJSON(j.Result)))
	if j.LastError != "" {
		line("last error", j.LastError)
	}
	if err := table(w, nil, fields); err != nil {
		return err
	}
	if len(j.Attempts) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nattempts:")
	rows := make([][]string, len(j.Attempts))
	for i, at := range j.Attempts {
		rows[i] = []string{fmt.Sprint(at.Number), at.Node, fmtTime(at.StartedAt), at.FinishedAt.Sub(at.StartedAt).Round(time.Microsecond).String(),
			string(at.Outcome), orDash(at.Error), orDash(at.Location)}
	}
	return table(w, []string{"#", "NODE", "STARTED", "TOOK", "OUTCOME", "ERROR", "LOCATION"}, rows)
}

// stateColumns is the state order of count tables.
func stateColumns() []store.State { return store.States() }

// compactJSON prints stored JSON without insignificant space, so args and
// results read the same from every store (PostgreSQL's jsonb adds spaces)
// and over HTTP.
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// nextPageCommand is the command line of the next page of a list: cmd with
// the flags of its own that were given (its filters, limit and order), the
// cursor flag set to next. Global flags (the store, the server, --json) are
// left out: they usually come from the environment, and --token must never
// be printed.
func nextPageCommand(cmd *cobra.Command, cursor, next string) string {
	parts := []string{cmd.CommandPath()}
	own := cmd.LocalNonPersistentFlags()
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == cursor || own.Lookup(f.Name) == nil {
			return
		}
		if f.Value.Type() == "bool" {
			parts = append(parts, "--"+f.Name)
			return
		}
		vals := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vals = sv.GetSlice()
		}
		for _, v := range vals {
			parts = append(parts, "--"+f.Name, shellQuote(v))
		}
	})
	return strings.Join(append(parts, "--"+cursor, shellQuote(next)), " ")
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and . _ - : / = , @ +.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:/=,@+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
