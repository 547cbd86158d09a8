package sqs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/internal/queue"
)

// Config configures a Server. Queues is required; every other zero field
// takes the default documented on it.
type Config struct {
	// Queues is the queue engine the API serves. Required.
	Queues *queue.Manager
	// Logger receives server faults (panics, storage errors). Default
	// slog.Default().
	Logger *slog.Logger
	// MaxRequestBytes bounds a request body. A 1 MiB batch sent through
	// the Query protocol, percent-encoded and with base64 binary
	// attributes, can take about three times its size, so the default is
	// 8 MiB. Larger bodies are refused with HTTP 413.
	MaxRequestBytes int64
	// MaxConnections bounds concurrent client connections; further ones
	// wait in the listen backlog. Default 10000.
	MaxConnections int
	// Observer, if set, is told about connections and every request for
	// a known action (internal/metrics implements it). Default none.
	Observer Observer
}

// Observer receives the server's measurements. Its methods run on the
// request path, so they must be cheap, must not block and must be safe for
// concurrent use.
type Observer interface {
	ConnOpened()
	ConnClosed()
	// Request reports one request for a known action (the name comes from
	// the server's action table, so the set is bounded), how long it took
	// to serve and whether it was answered with an error.
	Request(action string, took time.Duration, failed bool)
}

// Defaults of Config.
const (
	DefaultMaxRequestBytes = 8 << 20
	DefaultMaxConnections  = 10000
)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	return c
}

// Server serves the SQS API over HTTP. Create it with NewServer, run it
// with Serve (once per listener), stop it with Close.
//
// Goroutines: net/http runs one per connection; Close cancels the base
// context (ending long polls), shuts the HTTP server down and waits for
// every handler to return.
type Server struct {
	cfg     Config
	log     *slog.Logger
	queues  *queue.Manager
	account string // AWS account id in queue URLs, from the engine's ARNs
	region  string

	http     *http.Server
	baseCtx  context.Context
	cancel   context.CancelFunc
	inflight sync.WaitGroup
	closed   atomic.Bool
	conns    chan struct{} // connection slots

	idPrefix [8]byte
	idSeq    atomic.Uint64

	closeOnce sync.Once
}

// NewServer returns a server for cfg. It panics if cfg.Queues is nil
// (a programming error).
func NewServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	if cfg.Queues == nil {
		panic("sqs: Config.Queues is required")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, queues: cfg.Queues, conns: make(chan struct{}, cfg.MaxConnections)}
	// arn:aws:sqs:<region>:<account>:<name>
	if parts := strings.Split(cfg.Queues.ARN("x"), ":"); len(parts) == 6 {
		s.region, s.account = parts[3], parts[4]
	}
	if s.account == "" {
		s.account = "000000000000"
	}
	rand.Read(s.idPrefix[:])
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// Long polls last up to 20 s; give slow links room beyond that.
		ReadTimeout:    60 * time.Second,
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return s.baseCtx },
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Serve accepts connections on ln until Close; it returns ErrServerClosed
// after Close.
func (s *Server) Serve(ln net.Listener) error {
	if s.closed.Load() {
		ln.Close()
		return ErrServerClosed
	}
	err := s.http.Serve(&limitListener{Listener: ln, slots: s.conns, done: s.baseCtx.Done(), obs: s.cfg.Observer})
	if errors.Is(err, http.ErrServerClosed) || s.closed.Load() {
		return ErrServerClosed
	}
	return err
}

// Close stops the listeners, ends long polls, closes connections and waits
// for in-flight requests. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if e := s.http.Shutdown(ctx); e != nil {
			err = s.http.Close()
		}
		s.inflight.Wait()
	})
	return err
}

// limitListener bounds concurrent connections.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  <-chan struct{} // closed by Server.Close
	obs   Observer        // may be nil
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	if l.obs != nil {
		l.obs.ConnOpened()
	}
	return &limitConn{Conn: c, release: func() {
		<-l.slots
		if l.obs != nil {
			l.obs.ConnClosed()
		}
	}}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// call is one request being served.
type call struct {
	ctx       context.Context
	json      bool
	action    string
	requestID string
	host      string // host[:port] the client used, for queue URLs
	body      []byte // JSON body
	params    *qnode // Query parameters
	pathQueue string // queue URL from the request path ("" at /)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	c := &call{ctx: r.Context(), requestID: s.newRequestID(), host: r.Host}
	if c.host == "" {
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			c.host = a.String()
		}
	}
	target := r.Header.Get("X-Amz-Target")
	c.json = target != ""
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("sqs: panic serving request", "action", c.action, "panic", p, "stack", string(debug.Stack()))
			s.writeError(w, c, errorf(codeInternalError, "We encountered an internal error. Please try again."))
		}
	}()
	if s.closed.Load() {
		s.writeError(w, c, errorf(codeServiceUnavailable, "The service is shutting down."))
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		s.writeError(w, c, errorf(codeInvalidAction, "The HTTP method %s is not supported; use POST.", r.Method))
		return
	}
	body, err := s.readBody(r)
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	if p := strings.Trim(r.URL.Path, "/"); p != "" {
		c.pathQueue = "http://" + c.host + "/" + p
	}
	if c.json {
		if !strings.HasPrefix(target, jsonTargetPrefix) {
			s.writeError(w, c, errorf(codeInvalidAction, "Unknown target %s.", target))
			return
		}
		c.action = strings.TrimPrefix(target, jsonTargetPrefix)
		c.body = body
	} else {
		vals, err := queryParams(r, body)
		if err != nil {
			s.writeError(w, c, err)
			return
		}
		c.action = vals.Get("Action")
		c.params = buildQueryTree(vals)
		if c.action == "" {
			s.writeError(w, c, errorf(codeMissingAction, "The request must contain the parameter Action."))
			return
		}
	}
	a, ok := actions[c.action]
	if !ok {
		if _, inModel := modelOperations[c.action]; inModel {
			s.writeError(w, c, errorf("UnsupportedOperation", "%s is not supported by Sluice.", c.action))
			return
		}
		s.writeError(w, c, errorf(codeInvalidAction, "The action %s is not valid for this endpoint.", sanitizeXMLText(c.action)))
		return
	}
	start := time.Now()
	out, err := a.run(s, c)
	if obs := s.cfg.Observer; obs != nil {
		obs.Request(c.action, time.Since(start), err != nil)
	}
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	s.writeOutput(w, c, out)
}

