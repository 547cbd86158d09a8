// Package kafka serves the Apache Kafka wire protocol over TCP.
//
// Layout: server.go holds the listener, the per-connection machinery and
// the registry of API handlers; each API lives in its own file named after
// its key (00_produce.go, 01_fetch.go …) which registers itself from init()
// so that ApiVersions is derived from what exists. Codecs are never
// hand-written: requests and responses are decoded and encoded with
// github.com/twmb/franz-go/pkg/kmsg.
//
// # Connections
//
// Every accepted connection gets two goroutines, both owned by the Server
// and both ended by Close (or by the connection failing):
//
//   - the reader reads one frame (4-byte big-endian size, then the request),
//     decodes it and starts its handler in a goroutine of its own. It starts
//     the next request only once the current one has been *released*: by
//     default when its handler returns, which answers requests on one
//     connection strictly in order as Kafka does. A handler may release
//     earlier (requestContext.release) once the part that must be ordered is
//     done — Produce does so after its batches are appended and before it
//     waits for their fsync, so that pipelined produce requests share fsyncs.
//   - the writer takes the requests in arrival order from a bounded queue
//     (maxInFlight), waits for each response and writes it. A nil response
//     (Produce with acks=0) writes nothing and keeps the order of later ones.
//
// Memory per connection is bounded by maxInFlight requests of at most
// Config.MaxRequestBytes each, and the request bytes held by all
// connections together by Config.QueuedMaxRequestBytes (budget.go). A frame larger than that closes the
// connection without reading it, as Kafka does. A client that stops
// reading its responses blocks only its own connection (then its write
// deadline drops it). A frame that does not decode, an unknown API key or
// an unsupported version closes the connection (Kafka's answer to an
// invalid request), except ApiVersions, which answers UNSUPPORTED_VERSION
// so that the client can retry with a lower version.
package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
	"github.com/sluice-mq/sluice/internal/metastore"
	"github.com/sluice-mq/sluice/internal/topic"
)

// Config configures a Server. Topics and Meta are required; every other
// zero field takes the default documented on it.
type Config struct {
	// Topics holds the live topics and their partition logs. Required.
	Topics *topic.Registry
	// Meta is the metadata store (cluster id, producer ids). Required.
	Meta *metastore.Store
	// NodeID is this broker's node id (broker.id). Default 0.
	NodeID int32
	// AutoCreateTopics is auto.create.topics.enable. The zero value is
	// false; use DefaultConfig or set it (the broker package sets Kafka's
	// default, true).
	AutoCreateTopics bool
	// DefaultPartitions is num.partitions for auto-created topics. Default 1.
	DefaultPartitions int32
	// MaxRequestBytes is socket.request.max.bytes: larger frames close the
	// connection. Default 104857600 (100 MiB).
	MaxRequestBytes int32
	// QueuedMaxRequestBytes is queued.max.request.bytes: the request bytes
	// held at once by all connections together (read, not yet answered);
	// a connection that would exceed it waits before reading more. It is
	// raised to MaxRequestBytes if below. Default 256 MiB (Kafka's default,
	// -1, is unbounded; a negative value here takes the default too).
	QueuedMaxRequestBytes int64
	// Logger receives connection-level reports. Default slog.Default().
	Logger *slog.Logger
	// Groups is the consumer-group coordinator (internal/group), owned by
	// the caller. Default: a memory-only coordinator the Server creates
	// and closes (committed offsets do not survive it).
	Groups *group.Coordinator
	// Observer, if set, is told about connections and every served
	// request (internal/metrics implements it). Default none.
	Observer Observer
}

// Observer receives the server's measurements. Its methods run on the
// request path, so they must be cheap, must not block and must be safe for
// concurrent use.
type Observer interface {
	ConnOpened()
	ConnClosed()
	// Request reports a request answered without a connection error: its
	// API key, the time from its decoding to its response being ready, the
	// request and the response (nil for Produce with acks=0). Both are only
	// valid during the call.
	Request(key int16, took time.Duration, req kmsg.Request, resp kmsg.Response)
}

