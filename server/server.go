package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotahq/rota"
)

// Defaults of Options.
const (
	// DefaultMaxBodyBytes bounds a request body.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxHeaderBytes bounds a request's headers.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxLongPolls is how many requests may wait for work at once.
	DefaultMaxLongPolls = 100
	// DefaultMaxWait is the longest wait a long poll may ask for.
	DefaultMaxWait = 60 * time.Second
	// DefaultLongPollInterval is how often a waiting long poll looks again
	// for work that announced itself by no event of this client (jobs
	// enqueued by another process).
	DefaultLongPollInterval = 250 * time.Millisecond
	// DefaultMaxBatchJobs bounds the jobs of one batch enqueue.
	DefaultMaxBatchJobs = 10000
	// Timeouts of the http.Server that HTTPServer builds. A long poll
	// extends its own write deadline by its wait.
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	// DefaultScrapeTimeout bounds the store queries of one /metrics scrape
	// and one /readyz probe.
	DefaultScrapeTimeout = 5 * time.Second
)

// Options configures a Server. Zero fields take the defaults above.
type Options struct {
	// Logger for requests (at debug, with the token's name, never its
	// secret) and failures; default slog.Default().
	Logger *slog.Logger
	// Tokens that may use the API. None: the API is open to anyone who can
	// reach it; see NeedsTokens.
	Tokens []Token
	// MaxBodyBytes bounds a request body (413 beyond it).
	MaxBodyBytes int64
	// MaxHeaderBytes bounds a request's headers (HTTPServer).
	MaxHeaderBytes int
	// MaxLongPolls bounds the requests that wait for work at once; more
	// are refused with 429 too_many_long_polls.
	MaxLongPolls int
	// MaxWait is the longest wait a long poll may ask for.
	MaxWait time.Duration
	// LongPollInterval is how often a waiting long poll looks again.
	LongPollInterval time.Duration
	// MaxBatchJobs bounds the jobs of one batch enqueue.
	MaxBatchJobs int
	// Timeouts of HTTPServer's http.Server.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// EventLog is the writer of the client's events to the store's event
	// log, whose appends wake the GET /v1/events streams. Nil: New starts
	// one with the default bounds and Shutdown (or Close) ends it; pass
	// one of your own to keep logging events after the API stops (rota
	// serve does, until the node stops).
	EventLog *rota.EventLog
	// NoEventLog: the server starts no event log writer (EventLog must be
	// nil), so this node's events are not logged; GET /v1/events still
	// streams the store's log (the events of the nodes that write it),
	// found by polling every LongPollInterval.
	NoEventLog bool
	// MaxEventStreams bounds the GET /v1/events streams open at once; more
	// are refused with 429 too_many_streams.
	MaxEventStreams int
	// EventHeartbeat is how often an idle event stream sends a comment.
	EventHeartbeat time.Duration
	// Collectors are more Prometheus collectors for GET /metrics (rota
	// serve adds its event relays' and abort listeners' counters).
	Collectors []prometheus.Collector
}

