package sluice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// WorkerConfig configures a Worker. Source and exactly one of Handler or BatchHandler are
// required; every other field has a default.
type WorkerConfig struct {
	// Source supplies the messages (NewSQSSource, NewKafkaSource). Required.
	Source Source
	// Handler runs once per message. Set this or BatchHandler.
	Handler Handler
	// BatchHandler runs on up to BatchSize messages, collected for at most BatchWait.
	BatchHandler BatchHandler
	// BatchSize is the most messages per BatchHandler call (default 10).
	BatchSize int
	// BatchWait is the longest a partial batch waits for more messages (default 1s).
	BatchWait time.Duration

	// Concurrency is the number of handler goroutines (default 1; with Autoscale, the start value
	// within Min..Max).
	Concurrency int
	// Prefetch bounds the messages fetched but not yet started (default 2·max concurrency
	// (·BatchSize with a BatchHandler), at least 10·Pollers — one SQS receive per poller).
	Prefetch int
	// Pollers is the number of concurrent Fetch calls (default 1). One SQS receive returns at
	// most 10 messages, so fast handlers on SQS profit from 2–4.
	Pollers int
	// OrderByKey: never run two messages with the same non-empty Key (from the same Source and
	// Partition) at once; they run in the order fetched.
	OrderByKey bool

	// Retry says how failures are retried before dead-lettering.
	Retry RetryPolicy
	// RateLimit caps handler starts per second (0: no limit); Burst is the bucket size
	// (default max(1, RateLimit/10)).
	RateLimit float64
	Burst     int
	// Breaker turns on a circuit breaker that pauses the Source while open.
	Breaker *BreakerConfig
	// HandlerTimeout bounds one handler run (context deadline; default 0: none).
	HandlerTimeout time.Duration
	// ExtendEvery is how often a running message's lease is extended (default: half of the
	// SQS source's visibility timeout; 0 on sources without leases).
	ExtendEvery time.Duration
	// ShutdownTimeout is how long Run waits for in-flight handlers after its context ends
	// (default 30s); handlers still running then are cancelled and their messages handed back.
	ShutdownTimeout time.Duration
	// Autoscale grows and shrinks the concurrency from the Source's backlog.
	Autoscale *AutoscaleConfig

	// Name labels the worker's metrics (constant label worker=Name) so that several workers can
	// share a Registerer (default "worker").
	Name string
	// WorkerID identifies this worker in diagnostics (default hostname/pid); Version is the
	// application's version, also in diagnostics (default: the main module's build version).
	WorkerID, Version string
	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer receives the worker's Prometheus metrics (default: none registered).
	Registerer prometheus.Registerer
}

// WorkerStats is a snapshot of a worker's counters.
type WorkerStats struct {
	Processed    int64 // handler succeeded, message acknowledged
	Failed       int64 // handler runs that failed (each attempt)
	Retried      int64 // failed messages handed back or retried in place
	DeadLettered int64
	InFlight     int // messages fetched and not yet settled
	Concurrency  int // handler goroutines currently allowed
	Backlog      Backlog
	Breaker      string // "closed", "open", "half-open"; "" without a breaker
	ScaleUps     int64
	ScaleDowns   int64
}

// ErrWorkerConfig is wrapped by every WorkerConfig validation error.
var ErrWorkerConfig = errors.New("sluice: invalid worker config")

// maxErrorText bounds Diagnostics.LastError so that a huge error cannot push a dead-lettered
// message over the destination's size limit.
const maxErrorText = 2048

// Worker pulls messages from a Source and runs a handler on them.
//
// Goroutines, all owned by Run and all ended before it returns: the fetcher (Source.Fetch into
// the prefetch buffer), the dispatcher (breaker → buffer → rate limit → a handler goroutine per
// message or batch, bounded by the concurrency semaphore), the lease extender (sources with
// leases) and the backlog poller (autoscaling, metrics). Lock order: Worker.mu before
// readyQueue.mu; the semaphore and breaker locks are leaves.
type Worker struct {
	cfg     WorkerConfig
	src     Source
	log     *slog.Logger
	met     *workerMetrics
	limiter *rate.Limiter
	brk     *breaker
	sem     *semaphore
	q       *readyQueue
	lease   time.Duration // how far one extension reaches: the source's lease length (or 2·extend)
	extend  time.Duration // how often held messages' leases are extended; 0: never

	mu         sync.Mutex
	held       map[*item]struct{} // every message fetched and not yet settled
	unstarted  int                // held items not running (buffered or backing off)
	draining   bool
	lastChange time.Time // last autoscaling change; only the backlog goroutine uses it

	space   chan struct{} // capacity 1: prefetch room appeared
	runs    sync.WaitGroup
	started atomic.Bool

	processed, failed, retried, deadLettered, scaleUps, scaleDowns atomic.Int64
	backlog                                                        atomic.Pointer[Backlog]
}