const (
	defaultMaxRequestBytes       = 104857600
	defaultQueuedMaxRequestBytes = 256 << 20
	// maxInFlight bounds the requests read from one connection and not yet
	// answered. Idempotent producers pipeline at most 5.
	maxInFlight = 16
	// writeTimeout drops a client that does not read its responses.
	writeTimeout = 60 * time.Second
	// idleTimeout is connections.max.idle.ms (Kafka's default, 10 min).
	idleTimeout = 10 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.DefaultPartitions <= 0 {
		c.DefaultPartitions = 1
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = defaultMaxRequestBytes
	}
	if c.QueuedMaxRequestBytes <= 0 {
		c.QueuedMaxRequestBytes = defaultQueuedMaxRequestBytes
	}
	c.QueuedMaxRequestBytes = max(c.QueuedMaxRequestBytes, int64(c.MaxRequestBytes))
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports the first unusable field, by name.
func (c Config) validate() error {
	switch {
	case c.Topics == nil:
		return errors.New("kafka: Config.Topics is required")
	case c.Meta == nil:
		return errors.New("kafka: Config.Meta is required")
	case c.NodeID < 0:
		return fmt.Errorf("kafka: Config.NodeID must be >= 0, not %d", c.NodeID)
	}
	return nil
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("kafka: server closed")

// Server serves the Kafka protocol. Create it with NewServer.
type Server struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // cancelled by Close; long polls watch it
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // every goroutine the server starts

	producers *producerTable // idempotent producer state (idempotence.go)
	budget    *byteBudget    // request bytes held across connections
	groups    *group.Coordinator
	ownGroups bool // groups was created by NewServer; Close closes it
}

// NewServer returns a Server for cfg. It does not listen: call Serve.
func NewServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "kafka"),
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	s.producers = newProducerTable(s)
	s.budget = newByteBudget(cfg.QueuedMaxRequestBytes)
	s.groups = cfg.Groups
	if s.groups == nil {
		s.groups, s.ownGroups = group.NewMemory(cfg.Topics, cfg.Logger), true
	}
	return s
}

// Serve accepts connections on ln until Close; it always returns a non-nil
// error, ErrServerClosed after Close. Serve may be called for several
// listeners at once.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.cfg.validate(); err != nil {
		ln.Close()
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Like net/http: back off on temporary accept errors
				// (EMFILE …) instead of spinning or giving up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("kafka: accept error; retrying", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-s.ctx.Done():
					return ErrServerClosed
				}
				continue
			}
			return fmt.Errorf("kafka: accept: %w", err)
		}
		backoff = 0
		s.startConn(nc)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops every listener and connection and waits for every goroutine
// the server started. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.cancel()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.ownGroups {
		s.groups.Close()
	}
	return nil
}

// ---- handler registry ----

// apiHandler serves one API key.
type apiHandler struct {
	Key int16
	// MinVersion and MaxVersion are the versions served and advertised in
	// ApiVersions.
	MinVersion, MaxVersion int16
	// Handle answers one request. A nil response with a nil error sends
	// nothing (Produce with acks=0). A non-nil error closes the connection
	// (Kafka's answer to a request it cannot process); domain errors belong
	// in the response as error codes.
	Handle func(rc *requestContext, req kmsg.Request) (kmsg.Response, error)
	// WireMinVersion, if above MinVersion, refuses versions below it on
	// the wire while still advertising from MinVersion (Produce: see
	// KAFKA-18659 in 00_produce.go).
	WireMinVersion int16
}

// handlers is filled by init() functions and read-only afterwards.
var handlers = map[int16]*apiHandler{}

