// Package web serves the broker's HTTP face. For now that is only the
// health check; the admin API, dashboard and /metrics come later.
//
// Endpoints:
//
//	GET /healthz   200 "ok" once the broker is ready (SetReady(true)),
//	               503 "starting" before that and "stopping" after SetReady(false).
package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("web: server closed")

// Config configures a Server. The zero value is usable.
type Config struct {
	// Logger receives server errors. Default slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds how long Close waits for in-flight requests
	// before closing their connections. Default 2s.
	ShutdownTimeout time.Duration
}

// Server is the HTTP server. Create it with NewServer.
type Server struct {
	cfg   Config
	ready atomic.Int32 // 0 starting, 1 ready, 2 stopping
	srv   *http.Server

	mu     sync.Mutex
	closed bool
}

// NewServer returns a server that is not yet ready (/healthz answers 503
// until SetReady(true)).
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 2 * time.Second
	}
	s := &Server{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// SetReady switches /healthz between 200 (ready) and 503.
func (s *Server) SetReady(ready bool) {
	if ready {
		s.ready.Store(1)
	} else {
		s.ready.Store(2)
	}
}

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch s.ready.Load() {
	case 1:
		w.Write([]byte("ok\n"))
	case 0:
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("starting\n"))
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("stopping\n"))
	}
}

// Serve accepts connections on ln until Close; it then returns
// ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		ln.Close()
		return ErrServerClosed
	}
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// Close stops the listeners, lets in-flight requests finish for up to
// ShutdownTimeout, then closes every connection. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.SetReady(false)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}
