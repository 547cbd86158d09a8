package sluice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// BreakerConfig turns on a circuit breaker around the handler (sony/gobreaker). While it is open
// the worker Pauses its Source, so messages stay queued instead of burning delivery attempts on a
// broken dependency; after OpenTimeout it lets HalfOpenProbes messages through and closes again
// if they succeed.
type BreakerConfig struct {
	// Name labels the breaker in logs and metrics (default "handler").
	Name string
	// ConsecutiveFailures trips the breaker after this many handler failures in a row (default 5).
	ConsecutiveFailures uint32
	// FailureRatio, if > 0, also trips it when failures/requests within Interval reach this
	// ratio over at least MinRequests requests.
	FailureRatio float64
	// MinRequests is the sample size FailureRatio needs (default 10).
	MinRequests uint32
	// Interval clears the closed-state counts periodically (default 0: only on state change).
	Interval time.Duration
	// OpenTimeout is how long the breaker stays open before letting probes through (default 30s).
	OpenTimeout time.Duration
	// HalfOpenProbes is the number of messages let through while half-open (default 1).
	HalfOpenProbes uint32
	// IsFailure decides which handler errors count against the breaker (default: every error;
	// handlers interrupted by the worker's own shutdown never count).
	IsFailure func(err error) bool
	// OnStateChange is called on every transition with "closed", "half-open" or "open". It runs
	// inside the breaker's lock: it must return quickly and must not wait for the worker.
	OnStateChange func(from, to string)
}

// errInterrupted marks handler errors caused by the worker's own hard stop at the end of the
// shutdown deadline; they say nothing about the dependency's health and are excluded.
var errInterrupted = errors.New("sluice: handler interrupted by shutdown")

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Name == "" {
		c.Name = "handler"
	}
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = 5
	}
	if c.MinRequests == 0 {
		c.MinRequests = 10
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = 30 * time.Second
	}
	if c.HalfOpenProbes == 0 {
		c.HalfOpenProbes = 1
	}
	return c
}

func (c BreakerConfig) validate() error {
	if c.FailureRatio < 0 || c.FailureRatio > 1 {
		return fmt.Errorf("%w: Breaker.FailureRatio %v: want 0..1", ErrWorkerConfig, c.FailureRatio)
	}
	if c.Interval < 0 {
		return fmt.Errorf("%w: Breaker.Interval %v: want >= 0", ErrWorkerConfig, c.Interval)
	}
	return nil
}

// breaker wraps a gobreaker two-step breaker: the dispatcher asks allow() before handing out a
// message (or batch) and reports the outcome through the returned func. Transitions pause and
// resume the Source. gobreaker calls OnStateChange with its own lock held, so the callback only
// touches the source's Pause/Resume (which must not block) and this struct's fields.
type breaker struct {
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	timeout time.Duration

	mu       sync.Mutex
	openedAt time.Time
	changed  chan struct{} // closed and replaced on every transition or reported outcome
}

func newBreaker(c BreakerConfig, src Source, log *slog.Logger, met *workerMetrics) *breaker {
	b := &breaker{timeout: c.OpenTimeout, changed: make(chan struct{})}
	isFailure := c.IsFailure
	if isFailure == nil {
		isFailure = func(error) bool { return true }
	}
	st := gobreaker.Settings{
		Name:        c.Name,
		MaxRequests: c.HalfOpenProbes,
		Interval:    c.Interval,
		Timeout:     c.OpenTimeout,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			if n.ConsecutiveFailures >= c.ConsecutiveFailures {
				return true
			}
			return c.FailureRatio > 0 && n.Requests >= c.MinRequests &&
				float64(n.TotalFailures)/float64(n.Requests) >= c.FailureRatio
		},
		IsSuccessful: func(err error) bool { return err == nil || !isFailure(err) },
		IsExcluded:   func(err error) bool { return errors.Is(err, errInterrupted) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			b.mu.Lock()
			if to == gobreaker.StateOpen {
				b.openedAt = time.Now()
			}
			b.broadcastLocked()
			b.mu.Unlock()
			switch to {
			case gobreaker.StateOpen:
				src.Pause() // keep messages queued instead of burning their attempts
				met.breaker.Set(2)
			case gobreaker.StateHalfOpen:
				src.Resume() // a probe needs a message
				met.breaker.Set(1)
			default:
				src.Resume()
				met.breaker.Set(0)
			}
			log.Warn("sluice: circuit breaker "+to.String(), "breaker", name, "from", from.String())
			if c.OnStateChange != nil {
				c.OnStateChange(from.String(), to.String())
			}
		},
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
	return b
}

func (b *breaker) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// allow waits until the breaker lets a request through (closed, or a free half-open probe slot)
// and returns the func that reports its outcome; false when ctx ended first.
func (b *breaker) allow(ctx context.Context) (func(error), bool) {
	for {
		done, err := b.cb.Allow()
		if err == nil {
			return func(err error) {
				done(err)
				b.mu.Lock()
				b.broadcastLocked() // a finished probe frees a half-open slot
				b.mu.Unlock()
			}, true
		}
		b.mu.Lock()
		ch := b.changed
		wait := time.Until(b.openedAt.Add(b.timeout))
		b.mu.Unlock()
		if errors.Is(err, gobreaker.ErrTooManyRequests) || wait < time.Millisecond {
			// Half-open with its probes out: the outcome broadcasts; the timer is a backstop.
			wait = 50 * time.Millisecond
		}
		t := time.NewTimer(wait) // Allow moves open → half-open once the timeout passed
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

func (b *breaker) state() string { return b.cb.State().String() }