// register adds h to the registry. It is called from init() in each
// NN_api_name.go file; a duplicate key is a programming error.
func register(h apiHandler) {
	if _, dup := handlers[h.Key]; dup {
		panic(fmt.Sprintf("kafka: API key %d registered twice", h.Key))
	}
	if h.Handle == nil || h.MinVersion < 0 || h.MaxVersion < h.MinVersion {
		panic(fmt.Sprintf("kafka: bad handler for API key %d", h.Key))
	}
	if r := kmsg.RequestForKey(h.Key); r == nil || r.MaxVersion() < h.MaxVersion {
		panic(fmt.Sprintf("kafka: kmsg cannot encode API key %d v%d", h.Key, h.MaxVersion))
	}
	hh := h
	handlers[h.Key] = &hh
}

// requestContext is what a handler gets besides the decoded request.
type requestContext struct {
	// Ctx is cancelled when the connection or the server closes; long
	// waits (Fetch long-poll) must watch it.
	Ctx    context.Context
	Server *Server
	Topics *topic.Registry
	Meta   *metastore.Store
	Config *Config // with defaults applied; read-only

	ClientID      string // empty if null
	Key, Version  int16
	CorrelationID int32
	LocalAddr     net.Addr // the advertised host:port (see advertised)
	RemoteAddr    net.Addr
	Logger        *slog.Logger

	conn        *conn
	p           *pending
	releaseOnce sync.Once
	released    chan struct{}
}

// release lets the connection start its next request before this one's
// response is ready. Idempotent; called automatically when Handle returns.
func (rc *requestContext) release() {
	rc.releaseOnce.Do(func() { close(rc.released) })
}

// afterSend registers fn to run once the response has been encoded into
// the connection's write buffer (or dropped), so that a response may point
// into pooled memory. Only call it from the handler, before it returns.
func (rc *requestContext) afterSend(fn func()) {
	rc.p.cleanup = append(rc.p.cleanup, fn)
}

// advertised returns the host and port clients should use for this broker:
// the local address of the connection the request came on.
func (rc *requestContext) advertised() (string, int32) {
	return splitHostPort(rc.LocalAddr)
}

func splitHostPort(a net.Addr) (string, int32) {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String(), int32(ta.Port)
	}
	if a == nil {
		return "", 0
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	var p int32
	fmt.Sscanf(port, "%d", &p)
	return host, p
}

// ---- connections ----

type conn struct {
	srv    *Server
	nc     net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	queue  chan *pending // arrival order; capacity maxInFlight
	once   sync.Once
}

// pending is one request awaiting its response.
type pending struct {
	corr  int32
	key   int16
	flex  bool          // response header v1 (tagged fields)
	done  chan struct{} // closed when resp/raw/err are set
	resp  kmsg.Response // nil: send nothing
	raw   []byte        // pre-encoded body (ApiVersions v0 error answer)
	err   error         // close the connection
	start time.Time
	// cleanup runs once the response has been encoded (or dropped):
	// handlers return pooled buffers the response points into.
	cleanup []func()
}

func (p *pending) runCleanup() {
	for _, fn := range p.cleanup {
		fn()
	}
	p.cleanup = nil
}

func (s *Server) startConn(nc net.Conn) {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{srv: s, nc: nc, ctx: ctx, cancel: cancel, queue: make(chan *pending, maxInFlight)}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		cancel()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	if s.cfg.Observer != nil {
		s.cfg.Observer.ConnOpened()
	}
	go c.readLoop()
	go c.writeLoop()
}

// close ends the connection: both loops notice and exit. Idempotent.
func (c *conn) close() {
	c.once.Do(func() {
		c.cancel()
		c.nc.Close()
	})
}