// leaser is implemented by sources whose messages are leased for a limited time (SQS visibility
// timeout); the worker then extends the lease of every message it holds.
type leaser interface {
	leaseDuration() time.Duration
}

func (c WorkerConfig) validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s %v: %s", ErrWorkerConfig, field, v, want)
	}
	switch {
	case c.Source == nil:
		return fmt.Errorf("%w: Source is required", ErrWorkerConfig)
	case c.Handler == nil && c.BatchHandler == nil:
		return fmt.Errorf("%w: Handler or BatchHandler is required", ErrWorkerConfig)
	case c.Handler != nil && c.BatchHandler != nil:
		return fmt.Errorf("%w: set Handler or BatchHandler, not both", ErrWorkerConfig)
	case c.Concurrency < 0:
		return bad("Concurrency", c.Concurrency, "want >= 0")
	case c.Prefetch < 0:
		return bad("Prefetch", c.Prefetch, "want >= 0")
	case c.Pollers < 0:
		return bad("Pollers", c.Pollers, "want >= 0")
	case c.BatchSize < 0:
		return bad("BatchSize", c.BatchSize, "want >= 0")
	case c.BatchWait < 0:
		return bad("BatchWait", c.BatchWait, "want >= 0")
	case c.RateLimit < 0:
		return bad("RateLimit", c.RateLimit, "want >= 0 (0: no limit)")
	case c.Burst < 0:
		return bad("Burst", c.Burst, "want >= 0")
	case c.HandlerTimeout < 0:
		return bad("HandlerTimeout", c.HandlerTimeout, "want >= 0")
	case c.ExtendEvery < 0:
		return bad("ExtendEvery", c.ExtendEvery, "want >= 0")
	case c.ShutdownTimeout < 0:
		return bad("ShutdownTimeout", c.ShutdownTimeout, "want >= 0")
	case c.Retry.MaxAttempts < 0:
		return bad("Retry.MaxAttempts", c.Retry.MaxAttempts, "want >= 0")
	}
	if a := c.Autoscale; a != nil {
		switch {
		case a.Min < 0:
			return bad("Autoscale.Min", a.Min, "want >= 0")
		case a.Max < 0:
			return bad("Autoscale.Max", a.Max, "want >= 0")
		case a.Max > 0 && a.Min > a.Max:
			return bad("Autoscale.Min", a.Min, "want <= Autoscale.Max "+strconv.Itoa(a.Max))
		case a.Interval < 0 || a.Cooldown < 0:
			return fmt.Errorf("%w: Autoscale.Interval and Cooldown: want >= 0", ErrWorkerConfig)
		case a.ScaleDownDepth < 0 || (a.ScaleUpDepth > 0 && a.ScaleDownDepth >= a.ScaleUpDepth):
			return bad("Autoscale.ScaleDownDepth", a.ScaleDownDepth, "want 0 <= ScaleDownDepth < ScaleUpDepth")
		case a.Step < 0:
			return bad("Autoscale.Step", a.Step, "want >= 0")
		}
	}
	if c.Breaker != nil {
		return c.Breaker.validate()
	}
	return nil
}

