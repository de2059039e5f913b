package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/apiwire"
	"github.com/rotahq/rota/internal/duration"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds one request, answer included, when Options
	// gives no HTTP client.
	DefaultTimeout = 60 * time.Second
	// maxErrorBody bounds the error body read from a failed request.
	maxErrorBody = 1 << 20
)

// Options configures a Client.
type Options struct {
	// Token is the bearer token sent with every request ("" sends none).
	Token string
	// HTTPClient sends the requests; default: one with DefaultTimeout.
	HTTPClient *http.Client
}

// Client calls the API of one rota server. It is safe for concurrent use.
type Client struct {
	base  string // the server's URL without a trailing slash
	token string
	http  *http.Client
}

// New returns a client of the server at baseURL (http:// or https://,
// like http://127.0.0.1:7700).
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, &rota.FieldError{Field: "server",
			Reason: fmt.Sprintf("%q is not a server URL such as http://127.0.0.1:7700", baseURL)}
	}
	if p := strings.TrimRight(u.Path, "/"); p == "/v1" || strings.HasSuffix(p, "/v1") {
		// The routes are under /v1 of the base: this would ask for /v1/v1/jobs.
		return nil, &rota.FieldError{Field: "server",
			Reason: fmt.Sprintf("%q ends in /v1: give the server's base URL, such as %s", baseURL,
				strings.TrimSuffix(strings.TrimRight(u.String(), "/"), "/v1"))}
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: strings.TrimRight(u.String(), "/"), token: opts.Token, http: hc}, nil
}

// Error is an error answer of the server: {"error": {"code", "message",
// "field", "existing"}} with its HTTP status.
type Error struct {
	Status  int    // HTTP status, like 400
	Code    string // the API's error code, like invalid or not_found
	Field   string // the field or parameter at fault, if any
	Message string // the server's message
	// existing is the active job a 409 duplicate names (its existing).
	existing *apiwire.ExistingJob
}

// Error returns the server's message.
func (e *Error) Error() string { return e.Message }

// Is matches the rota package's errors: 404 is rota.ErrNotFound, a 409
// duplicate rota.ErrDuplicate, another 409 rota.ErrConflict and a 429
// queue_full rota.ErrQueueFull.
func (e *Error) Is(target error) bool {
	switch target {
	case rota.ErrNotFound:
		return e.Status == http.StatusNotFound
	case rota.ErrDuplicate:
		return e.Status == http.StatusConflict && e.Code == "duplicate"
	case rota.ErrConflict:
		return e.Status == http.StatusConflict && e.Code != "duplicate"
	case rota.ErrQueueFull:
		return e.Status == http.StatusTooManyRequests && e.Code == "queue_full"
	}
	return false
}

// As makes a 400 invalid error naming a field a *rota.FieldError, and a
// 409 duplicate naming the active job a *rota.DuplicateKeyError, as the
// in-process client returns for the same input.
func (e *Error) As(target any) bool {
	switch t := target.(type) {
	case **rota.FieldError:
		if e.Status != http.StatusBadRequest || e.Code != "invalid" || e.Field == "" {
			return false
		}
		reason := strings.TrimPrefix(e.Message, "invalid "+e.Field+": ")
		*t = &rota.FieldError{Field: e.Field, Reason: reason}
		return true
	case **rota.DuplicateKeyError:
		if e.Status != http.StatusConflict || e.Code != "duplicate" || e.existing == nil {
			return false
		}
		*t = &rota.DuplicateKeyError{Kind: e.existing.Kind, Key: e.existing.Key, Existing: e.existing.ID}
		return true
	}
	return false
}

// BadInput reports whether the server refused the request's input or its
// credentials: a 4xx other than 404 (not found), 409 (conflict) and 429
// (queue full or too busy), which say something about the stored state.
func (e *Error) BadInput() bool {
	switch e.Status {
	case http.StatusNotFound, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

// call sends one request: body (if not nil) as JSON, and decodes a 2xx
// answer into out (if not nil). A non-2xx answer is an *Error.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("rota remote: %s %s: encode the request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("rota remote: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// net/http's errors name the URL (without a password), never the headers.
		return fmt.Errorf("rota remote: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body) // lets the connection be reused
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("rota remote: %s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// readError reads an error answer; one that is not the API's shape (a
// proxy's page) keeps its status and the start of its text.
func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var eb apiwire.ErrorBody
	if err := json.Unmarshal(b, &eb); err == nil && eb.Error != nil && eb.Error.Message != "" {
		return &Error{Status: resp.StatusCode, Code: eb.Error.Code, Field: eb.Error.Field, Message: eb.Error.Message,
			existing: eb.Error.Existing}
	}
	text := strings.TrimSpace(string(b))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	if text == "" {
		text = http.StatusText(resp.StatusCode)
	}
	return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, text)}
}

// marshalArgs returns args as JSON for a request: a json.RawMessage or
// []byte as it is (it must be valid JSON), nil as nothing, anything else
// marshalled.
func marshalArgs(args any) (json.RawMessage, error) {
	var b []byte
	switch a := args.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		b = a
	case []byte:
		b = a
	default:
		m, err := json.Marshal(a)
		if err != nil {
			return nil, &rota.FieldError{Field: "args", Reason: err.Error()}
		}
		b = m
	}
	if len(b) == 0 {
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, &rota.FieldError{Field: "args", Reason: "not valid JSON"}
	}
	return b, nil
}

// parseDuration reads a duration the API wrote: Go's syntax, or with a
// leading number of days ("7d") as the API reads them (internal/duration);
// "" is 0.
func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := duration.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("rota remote: the server's %s: %w", field, err)
	}
	return d, nil
}

// parseTime reads a time the API wrote (RFC 3339).
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("rota remote: the server's %s %q is not an RFC 3339 time: %w", field, s, err)
	}
	return t, nil
}

// durationJSON writes a duration for a request: a JSON string in Go's
// syntax ("1m30s").
func durationJSON(d time.Duration) json.RawMessage {
	b, _ := json.Marshal(d.String()) // a string always marshals
	return b
}
