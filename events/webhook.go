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

	"github.com/rotahq/rota/config"
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
// is a failure, a redirect too (it is not followed): the relay sends the
// batch again after a backoff. Errors name the URL's origin only, since
// webhook URLs often hold a secret in their path.
type Webhook struct {
	opts WebhookOptions
	hc   *http.Client
}

// NewWebhook checks opts and makes the sink.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	if err := config.CheckHTTPURL(opts.URL); err != nil {
		return nil, fmt.Errorf("events: webhook url %s is %w", config.URLOrigin(opts.URL), err)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("events: webhook timeout %s is negative", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultWebhookTimeout
	}
	hc := opts.Client
	if hc == nil {
		// A redirect is an answer, not a delivery: following a 301, 302 or
		// 303 would turn the POST into a GET without the batch, and its 2xx
		// would count the batch as delivered.
		hc = &http.Client{Timeout: opts.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
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
		// The URL may hold a secret (in its path, as many webhooks do):
		// the error names its origin only.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", config.URLOrigin(w.opts.URL), err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxWebhookAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookDrain)) // so the connection is reused
	if resp.StatusCode/100 != 2 {
		we := &WebhookError{Status: resp.StatusCode, Body: string(bytes.TrimSpace(answer))}
		if loc, err := resp.Location(); err == nil { // a 3xx's, made absolute
			we.Location = loc.String()
		}
		return we
	}
	return nil
}

// The answer of a webhook: its first maxWebhookAnswer bytes are kept for
// the error, up to maxWebhookDrain more are read so that the connection
// can carry the next batch.
const (
	maxWebhookAnswer = 512
	maxWebhookDrain  = 64 << 10
)

// WebhookError is a webhook's answer that was not a 2xx. A redirect is
// one too (the sink does not follow it: point ROTA_WEBHOOK_URL at where
// it leads).
type WebhookError struct {
	Status int
	// Body is the start of the answer's body.
	Body string
	// Location is where a redirect (3xx) leads.
	Location string
}

func (e *WebhookError) Error() string {
	msg := fmt.Sprintf("webhook: answered %d", e.Status)
	if e.Location != "" {
		msg += " (a redirect to " + config.URLOrigin(e.Location) + "; give that URL)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Sign returns the SignatureHeader value of body under secret:
// "sha256=" and the hex HMAC-SHA256. A receiver recomputes it over the
// raw body and compares with hmac.Equal (see Verify).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify returns nil when signature (a SignatureHeader value) signs body
// under secret, compared in constant time, and an error otherwise.
func Verify(secret string, body []byte, signature string) error {
	if !hmac.Equal([]byte(Sign(secret, body)), []byte(signature)) {
		return errors.New("events: webhook signature does not match")
	}
	return nil
}