func (c *conn) readLoop() {
	s := c.srv
	defer s.wg.Done()
	defer func() {
		close(c.queue) // the writer drains what is queued, then exits
		c.srv.mu.Lock()
		delete(c.srv.conns, c)
		c.srv.mu.Unlock()
		if s.cfg.Observer != nil {
			s.cfg.Observer.ConnClosed()
		}
	}()
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		frame, held, err := c.readFrameBudget(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && c.ctx.Err() == nil {
				s.log.Debug("kafka: closing connection", "remote", c.nc.RemoteAddr().String(), "err", err)
			}
			c.close()
			return
		}
		p, rc, h, req, err := c.parse(frame)
		if err != nil {
			s.budget.release(held)
			s.log.Info("kafka: closing connection after invalid request", "remote", c.nc.RemoteAddr().String(), "err", err)
			c.close()
			return
		}
		p.cleanup = append(p.cleanup, func() { s.budget.release(held) })
		select {
		case c.queue <- p:
		case <-c.ctx.Done():
			p.runCleanup()
			return
		}
		if h == nil { // answered already (p.raw)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer rc.release()
			resp, err := safeHandle(h, rc, req)
			if obs := s.cfg.Observer; obs != nil && err == nil {
				obs.Request(rc.Key, time.Since(p.start), req, resp)
			}
			p.resp, p.err = resp, err
			close(p.done)
		}()
		select {
		case <-rc.released:
		case <-c.ctx.Done():
			return
		}
	}
}

// safeHandle runs a handler, turning a panic into a connection error so a
// handler bug can never take the broker down.
func safeHandle(h *apiHandler, rc *requestContext, req kmsg.Request) (resp kmsg.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, fmt.Errorf("kafka: handler for %s v%d panicked: %v", kmsg.NameForKey(rc.Key), rc.Version, r)
			rc.Logger.Error("kafka: handler panic", "api", kmsg.NameForKey(rc.Key), "version", rc.Version, "panic", r)
		}
	}()
	return h.Handle(rc, req)
}

// readFrameBudget reads one size-prefixed frame after taking its size from
// the server's byte budget; it returns the amount to release once the
// request is answered (nothing is held on error).
func (c *conn) readFrameBudget(br *bufio.Reader) ([]byte, int64, error) {
	n, err := c.readSize(br)
	if err != nil {
		return nil, 0, err
	}
	held, err := c.srv.budget.acquire(c.ctx, int64(n))
	if err != nil {
		return nil, 0, err
	}
	buf, err := readBody(br, n)
	if err != nil {
		c.srv.budget.release(held)
		return nil, 0, err
	}
	return buf, held, nil
}

// readFrame reads one frame without the budget (tests, fuzzing).
func (c *conn) readFrame(br *bufio.Reader) ([]byte, error) {
	n, err := c.readSize(br)
	if err != nil {
		return nil, err
	}
	return readBody(br, n)
}

