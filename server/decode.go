package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/duration"
)

// decodeBody decodes the request body, one JSON object, into v, strictly:
// unknown fields, wrong types, trailing data and bodies over the limit are
// errors naming what was wrong. An empty body leaves v as it is when
// optional, and is an error otherwise.
func decodeBody(r *http.Request, v any, optional bool) error {
	return decodeJSON(r.Body, v, optional, "")
}

// decodeJSON is decodeBody on any reader; prefix is put before field names.
func decodeJSON(body io.Reader, v any, optional bool, prefix string) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			if optional {
				return nil
			}
			return &apiError{Status: http.StatusBadRequest, Code: CodeMalformedJSON, Message: "the body is empty; want a JSON object"}
		}
		return jsonError(err, prefix)
	}
	_, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return &apiError{Status: http.StatusBadRequest, Code: CodeMalformedJSON, Message: "more than one JSON value in the body"}
	}
	return jsonError(err, prefix)
}

// jsonError maps a decoding error to a 400 (or 413) naming the field.
func jsonError(err error, prefix string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return toAPIError(err, prefix)
	case errors.As(err, &se):
		return &apiError{Status: http.StatusBadRequest, Code: CodeMalformedJSON,
			Message: fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: ")), err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{Status: http.StatusBadRequest, Code: CodeMalformedJSON, Message: "malformed JSON: the body ends too early", err: err}
	case errors.As(err, &te):
		if te.Field == "" {
			return &apiError{Status: http.StatusBadRequest, Code: CodeInvalid, Field: strings.TrimSuffix(prefix, "."),
				Message: fmt.Sprintf("invalid %s: got a JSON %s, want an object", orBody(strings.TrimSuffix(prefix, ".")), te.Value), err: err}
		}
		field := prefix + te.Field
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalid, Field: field,
			Message: fmt.Sprintf("invalid %s: got a JSON %s, want %s", field, te.Value, jsonTypeName(te.Type.String())), err: err}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, uerr := strconv.Unquote(name); uerr == nil {
			name = n
		}
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalid, Field: prefix + name,
			Message: fmt.Sprintf("unknown field %q", prefix+name), err: err}
	}
	return &apiError{Status: http.StatusBadRequest, Code: CodeMalformedJSON, Message: "malformed JSON: " + err.Error(), err: err}
}

// jsonTypeName says a Go type the way a JSON user reads it.
func jsonTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"):
		return "an object"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "another type"
}

// parseDuration reads a JSON duration: a string like "90s", "1h30m" or
// "7d", or a number of seconds (internal/duration's ParseJSON). Absent or
// null is 0.
func parseDuration(field string, raw json.RawMessage) (time.Duration, error) {
	d, err := duration.ParseJSON(raw)
	if err != nil {
		return 0, invalid(field, "%v", err)
	}
	return d, nil
}

// parseTime reads an RFC 3339 time.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid(field, "%q is not an RFC 3339 time (like 2026-01-02T15:04:05Z)", s)
	}
	if y := t.UTC().Year(); y < 1 || y > rota.MaxYear {
		return time.Time{}, invalid(field, "%q is outside the years 0001-%d in UTC", s, rota.MaxYear)
	}
	return t, nil
}

// query reads a request's query parameters, refusing unknown ones.
type query struct {
	v url.Values
}

// newQuery parses r's query and checks that it names only allowed parameters.
func newQuery(r *http.Request, allowed ...string) (query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return query{}, invalid("", "the query string is malformed: %v", err)
	}
	for name := range v {
		ok := false
		for _, a := range allowed {
			if name == a {
				ok = true
				break
			}
		}
		if !ok {
			return query{}, &apiError{Status: http.StatusBadRequest, Code: CodeInvalid, Field: name,
				Message: fmt.Sprintf("unknown query parameter %q (known: %s)", name, strings.Join(allowed, ", "))}
		}
	}
	return query{v: v}, nil
}

// one returns the single value of name ("" if absent); repeating it is an error.
func (q query) one(name string) (string, error) {
	vs := q.v[name]
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", invalid(name, "given %d times; give it once", len(vs))
}

// all returns every value of a repeatable name; comma-separated values are split.
func (q query) all(name string) []string {
	var out []string
	for _, v := range q.v[name] {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// time returns name as an RFC 3339 time (zero if absent).
func (q query) time(name string) (time.Time, error) {
	s, err := q.one(name)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	return parseTime(name, s)
}

// int returns name as a whole number in [lo, hi], or def when absent.
func (q query) int(name string, def, lo, hi int) (int, error) {
	s, err := q.one(name)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, invalid(name, "%q is not a whole number", s)
	}
	if n < lo || n > hi {
		return 0, invalid(name, "%d is out of range %d..%d", n, lo, hi)
	}
	return n, nil
}

// pathID reads the {id} path value: a positive job id.
func pathID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("id", "%q is not a job id (a whole number from 1)", s)
	}
	return id, nil
}
