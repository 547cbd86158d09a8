package sluice

// throttle.go: depth-based throttling of producers. A poller goroutine
// (owned by the Producer, stopped by Close) asks the destination for its
// backlog every Interval; publishing consults the last answer.

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"
)

// ThrottleConfig slows a producer down when its destination backs up, so
// that a spike fills the destination only up to a limit instead of without
// bound.
//
// The backlog measured is, for SQS, the queue's waiting messages:
// ApproximateNumberOfMessages + ApproximateNumberOfMessagesDelayed (messages
// in flight, ApproximateNumberOfMessagesNotVisible, are being worked on and
// do not count). For Kafka it is the lag of Group on the producer's topic:
// the sum over partitions of the log end offset minus the group's committed
// offset (minus the log start offset where the group has not committed).
//
// With pressure = backlog / MaxDepth: below 0.8 publishing is unaffected;
// from 0.8 to 1 each Publish and PublishSync call waits a delay growing
// linearly from 0 to MaxDelay; at 1 and above they fail at once with
// ErrThrottled (TryPublish never waits: it only refuses at 1).
type ThrottleConfig struct {
	// MaxDepth is the backlog at which publishing is refused. Required (> 0).
	MaxDepth int64
	// Interval is how often the backlog is polled. Default 1s.
	Interval time.Duration
	// Group is the Kafka consumer group whose lag counts. Required for Kafka;
	// ignored for SQS.
	Group string
	// MaxDelay is the delay per call just below MaxDepth. Default 1s.
	MaxDelay time.Duration
}

// Throttle defaults.
const (
	DefaultThrottleInterval = time.Second
	DefaultThrottleMaxDelay = time.Second
	// throttleStart is the pressure where slowing down begins.
	throttleStart = 0.8
)

func (c *ThrottleConfig) defaults() error {
	if c.MaxDepth <= 0 {
		return configError("Throttle.MaxDepth", "must be > 0, got %d", c.MaxDepth)
	}
	if c.Interval < 0 || c.MaxDelay < 0 {
		return configError("Throttle.Interval/MaxDelay", "must not be negative")
	}
	if c.Interval == 0 {
		c.Interval = DefaultThrottleInterval
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = DefaultThrottleMaxDelay
	}
	return nil
}

// throttle holds the last polled pressure. A nil *throttle admits everything.
type throttle struct {
	cfg    ThrottleConfig
	probe  func(context.Context) (int64, error)
	logger *slog.Logger
	gauge  interface{ Set(float64) }

	bits   atomic.Uint64 // math.Float64bits of the pressure
	depthv atomic.Int64
	quit   chan struct{}
	done   chan struct{}
}

// startThrottle polls once synchronously (so that the first message already
// sees the pressure), then every Interval on a goroutine until stop.
func startThrottle(cfg ThrottleConfig, probe func(context.Context) (int64, error), logger *slog.Logger, m *producerMetrics) *throttle {
	t := &throttle{cfg: cfg, probe: probe, logger: logger, gauge: m.pressure,
		quit: make(chan struct{}), done: make(chan struct{})}
	ok := t.poll(true)
	go t.run(ok)
	return t
}

func (t *throttle) run(ok bool) {
	defer close(t.done)
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			ok = t.poll(ok)
		case <-t.quit:
			return
		}
	}
}

// poll measures once; on error the last pressure stays. It logs only when
// polling starts or stops failing, not on every tick.
func (t *throttle) poll(wasOK bool) bool {
	timeout := max(t.cfg.Interval, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() { // stop waiting for the destination when the producer closes
		select {
		case <-t.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	d, err := t.probe(ctx)
	cancel()
	if err != nil {
		if wasOK {
			t.logger.Warn("sluice: throttle cannot read the destination's depth; keeping the last value", "err", err)
		}
		return false
	}
	if !wasOK {
		t.logger.Info("sluice: throttle reads the destination's depth again", "depth", d)
	}
	t.set(d)
	return true
}

func (t *throttle) set(depth int64) {
	p := float64(depth) / float64(t.cfg.MaxDepth)
	t.depthv.Store(depth)
	t.bits.Store(math.Float64bits(p))
	t.gauge.Set(p)
}

func (t *throttle) pressure() float64 {
	if t == nil {
		return 0
	}
	return math.Float64frombits(t.bits.Load())
}

// delay is the wait for pressure p; refuse reports p ≥ 1.
func (t *throttle) delay(p float64) (d time.Duration, refuse bool) {
	switch {
	case p >= 1:
		return 0, true
	case p <= throttleStart:
		return 0, false
	}
	return time.Duration((p - throttleStart) / (1 - throttleStart) * float64(t.cfg.MaxDelay)), false
}

// admit applies the throttle to one publishing call: ErrThrottled at the
// limit; past 80% a wait (when wait is true), cut short by ctx or Close.
func (t *throttle) admit(ctx context.Context, wait bool) error {
	if t == nil {
		return nil
	}
	p := t.pressure()
	d, refuse := t.delay(p)
	if refuse {
		return fmt.Errorf("%w: depth %d, MaxDepth %d", ErrThrottled, t.depthv.Load(), t.cfg.MaxDepth)
	}
	if !wait || d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.quit:
		return ErrClosed
	}
}

func (t *throttle) stop() {
	if t == nil {
		return
	}
	close(t.quit)
	<-t.done
}