// readBody reads at most MaxRequestBytes.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	limit := s.cfg.MaxRequestBytes
	if r.ContentLength > limit {
		return nil, errorf(codeRequestTooLarge, "The request body of %d bytes exceeds the limit of %d bytes.", r.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errorf(codeMalformedQueryString, "Cannot read the request body: %v.", err)
	}
	if int64(len(b)) > limit {
		return nil, errorf(codeRequestTooLarge, "The request body exceeds the limit of %d bytes.", limit)
	}
	return b, nil
}

// queryParams merges the URL's query string with a form body (body
// parameters win).
func queryParams(r *http.Request, body []byte) (url.Values, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(codeMalformedQueryString, "The query string is malformed: %v.", err)
	}
	if len(body) == 0 {
		return vals, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err == nil && mt != "application/x-www-form-urlencoded" {
			return nil, errorf(codeMalformedQueryString, "Unsupported content type %s; Query requests are application/x-www-form-urlencoded (JSON requests need X-Amz-Target).", mt)
		}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errorf(codeMalformedQueryString, "The form body is malformed: %v.", err)
	}
	for k, v := range form {
		vals[k] = v
	}
	return vals, nil
}

func (s *Server) writeOutput(w http.ResponseWriter, c *call, out any) {
	h := w.Header()
	h.Set("x-amzn-RequestId", c.requestID)
	if c.json {
		b, err := jsonResponse(out)
		if err != nil {
			s.log.Error("sqs: encoding a response", "action", c.action, "err", err)
			s.writeError(w, c, errorf(codeInternalError, "We encountered an internal error. Please try again."))
			return
		}
		h.Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
		return
	}
	h.Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	w.Write(queryResponse(c.action, c.requestID, out))
}

func (s *Server) writeError(w http.ResponseWriter, c *call, err error) {
	ae, fault := toAPIError(err)
	if fault {
		s.log.Error("sqs: request failed", "action", c.action, "err", err)
	}
	we := resolve(ae, c.json)
	h := w.Header()
	h.Set("x-amzn-RequestId", c.requestID)
	if c.json {
		h.Set("Content-Type", "application/x-amz-json-1.0")
		if we.header {
			h.Set("x-amzn-query-error", we.queryCode+";"+we.fault)
		}
		w.WriteHeader(we.status)
		w.Write(jsonError(we))
		return
	}
	h.Set("Content-Type", "text/xml")
	w.WriteHeader(we.status)
	w.Write(queryError(we, c.requestID))
}

// newRequestID returns a UUID-shaped id: a random per-server prefix and a
// sequence number (cheaper than a random UUID per request).
func (s *Server) newRequestID() string {
	var b [16]byte
	copy(b[:8], s.idPrefix[:])
	binary.BigEndian.PutUint64(b[8:], s.idSeq.Add(1))
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:16])
	return string(out[:])
}

// ---------------------------------------------------------------- dispatch

// handler serves one action: it decodes the request, runs it and returns
// the output structure.
type handler func(s *Server, c *call) (any, error)

// action is a served action: its handler and its input structure's type.
type action struct {
	run   handler
	input reflect.Type
}

// missinger is implemented by the generated input structures.
type missinger interface{ missing() string }

// op adapts a typed action function to a handler: decode (JSON or Query),
// take QueueUrl from the path when the parameter is absent, check required
// parameters, run.
func op[In any, Out any, PIn interface {
	*In
	missinger
}](fn func(*Server, *call, PIn) (*Out, error)) action {
	run := func(s *Server, c *call) (any, error) {
		in := PIn(new(In))
		if err := c.decode(in); err != nil {
			return nil, err
		}
		if m := in.missing(); m != "" {
			return nil, missingParam(m)
		}
		out, err := fn(s, c, in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	return action{run: run, input: reflect.TypeFor[In]()}
}

// decode fills in (a generated input structure) from the request.
func (c *call) decode(in any) error {
	if c.json {
		send := c.action == "SendMessage" || c.action == "SendMessageBatch"
		if err := decodeJSON(c.body, in, send); err != nil {
			return err
		}
	} else if err := decodeQuery(c.params, in); err != nil {
		return err
	}
	if c.pathQueue != "" {
		if f := reflect.ValueOf(in).Elem().FieldByName("QueueUrl"); f.IsValid() && f.IsNil() {
			u := c.pathQueue
			f.Set(reflect.ValueOf(&u))
		}
	}
	return nil
}

// noOutput is the result of actions without output.
type noOutput struct{}

// actions maps action names to their handlers (filled by the action files).
var actions = map[string]action{}

func register(name string, a action) {
	if _, ok := modelOperations[name]; !ok {
		panic(fmt.Sprintf("sqs: %s is not an operation of the model", name))
	}
	actions[name] = a
}