func (c WorkerConfig) withDefaults() WorkerConfig {
	if c.Name == "" {
		c.Name = "worker"
	}
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		c.WorkerID = host + "/" + strconv.Itoa(os.Getpid())
	}
	if c.Version == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			c.Version = bi.Main.Version
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Autoscale != nil {
		a := *c.Autoscale
		if a.Min == 0 {
			a.Min = 1
		}
		if a.Max == 0 {
			a.Max = max(c.Concurrency, 4*a.Min)
		}
		if a.Interval == 0 {
			a.Interval = 5 * time.Second
		}
		if a.Cooldown == 0 {
			a.Cooldown = 3 * a.Interval
		}
		if a.ScaleUpDepth == 0 {
			a.ScaleUpDepth = max(100, a.ScaleDownDepth+1)
		}
		c.Autoscale = &a
		c.Concurrency = min(max(c.Concurrency, a.Min), a.Max)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.BatchSize == 0 {
		c.BatchSize = 10
	}
	if c.Pollers == 0 {
		c.Pollers = 1
	}
	if c.BatchWait == 0 {
		c.BatchWait = time.Second
	}
	if c.Prefetch == 0 {
		most := c.Concurrency
		if c.Autoscale != nil {
			most = c.Autoscale.Max
		}
		if c.BatchHandler != nil {
			most *= c.BatchSize
		}
		c.Prefetch = max(10*c.Pollers, 2*most)
	}
	if c.RateLimit > 0 && c.Burst == 0 {
		c.Burst = max(1, int(c.RateLimit/10))
	}
	if c.BatchHandler != nil && c.Burst > 0 && c.Burst < c.BatchSize {
		c.Burst = c.BatchSize // a batch takes BatchSize tokens at once
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	c.Retry = c.Retry.withDefaults()
	if c.Breaker != nil {
		b := c.Breaker.withDefaults()
		c.Breaker = &b
	}
	return c
}

// NewWorker validates cfg and returns a Worker ready to Run. Errors wrap ErrWorkerConfig and
// name the field.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	met, err := newWorkerMetrics(cfg.Name, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:   cfg,
		src:   cfg.Source,
		log:   cfg.Logger.With("worker", cfg.Name),
		met:   met,
		sem:   newSemaphore(cfg.Concurrency),
		q:     newReadyQueue(),
		held:  map[*item]struct{}{},
		space: make(chan struct{}, 1),
	}
	if cfg.RateLimit > 0 {
		w.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.Burst)
	}
	if cfg.Breaker != nil {
		w.brk = newBreaker(*cfg.Breaker, w.src, w.log, met)
	}
	if l, ok := w.src.(leaser); ok {
		w.lease = l.leaseDuration()
	}
	w.extend = cfg.ExtendEvery
	if w.extend == 0 && w.lease > 0 {
		w.extend = w.lease / 2 // heartbeat at half the visibility timeout
	}
	if w.extend > 0 && w.lease == 0 {
		w.lease = 2 * w.extend
	}
	met.concurrency.Set(float64(cfg.Concurrency))
	return w, nil
}

// Stats returns a snapshot of the worker's counters.
func (w *Worker) Stats() WorkerStats {
	w.mu.Lock()
	inFlight := len(w.held)
	w.mu.Unlock()
	s := WorkerStats{
		Processed:    w.processed.Load(),
		Failed:       w.failed.Load(),
		Retried:      w.retried.Load(),
		DeadLettered: w.deadLettered.Load(),
		InFlight:     inFlight,
		Concurrency:  w.sem.getLimit(),
		ScaleUps:     w.scaleUps.Load(),
		ScaleDowns:   w.scaleDowns.Load(),
	}
	if b := w.backlog.Load(); b != nil {
		s.Backlog = *b
	}
	if w.brk != nil {
		s.Breaker = w.brk.state()
	}
	return s
}