// readSize reads a frame's size. Sizes above MaxRequestBytes (or below a
// request header) are refused before anything more is read.
func (c *conn) readSize(br *bufio.Reader) (int32, error) {
	c.nc.SetReadDeadline(time.Now().Add(idleTimeout))
	var sz [4]byte
	if _, err := io.ReadFull(br, sz[:]); err != nil {
		return 0, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n < 8 || n > c.srv.cfg.MaxRequestBytes {
		return 0, &FrameSizeError{Size: n, Max: c.srv.cfg.MaxRequestBytes}
	}
	return n, nil
}

func readBody(br *bufio.Reader, n int32) ([]byte, error) {
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// FrameSizeError reports a frame whose declared size is out of bounds.
type FrameSizeError struct{ Size, Max int32 }

func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("kafka: request frame of %d bytes outside [8, %d] (socket.request.max.bytes)", e.Size, e.Max)
}

// InvalidRequestError reports a request the server cannot decode or serve.
type InvalidRequestError struct {
	Key, Version int16
	Reason       string
	Err          error
}

func (e *InvalidRequestError) Error() string {
	s := fmt.Sprintf("kafka: invalid request (api key %d %s v%d): %s", e.Key, kmsg.NameForKey(e.Key), e.Version, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *InvalidRequestError) Unwrap() error { return e.Err }

// parse decodes the request header and body. It returns the pending entry
// to queue and, unless the request was answered on the spot, the handler,
// its context and the decoded request.
func (c *conn) parse(frame []byte) (*pending, *requestContext, *apiHandler, kmsg.Request, error) {
	r := kbin.Reader{Src: frame}
	key, ver, corr := r.Int16(), r.Int16(), r.Int32()
	p := &pending{corr: corr, key: key, done: make(chan struct{}), start: time.Now()}
	req := kmsg.RequestForKey(key)
	h := handlers[key]
	if req == nil || h == nil {
		return nil, nil, nil, nil, &InvalidRequestError{Key: key, Version: ver, Reason: "unknown or unserved API key"}
	}
	req.SetVersion(ver)
	clientID := r.NullableString()
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if !r.Ok() {
		return nil, nil, nil, nil, &InvalidRequestError{Key: key, Version: ver, Reason: "truncated request header"}
	}
	minWire := max(h.MinVersion, h.WireMinVersion)
	if ver < minWire || ver > h.MaxVersion {
		if key == apiVersionsKey {
			// Answer in a v0 body with the versions we serve, so the
			// client retries with one of them (KIP-511).
			p.raw = unsupportedApiVersionsBody()
			close(p.done)
			return p, nil, nil, nil, nil
		}
		return nil, nil, nil, nil, &InvalidRequestError{Key: key, Version: ver, Reason: fmt.Sprintf("version outside served range v%d-v%d", minWire, h.MaxVersion)}
	}
	body := r.Src
	if err := req.ReadFrom(body); err != nil {
		return nil, nil, nil, nil, &InvalidRequestError{Key: key, Version: ver, Reason: "body does not decode", Err: err}
	}
	resp := req.ResponseKind()
	p.flex = resp.IsFlexible() && key != apiVersionsKey
	cid := ""
	if clientID != nil {
		cid = *clientID
	}
	s := c.srv
	rc := &requestContext{
		Ctx: c.ctx, Server: s, Topics: s.cfg.Topics, Meta: s.cfg.Meta, Config: &s.cfg,
		ClientID: cid, Key: key, Version: ver, CorrelationID: corr,
		LocalAddr: c.nc.LocalAddr(), RemoteAddr: c.nc.RemoteAddr(), Logger: s.log,
		conn: c, p: p, released: make(chan struct{}),
	}
	return p, rc, h, req, nil
}

func (c *conn) writeLoop() {
	s := c.srv
	defer s.wg.Done()
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	failed := false
	// flush sends what is buffered before the writer blocks: responses are
	// coalesced while more are ready, never held back waiting for one
	// that is not.
	flush := func() {
		if failed || bw.Buffered() == 0 {
			return
		}
		c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := bw.Flush(); err != nil {
			failed = true
			c.close()
		}
	}
	for {
		var p *pending
		var ok bool
		select {
		case p, ok = <-c.queue:
		default:
			flush()
			p, ok = <-c.queue
		}
		if !ok {
			flush()
			return
		}
		select {
		case <-p.done:
		default:
			flush()
			select {
			case <-p.done:
			case <-c.ctx.Done():
				// Connection is going away: wait only for a handler
				// that is finishing (it watches the same context).
				<-p.done
				failed = true
			}
		}
		if failed {
			p.runCleanup()
			continue // drain so readLoop never blocks on a full queue
		}
		if p.err != nil {
			p.runCleanup()
			s.log.Info("kafka: closing connection after request error", "remote", c.nc.RemoteAddr().String(), "api", kmsg.NameForKey(p.key), "err", p.err)
			failed = true
			c.close()
			continue
		}
		if p.resp == nil && p.raw == nil {
			p.runCleanup()
			continue // acks=0
		}
		buf = appendResponse(buf[:0], p)
		p.runCleanup()
		c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := bw.Write(buf); err != nil {
			failed = true
			c.close()
			continue
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not pin a large fetch buffer on an idle connection
		}
	}
}

// appendResponse frames a response: size, correlation id, the header's
// tagged fields for flexible responses (header v1; never for ApiVersions,
// whose response header stays v0), then the body.
func appendResponse(dst []byte, p *pending) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, p.corr)
	if p.flex {
		dst = append(dst, 0) // no header tags
	}
	if p.raw != nil {
		dst = append(dst, p.raw...)
	} else {
		dst = p.resp.AppendTo(dst)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
