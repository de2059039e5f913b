// Package duration is rota's syntax for durations, read the same way
// wherever a person, a request or a command gives one: Go's syntax
// (time.ParseDuration: "90s", "1h30m", "250ms") that may start with a whole
// number of days ("7d", "1d12h"), and, where a number can stand for it, a
// decimal number of seconds ("90", "1.5"). ParseJSON reads a JSON duration
// value, a string or a number of seconds, as the HTTP API, the per-worker
// files and an exec worker's retry hint give one.
//
// Errors say what is wrong with the value without naming where it came
// from, and without a package prefix: each caller puts its field's name
// (or its own message) in front.
package duration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// ErrRange is wrapped by the errors of ParseSeconds and ParseJSON for a
// number of seconds too large or too small for a time.Duration (about
// ±292 years), infinite or not a number.
var ErrRange = errors.New("out of range")

const day = 24 * time.Hour

// Parse parses a Go duration ("30s", "1h30m", "250ms") that may start with
// a whole number of days ("7d", "1d12h"), with an optional sign before the
// days ("-2d"). It takes no spaces and no bare number other than "0".
// Days beyond a time.Duration's range are an error wrapping ErrRange.
func Parse(s string) (time.Duration, error) {
	sign, daysText, rest, ok := cutDays(s)
	if !ok {
		d, err := time.ParseDuration(s)
		if err != nil {
			// time's message adds nothing to this one.
			return 0, fmt.Errorf("%q is not a duration (like 90s, 1h30m or 7d)", s)
		}
		return d, nil
	}
	days, err := strconv.ParseInt(daysText, 10, 64)
	if err != nil || days > math.MaxInt64/int64(day) {
		return 0, fmt.Errorf("%q is %w", s, ErrRange)
	}
	d := time.Duration(days) * day
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || rest[0] == '-' || rest[0] == '+' {
			return 0, fmt.Errorf("%q is not a duration (like 90s, 1h30m or 7d)", s)
		}
		if r > math.MaxInt64-d {
			return 0, fmt.Errorf("%q is %w", s, ErrRange)
		}
		d += r
	}
	if sign == "-" {
		d = -d
	}
	return d, nil
}

// cutDays splits "[sign]<digits>d<rest>".
func cutDays(s string) (sign, days, rest string, ok bool) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i || j == len(s) || s[j] != 'd' {
		return "", "", "", false
	}
	return s[:i], s[i:j], s[j+1:], true
}

// Format writes d so that Parse reads it back: whole days as "7d",
// anything else as time.Duration.String does ("36h0m0s", "1.5s").
func Format(d time.Duration) string {
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// IsDecimal reports whether s is written as a decimal number with no unit
// ("90", "-1.5", "2e3", and malformed ones like "1-2"): what ParseSeconds
// reads rather than Parse. "NaN", "Inf" and hexadecimal are not.
func IsDecimal(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789.+-eE", r) }) < 0
}

// ParseSeconds reads a decimal number of seconds ("90", "1.5", "-2",
// "2e3"), rounded to the nearest nanosecond. A number beyond a
// time.Duration's range is an error wrapping ErrRange.
func ParseSeconds(s string) (time.Duration, error) {
	if !IsDecimal(s) {
		return 0, fmt.Errorf("%q is not a number of seconds (like 90 or 1.5)", s)
	}
	ns, ok, err := exactNanos(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of seconds (like 90 or 1.5)", s)
	}
	if !ok {
		return 0, fmt.Errorf("%s seconds is %w", s, ErrRange)
	}
	return time.Duration(ns), nil
}

// maxExponent bounds the exponent a number of seconds is read with
// exactly: beyond it, a nonzero number is out of range (or rounds to 0).
const maxExponent = 40

// exactNanos reads a decimal number of seconds (digits, an optional
// fraction, an optional exponent) as nanoseconds, exactly, rounded half
// away from zero (floats lose whole nanoseconds past about 104 days). ok
// is false when it is beyond an int64.
func exactNanos(s string) (ns int64, ok bool, err error) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, perr := strconv.Atoi(s[i+1:])
		if perr != nil && !errors.Is(perr, strconv.ErrRange) || s[i+1:] == "" {
			return 0, false, errors.New("bad exponent")
		}
		exp = max(min(e, 1<<20), -1<<20) // an out-of-range exponent is clamped: still beyond maxExponent
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := whole + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" || strings.Count(mant, ".") > 1 {
		return 0, false, errors.New("not a decimal number")
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return 0, true, nil
	}
	m, _ := new(big.Int).SetString(digits, 10)
	k := exp - len(frac) + 9 // ns = m * 10^k
	switch {
	case k > maxExponent:
		return 0, false, nil
	case k >= 0:
		m.Mul(m, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil))
	case -k > len(digits)+1:
		return 0, true, nil // under half a nanosecond
	default:
		div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-k)), nil)
		var r big.Int
		m.QuoRem(m, div, &r)
		if r.Lsh(&r, 1).Cmp(div) >= 0 {
			m.Add(m, big.NewInt(1))
		}
	}
	if neg {
		m.Neg(m)
	}
	// Within (-2^63, 2^63): the bound is exclusive on both sides, as the
	// float reading was.
	if !m.IsInt64() || m.Int64() == math.MinInt64 {
		return 0, false, nil
	}
	return m.Int64(), true, nil
}

// ParseJSON reads a JSON duration value: a string in Parse's syntax
// ("90s", "1h30m", "7d") or a number of seconds (90, 1.5), as
// ParseSeconds reads it. Absent (empty) or null is 0 with no error; the
// caller that needs a value tells those apart itself. Spaces around the
// value are ignored, spaces inside a string are not. Any sign and size is
// read: the caller checks the range its field allows.
func ParseJSON(raw []byte) (time.Duration, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return 0, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("%s is not a JSON string: %w", shorten(raw), err)
		}
		return Parse(s)
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return ParseSeconds(n.String())
		}
	}
	return 0, fmt.Errorf("%s is neither a duration string (like \"90s\") nor a number of seconds", shorten(raw))
}

// shorten returns raw for an error message, cut to about 40 bytes.
func shorten(raw []byte) string {
	const max = 40
	if len(raw) <= max {
		return string(raw)
	}
	return strings.ToValidUTF8(string(raw[:max]), "") + "…"
}
