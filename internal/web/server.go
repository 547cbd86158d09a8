// Package web serves the broker's HTTP face: the health check, Prometheus
// metrics, the admin API (docs/admin-api.md) and the dashboard
// (internal/web/ui, mounted through Config.UI).
//
// Endpoints:
//
//	GET /healthz      200 "ok" once the broker is ready (SetReady(true)),
//	                  503 "starting" before that and "stopping" after SetReady(false).
//	                  Never needs credentials.
//	GET /metrics      Prometheus exposition of Config.Gatherer (open unless
//	                  Auth.Metrics).
//	/api/…            the admin API (api_*.go), JSON.
//	/                 everything else: Config.UI.
//
// Goroutines: net/http's, and the history sampler (history.go), started by
// NewServer when there is state to sample and stopped by Close.
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-mq/sluice/internal/alert"
	"github.com/sluice-mq/sluice/internal/group"
	"github.com/sluice-mq/sluice/internal/metrics"
	"github.com/sluice-mq/sluice/internal/queue"
	"github.com/sluice-mq/sluice/internal/topic"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("web: server closed")

// Config configures a Server. The zero value is usable: it serves
// /healthz, and the admin API over no topics, groups or queues.
type Config struct {
	// Logger receives server errors. Default slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds how long Close waits for in-flight requests
	// before closing their connections. Default 2s.
	ShutdownTimeout time.Duration

	// Topics, Groups and Queues are what the admin API shows and acts on.
	// Each may be nil (shown as none).
	Topics *topic.Registry
	Groups *group.Coordinator
	Queues *queue.Manager
	// Kafka supplies per-topic fetched-record counters for fetch rates.
	// Default none (fetch rates are 0).
	Kafka *metrics.Kafka
	// Alerts is the alert engine behind /api/alerts. Default none.
	Alerts *alert.Engine
	// Gatherer is exposed at /metrics. Default none (/metrics is 404).
	Gatherer prometheus.Gatherer
	// Info describes the broker for /api/overview. Default: empty.
	Info func() Info
	// Auth protects the API and the dashboard. Default: open.
	Auth Auth
	// UI serves the dashboard at "/". Default none (404).
	UI http.Handler

	// HistoryInterval is the sampling interval of /api/history. Default
	// 10s; negative disables the sampler.
	HistoryInterval time.Duration
	// HistoryWindow is how much history is kept. Default 1h.
	HistoryWindow time.Duration
	// MaxSeries bounds the history series kept (memory: about
	// window/interval × 8 bytes each). Default 20000.
	MaxSeries int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Info describes the running broker.
type Info struct {
	ClusterID string
	DataDir   string
	Started   time.Time
	Kafka     string // listener addresses, "" when disabled
	SQS       string
	HTTP      string
}

// Defaults of Config.
const (
	DefaultHistoryInterval = 10 * time.Second
	DefaultHistoryWindow   = time.Hour
	DefaultMaxSeries       = 20000
)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 2 * time.Second
	}
	if c.HistoryInterval == 0 {
		c.HistoryInterval = DefaultHistoryInterval
	}
	if c.HistoryWindow <= 0 {
		c.HistoryWindow = DefaultHistoryWindow
	}
	if c.MaxSeries <= 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Info == nil {
		c.Info = func() Info { return Info{} }
	}
	return c
}

// Server is the HTTP server. Create it with NewServer.
type Server struct {
	cfg     Config
	ready   atomic.Int32 // 0 starting, 1 ready, 2 stopping
	srv     *http.Server
	handler http.Handler
	hist    *history

	// ctx is cancelled by Close so that long admin operations (a rate-
	// limited redrive) stop with the server.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	stop   chan struct{}  // closed by Close: stops the sampler
	wg     sync.WaitGroup // the sampler
}

// NewServer returns a server that is not yet ready (/healthz answers 503
// until SetReady(true)). When it has topics, groups or queues to watch it
// starts the history sampler; Close stops it.
func NewServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, stop: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hist = newHistory(cfg.HistoryInterval, cfg.HistoryWindow, cfg.MaxSeries)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	s.routes(mux)
	if cfg.UI != nil {
		mux.Handle("/", cfg.UI)
	}
	s.handler = s.withAuth(mux)
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	if cfg.HistoryInterval > 0 && (cfg.Topics != nil || cfg.Queues != nil || cfg.Groups != nil) {
		s.wg.Add(1)
		go s.sampleLoop()
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
func (s *Server) Handler() http.Handler { return s.handler }

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

// Close stops the listeners and the sampler, lets in-flight requests
// finish for up to ShutdownTimeout (a running redrive is stopped), then
// closes every connection. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	s.SetReady(false)
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}