func (o Options) withDefaults() (Options, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault := func(name string, p *time.Duration, d time.Duration) error {
		switch {
		case *p < 0:
			return fmt.Errorf("server: Options.%s %s is negative", name, *p)
		case *p == 0:
			*p = d
		}
		return nil
	}
	for _, f := range []struct {
		name string
		p    *time.Duration
		d    time.Duration
	}{
		{"MaxWait", &o.MaxWait, DefaultMaxWait}, {"LongPollInterval", &o.LongPollInterval, DefaultLongPollInterval},
		{"ReadHeaderTimeout", &o.ReadHeaderTimeout, DefaultReadHeaderTimeout}, {"ReadTimeout", &o.ReadTimeout, DefaultReadTimeout},
		{"WriteTimeout", &o.WriteTimeout, DefaultWriteTimeout}, {"IdleTimeout", &o.IdleTimeout, DefaultIdleTimeout},
		{"EventHeartbeat", &o.EventHeartbeat, DefaultEventHeartbeat},
	} {
		if err := setDefault(f.name, f.p, f.d); err != nil {
			return o, err
		}
	}
	switch {
	case o.MaxBodyBytes < 0 || o.MaxHeaderBytes < 0 || o.MaxLongPolls < 0 || o.MaxBatchJobs < 0 || o.MaxEventStreams < 0:
		return o, errors.New("server: Options limits must not be negative")
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxLongPolls == 0 {
		o.MaxLongPolls = DefaultMaxLongPolls
	}
	if o.MaxBatchJobs == 0 {
		o.MaxBatchJobs = DefaultMaxBatchJobs
	}
	if o.MaxEventStreams == 0 {
		o.MaxEventStreams = DefaultMaxEventStreams
	}
	return o, nil
}

// Server serves a rota.Client over HTTP. Create it with New; it is safe for
// concurrent use.
type Server struct {
	client  *rota.Client
	opts    Options
	log     *slog.Logger
	auth    *authenticator
	routes  []route
	mux     *http.ServeMux
	handler http.Handler
	polls   *longPolls
	metrics *metrics
	popped  poppedSet // attempts handed out by pop, which /complete and /fail may end

	// eventLog wakes the event streams; ownLog: New started it, so
	// Shutdown and Close end it.
	eventLog *rota.EventLog
	ownLog   bool
	streams  *longPolls // the slots of GET /v1/events streams

	// base ends when Shutdown or Close starts: waiting long polls watch it
	// and end at once. Other requests are not tied to it: those in flight
	// at shutdown finish (a store write is never cut short).
	base     context.Context
	cancel   context.CancelFunc
	draining atomic.Bool

	mu      sync.Mutex
	servers []*http.Server
	closed  bool
}

// New returns a server for c. It subscribes to c's events for its metrics
// until Shutdown or Close.
func New(c *rota.Client, opts Options) (*Server, error) {
	if c == nil {
		return nil, errors.New("server: nil client")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	auth, err := newAuthenticator(o.Tokens)
	if err != nil {
		return nil, err
	}
	s := &Server{client: c, opts: o, log: o.Logger, auth: auth, polls: newLongPolls(o.MaxLongPolls),
		streams: newLongPolls(o.MaxEventStreams), eventLog: o.EventLog}
	if o.NoEventLog && o.EventLog != nil {
		return nil, errors.New("server: Options.NoEventLog with an EventLog")
	}
	if s.eventLog == nil && !o.NoEventLog {
		if s.eventLog, err = rota.NewEventLog(c, rota.EventLogOptions{Logger: o.Logger}); err != nil {
			return nil, err
		}
		s.ownLog = true
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	if s.metrics, err = newMetrics(c, o.Logger, o.Collectors); err != nil {
		s.cancel()
		if s.ownLog {
			_ = s.eventLog.Close(context.Background()) // as Close does
		}
		return nil, err
	}
	s.routes = s.routeTable()
	s.mux = http.NewServeMux()
	for _, rt := range s.routes {
		s.mux.Handle(rt.pattern(), s.wrap(rt))
	}
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s, nil
}

// Handler returns the server's HTTP handler (for httptest, or to mount in
// a mux of one's own).
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPServer returns an http.Server for addr with the server's handler,
// timeouts and header limit.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.handler,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Serve serves on ln until Shutdown, and then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	hs := s.HTTPServer(ln.Addr().String())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// Shutdown stops the server gracefully: /readyz fails from now on, the
// listeners close, waiting long polls end, and Shutdown waits for the
// requests in flight until ctx is done (event streams end at once). It
// then ends the metrics' subscription and the event log writer New
// started, if it did. The client is left running: stop it after.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	s.closed = true
	servers := s.servers
	s.mu.Unlock()
	s.cancel()
	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.metrics.close()
	if s.ownLog {
		if err := s.eventLog.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// Close ends the metrics' subscription, the event log writer New started
// (if it did), the event streams and the long polls of a server
// whose handler was served by someone else (httptest). Serve's servers are
// ended by Shutdown.
func (s *Server) Close() {
	s.draining.Store(true)
	s.cancel()
	s.metrics.close()
	if s.ownLog {
		_ = s.eventLog.Close(context.Background())
	}
}

// requestInfo is what the middleware learns about a request, for its log
// line: who sent it (the token's name).
type requestInfo struct {
	who string
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveHTTP routes a request: unknown paths are 404 and known paths with
// another method 405, both in the API's error shape.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	info := &requestInfo{who: "-"}
	pattern := "unmatched"
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("rota http: handler panicked", "method", r.Method, "path", r.URL.Path,
				"panic", p, "stack", string(debug.Stack()))
			if sw.status == 0 {
				s.writeError(sw, r, fmt.Errorf("panic: %v", p))
			}
		}
		took := time.Since(start)
		s.metrics.request(pattern, sw.status, took)
		s.log.Debug("rota http", "method", r.Method, "path", r.URL.Path, "route", pattern, "status", sw.status,
			"token", info.who, "took", took)
	}()
	_, p := s.mux.Handler(r)
	if p == "" {
		s.writeError(sw, r, s.unrouted(r))
		return
	}
	pattern = p
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	s.mux.ServeHTTP(sw, r) // sets r.Pattern and the path values
}

type infoKey struct{}

// unrouted tells a 404 from a 405 (and sets Allow).
func (s *Server) unrouted(r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("no route %s", r.URL.Path)}
	}
	return &methodError{allow: allow, method: r.Method}
}

// methodError is a 405 with its Allow header.
type methodError struct {
	allow  []string
	method string
}

func (e *methodError) Error() string { return "method not allowed" }

// wrap adds auth, the body limit and the error mapping to a route.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := r.Context().Value(infoKey{}).(*requestInfo)
		if rt.role != rolePublic {
			id, err := s.auth.authenticate(r)
			if err == nil {
				if info != nil {
					info.who = id.name
				}
				err = authorize(id, rt.role)
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if _, err := newQuery(r, rt.query...); err != nil {
			s.writeError(w, r, err)
			return
		}
		if r.ContentLength > s.opts.MaxBodyBytes {
			s.writeError(w, r, &http.MaxBytesError{Limit: s.opts.MaxBodyBytes})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		if err := rt.handle(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
