package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook defaults and headers.
const (
	// DefaultWebhookTimeout bounds one POST.
	DefaultWebhookTimeout = 10 * time.Second
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// body under the webhook's secret, when it has one.
	SignatureHeader = "Rota-Signature"
	// FirstIDHeader and LastIDHeader carry the log ids of the first and
	// last message of the batch: a receiver that stores the last id it
	// handled can drop a batch it has already seen.
	FirstIDHeader = "Rota-First-Event-Id"
	LastIDHeader  = "Rota-Last-Event-Id"
)

// WebhookOptions configures a Webhook.
type WebhookOptions struct {
	// URL receives the POSTs (http or https; required).
	URL string
	// Secret, when set, signs each body (SignatureHeader).
	Secret string
	// Timeout bounds one POST (DefaultWebhookTimeout when zero).
	Timeout time.Duration
	// Header is added to every request (an Authorization header, say).
	Header http.Header
	// Client sends the requests (a client with Timeout when nil).
	Client *http.Client
}

// Webhook is a Sink that POSTs each batch to a URL as a JSON array of the
// messages' payloads (Content-Type application/json). Any answer but a 2xx
// is a failure: the relay sends the batch again after a backoff.
type Webhook struct {
	opts WebhookOptions
	hc   *http.Client
}

// NewWebhook checks opts and makes the sink.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("events: webhook url %q: want an http or https URL", opts.URL)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("events: webhook timeout %s is negative", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultWebhookTimeout
	}
	hc := opts.Client
	if hc == nil {
		hc = &http.Client{Timeout: opts.Timeout}
	}
	return &Webhook{opts: opts, hc: hc}, nil
}

// Send POSTs msgs as one JSON array. See Sink.
func (w *Webhook) Send(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	var body bytes.Buffer
	body.WriteByte('[')
	for i, m := range msgs {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(m.Payload)
	}
	body.WriteByte(']')
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body.Bytes()))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	for k, vs := range w.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(FirstIDHeader, strconv.FormatInt(msgs[0].Record.ID, 10))
	req.Header.Set(LastIDHeader, strconv.FormatInt(msgs[len(msgs)-1].Record.ID, 10))
	if w.opts.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(w.opts.Secret, body.Bytes()))
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return &WebhookError{Status: resp.StatusCode, Body: string(bytes.TrimSpace(answer))}
	}
	return nil
}

// WebhookError is a webhook's answer that was not a 2xx.
type WebhookError struct {
	Status int
	// Body is the start of the answer's body.
	Body string
}

func (e *WebhookError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("webhook: answered %d", e.Status)
	}
	return fmt.Sprintf("webhook: answered %d: %s", e.Status, e.Body)
}

// Sign returns the SignatureHeader value of body under secret:
// "sha256=" and the hex HMAC-SHA256. A receiver recomputes it over the
// raw body and compares with hmac.Equal (see Verify).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (a SignatureHeader value) signs body
// under secret, in constant time.
func Verify(secret string, body []byte, signature string) error {
	if !hmac.Equal([]byte(Sign(secret, body)), []byte(signature)) {
		return errors.New("events: webhook signature does not match")
	}
	return nil
}