// Run processes messages until ctx ends, then shuts down gracefully: it stops fetching, hands
// back the messages that had not started (SQS: visible again at once; Kafka: not committed),
// waits up to ShutdownTimeout for running handlers (acknowledging those that finish), cancels
// the rest and hands their messages back, and closes the Source. It returns nil after a clean
// shutdown, the Source's Close error, or the error that stopped the Source. Run may be called
// once.
func (w *Worker) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("sluice: Worker.Run called twice")
	}
	// ops outlives ctx: acks, hand-backs and lease extensions must still work while draining.
	ops, opsCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer opsCancel()
	hctx, hardStop := context.WithCancel(ops) // handler contexts; cancelled at the deadline
	defer hardStop()
	run, stopRun := context.WithCancelCause(ctx) // also ended by a fatal source error
	defer stopRun(nil)

	w.log.Info("sluice: worker starting", "concurrency", w.cfg.Concurrency, "prefetch", w.cfg.Prefetch,
		"worker_id", w.cfg.WorkerID, "version", w.cfg.Version)
	var loops, bg sync.WaitGroup
	for range w.cfg.Pollers {
		loops.Go(func() { w.fetchLoop(run, stopRun) })
	}
	loops.Go(func() { w.dispatchLoop(run, hctx, ops) })
	bgCtx, bgStop := context.WithCancel(ops)
	defer bgStop()
	if w.extend > 0 {
		bg.Go(func() { w.extendLoop(bgCtx) })
	}
	if w.cfg.Autoscale != nil || w.cfg.Registerer != nil {
		loops.Go(func() { w.backlogLoop(run) })
	}

	<-run.Done()
	deadline := time.NewTimer(w.cfg.ShutdownTimeout) // the whole drain counts against it
	defer deadline.Stop()
	loops.Wait()
	var cause error
	if ctx.Err() == nil { // ended by the source, not by the caller
		cause = context.Cause(run)
	}

	// Hand back what did not start, so that other workers get it now rather than after a lease.
	w.mu.Lock()
	w.draining = true
	back := w.q.drain()
	for it := range w.held {
		if it.state == itemBackoff {
			it.timer.Stop()
			back = append(back, it)
		}
	}
	w.mu.Unlock()
	w.giveBack(ops, back...)
	w.log.Info("sluice: worker draining", "handed_back", len(back), "shutdown_timeout", w.cfg.ShutdownTimeout)

	finished := make(chan struct{})
	go func() { w.runs.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-deadline.C:
		w.log.Warn("sluice: shutdown timeout: cancelling running handlers")
		hardStop()
		grace := time.NewTimer(time.Second)
		select {
		case <-finished:
		case <-grace.C:
			w.log.Error("sluice: handlers ignore their context; closing the source under them")
		}
		grace.Stop()
	}
	bgStop()
	bg.Wait()

	cctx, cancel := context.WithTimeout(ops, 10*time.Second)
	defer cancel()
	if err := w.src.Close(cctx); err != nil && cause == nil {
		cause = err
	}
	st := w.Stats()
	w.log.Info("sluice: worker stopped", "processed", st.Processed, "failed", st.Failed,
		"retried", st.Retried, "dead_lettered", st.DeadLettered)
	return cause
}

// fetchLoop fills the prefetch buffer. It ends when ctx ends or the source reports ErrClosed.
func (w *Worker) fetchLoop(ctx context.Context, fatal context.CancelCauseFunc) {
	wait := 100 * time.Millisecond
	for {
		n := w.reserve(ctx)
		if n == 0 {
			return
		}
		ms, err := w.src.Fetch(ctx, n)
		w.mu.Lock()
		w.unstarted -= n // the reservation; what arrived is counted below
		w.mu.Unlock()
		w.signalSpace()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrClosed) {
				fatal(fmt.Errorf("sluice: worker: source closed: %w", err))
				return
			}
			w.log.Warn("sluice: fetch failed", "err", err, "retry_in", wait)
			if !sleepCtx(ctx, wait) {
				return
			}
			wait = min(2*wait, 5*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		if len(ms) == 0 {
			continue
		}
		now := time.Now()
		its := make([]*item, len(ms))
		w.mu.Lock()
		for i, m := range ms {
			it := &item{m: m}
			if w.cfg.OrderByKey {
				it.key = orderKey(m)
			}
			if w.lease > 0 {
				it.leaseUntil = now.Add(w.lease)
			}
			its[i] = it
			w.held[it] = struct{}{}
		}
		w.unstarted += len(its)
		w.met.inFlight.Set(float64(len(w.held)))
		w.mu.Unlock()
		w.q.push(its...)
	}
}

// reserve waits until the buffer has room, reserves it for one Fetch (so that concurrent
// pollers never overfill the buffer) and returns how much (0 when ctx ended).
func (w *Worker) reserve(ctx context.Context) int {
	for {
		share := max(w.cfg.Prefetch/w.cfg.Pollers, 1)
		// Wait for room for a decent batch rather than asking for one message at a time:
		// a receive costs the same round trip for 1 message as for 10.
		low := max(1, min(10, share/2))
		w.mu.Lock()
		n := min(w.cfg.Prefetch-w.unstarted, share)
		if n >= low {
			w.unstarted += n
			more := w.unstarted < w.cfg.Prefetch
			w.mu.Unlock()
			if more {
				w.signalSpace() // room left for another poller
			}
			return n
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0
		case <-w.space:
		}
	}
}

func (w *Worker) signalSpace() {
	select {
	case w.space <- struct{}{}:
	default:
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
