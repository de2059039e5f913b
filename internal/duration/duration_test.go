package duration

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxSeconds is the largest whole number of seconds a time.Duration holds.
const maxSeconds = "9223372036"

// parseCase is an input of a parser, what it should give, and the text
// its error should have ("" for none); an error about the range should
// wrap ErrRange, and no other.
type parseCase struct {
	in      string
	want    time.Duration
	wantErr string
}

func checkParser(t *testing.T, name string, parse func(string) (time.Duration, error), cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		got, err := parse(c.in)
		ok := err == nil && got == c.want
		if c.wantErr != "" {
			ok = err != nil && got == 0 && strings.Contains(err.Error(), c.wantErr)
		}
		if !ok {
			t.Errorf("%s(%q) = %v, %v; want %v, error with %q", name, c.in, got, err, c.want, c.wantErr)
		}
		if strings.Contains(c.wantErr, "out of range") != errors.Is(err, ErrRange) {
			t.Errorf("%s(%q): error %v: wraps ErrRange is %v", name, c.in, err, errors.Is(err, ErrRange))
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	checkParser(t, "Parse", Parse, []parseCase{
		{"30s", 30 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"0", 0, ""},
		{"7d", 7 * day, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"-2d", -2 * day, ""},
		{"+1d", day, ""},
		{"0d", 0, ""},
		{"106751d23h47m16s", 106751*day + 23*time.Hour + 47*time.Minute + 16*time.Second, ""},
		{"", 0, `"" is not a duration (like 90s, 1h30m or 7d)`},
		{" 90s ", 0, `" 90s " is not a duration`},
		{"90", 0, `"90" is not a duration`},
		{"1.5", 0, "is not a duration"},
		{"1d-1h", 0, "is not a duration"},
		{"1d+1h", 0, "is not a duration"},
		{"1.5d", 0, "is not a duration"},
		{"d", 0, "is not a duration"},
		{"1dx", 0, "is not a duration"},
		{"1d 2h", 0, "is not a duration"},
		{"abc", 0, "is not a duration"},
		{"200000d", 0, `"200000d" is out of range`},
		{"99999999999999999999d", 0, "out of range"},
		{"106751d23h47m17s", 0, "out of range"},
	})
	for _, d := range []time.Duration{0, time.Nanosecond, 1500 * time.Millisecond, day, -3 * day, 36 * time.Hour, 1<<63 - 1, -1 << 63} {
		if got, err := Parse(Format(d)); err != nil || got != d {
			t.Errorf("Parse(Format(%v) = %q) = %v, %v", d, Format(d), got, err)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	t.Parallel()
	checkParser(t, "ParseSeconds", ParseSeconds, []parseCase{
		{"90", 90 * time.Second, ""},
		{"1.5", 1500 * time.Millisecond, ""},
		{"+5", 5 * time.Second, ""},
		{".5", 500 * time.Millisecond, ""},
		{"2e3", 2000 * time.Second, ""},
		{"0", 0, ""},
		{"-0", 0, ""},
		{"-1", -time.Second, ""},
		{"0.0000000015", 2 * time.Nanosecond, ""}, // rounded, not truncated
		{"1e-400", 0, ""},                         // below a nanosecond: 0
		{maxSeconds, 9223372036 * time.Second, ""},
		{"-" + maxSeconds, -9223372036 * time.Second, ""},
		{"", 0, `"" is not a number of seconds (like 90 or 1.5)`},
		{"90s", 0, "not a number of seconds"},
		{"NaN", 0, "not a number of seconds"},
		{"Inf", 0, "not a number of seconds"},
		{"-Inf", 0, "not a number of seconds"},
		{"0x10", 0, "not a number of seconds"},
		{"1_000", 0, "not a number of seconds"},
		{" 90", 0, "not a number of seconds"},
		{"1e", 0, "not a number of seconds"},
		{"1-2", 0, "not a number of seconds"},
		{"1e300", 0, "1e300 seconds is out of range"},
		{"-1e300", 0, "out of range"},
		{"1e400", 0, "out of range"},
		{"9223372036.854775807", math.MaxInt64, ""}, // read exactly, not as a float64 (2^63)
		{"9223372036.854775808", 0, "out of range"},
		{"9223372036.8547758075", 0, "out of range"}, // rounds to 2^63
		{"-9223372036.854775808", 0, "out of range"},
		{"8640000001", 8640000001 * time.Second, ""}, // a float64 loses its nanoseconds (found by fuzzing)
		{"0.0000000005", time.Nanosecond, ""},        // half a nanosecond rounds away from zero
		{"-0.0000000005", -time.Nanosecond, ""},
		{"0.0000000004999", 0, ""},
		{"1e-1000000000", 0, ""},
		{"1e1000000000", 0, "out of range"},
		{"12.5e-1", 1250 * time.Millisecond, ""},
		{"1e10", 0, "out of range"},
	})
}

func TestParseJSON(t *testing.T) {
	t.Parallel()
	parseJSON := func(s string) (time.Duration, error) { return ParseJSON([]byte(s)) }
	checkParser(t, "ParseJSON", parseJSON, []parseCase{
		{``, 0, ""},
		{`null`, 0, ""},
		{` null `, 0, ""},
		{`"0"`, 0, ""},
		{`0`, 0, ""},
		{`-1`, -time.Second, ""}, // the caller checks the range
		{`"-5m"`, -5 * time.Minute, ""},
		{`90`, 90 * time.Second, ""},
		{` 90 `, 90 * time.Second, ""},
		{`1.5`, 1500 * time.Millisecond, ""},
		{`2E3`, 2000 * time.Second, ""},
		{`"90s"`, 90 * time.Second, ""},
		{`"1h30m"`, 90 * time.Minute, ""},
		{`"7d"`, 7 * day, ""},
		{`"1d12h"`, 36 * time.Hour, ""},
		{`"\u0039\u0030s"`, 90 * time.Second, ""},
		{maxSeconds, 9223372036 * time.Second, ""},
		{`""`, 0, `"" is not a duration (like 90s, 1h30m or 7d)`},
		{`" 90s "`, 0, `" 90s " is not a duration`},
		{`"90"`, 0, `"90" is not a duration`}, // a string needs a unit
		{`"1.5"`, 0, `"1.5" is not a duration`},
		{`"NaN"`, 0, "is not a duration"},
		{`"soon"`, 0, "is not a duration"},
		{`"200000d"`, 0, `"200000d" is out of range`},
		{`"106751d23h47m17s"`, 0, "out of range"},
		{`1e300`, 0, "1e300 seconds is out of range"},
		{`-1e300`, 0, "-1e300 seconds is out of range"},
		{`1e400`, 0, "out of range"},
		{`9223372036.854775808`, 0, "out of range"},
		{`8640000001`, 8640000001 * time.Second, ""},
		{`true`, 0, `true is neither a duration string (like "90s") nor a number of seconds`},
		{`false`, 0, "neither a duration string"},
		{`{}`, 0, "{} is neither a duration string"},
		{`[90]`, 0, "neither a duration string"},
		{`{"seconds":90}`, 0, "neither a duration string"},
		{`NaN`, 0, "neither a duration string"},
		{`Infinity`, 0, "neither a duration string"},
		{`-`, 0, "neither a duration string"},
		{`01`, 0, "neither a duration string"},
		{`1e`, 0, "neither a duration string"},
		{`+1`, 0, "neither a duration string"},
		{`90 s`, 0, "neither a duration string"},
		{`"90s`, 0, "is not a JSON string"},
		{`"` + strings.Repeat("x", 100) + `"`, 0, "is not a duration"},
		{strings.Repeat("[", 100), 0, strings.Repeat("[", 40) + "… is neither"},
	})
}

// FuzzParseJSON checks that ParseJSON never panics, that every error says
// something, and that a duration it reads, written back as a JSON string in
// Format's syntax or (when whole) as a number of seconds, reads as itself.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{``, `null`, `"0"`, `0`, `-1`, `1e300`, `"1.5"`, `"1d12h"`, `" 90s "`, `"90"`,
		`true`, `{}`, `1.5`, `"-2d"`, `"106751d23h47m16s"`, `9223372036.854775807`, `"1h30m"`, `"\u0039\u0030s"`,
		`8640000001`, `"100000d01s"`, `1e-1000000000`, `1e1000000000`, `0.0000000005`, `-0.0000000005`, `9223372036.8547758075`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := ParseJSON(raw)
		if err != nil {
			if err.Error() == "" || d != 0 {
				t.Fatalf("ParseJSON(%q) = %v, error %q", raw, d, err)
			}
			return
		}
		s, _ := json.Marshal(Format(d))
		if again, err := ParseJSON(s); err != nil || again != d {
			t.Fatalf("ParseJSON(%q) = %v; ParseJSON(%s) = %v, %v", raw, d, s, again, err)
		}
		if d%time.Second == 0 {
			n := []byte(strconv.FormatInt(int64(d/time.Second), 10))
			if again, err := ParseJSON(n); err != nil || again != d {
				t.Fatalf("ParseJSON(%q) = %v; ParseJSON(%s) = %v, %v", raw, d, n, again, err)
			}
		}
	})
}
