package outbox

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// RelayConfig configures a Relay. Store and Publisher are required; every
// other zero field takes the default written on it.
type RelayConfig struct {
	// Store holds the outbox rows. Required.
	Store Store
	// Publisher sends claimed rows to Kafka or SQS. Required.
	Publisher Publisher
	// BatchSize is the most rows claimed and published at once. Default 100.
	BatchSize int
	// PollInterval is how often the relay looks for due rows without being
	// woken (by LISTEN/NOTIFY or SQLite's commit hook), which also picks up
	// rows whose retry delay has passed. Default 1s.
	PollInterval time.Duration
	// PublishTimeout bounds one Publish call (and is cut to the claim's
	// deadline when the store leases rows). Default 30s.
	PublishTimeout time.Duration
	// RetryBackoff is the delay before a failed row is tried again; it
	// doubles per attempt up to MaxRetryBackoff, with ±20% jitter. Default 1s.
	RetryBackoff time.Duration
	// MaxRetryBackoff caps RetryBackoff. Default 1m. Rows are retried
	// forever: an outbox never drops a committed message.
	MaxRetryBackoff time.Duration
	// Retention is how long sent rows are kept before cleanup deletes
	// them; negative keeps them forever. Default 24h.
	Retention time.Duration
	// CleanupInterval is how often cleanup runs. Default 1m.
	CleanupInterval time.Duration
	// Logger receives failures and cleanups. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of RelayConfig.
const (
	DefaultBatchSize       = 100
	DefaultPollInterval    = time.Second
	DefaultPublishTimeout  = 30 * time.Second
	DefaultRetryBackoff    = time.Second
	DefaultMaxRetryBackoff = time.Minute
	DefaultRetention       = 24 * time.Hour
	DefaultCleanupInterval = time.Minute
)

// WithDefaults returns c with every zero field set to its default.
func (c RelayConfig) WithDefaults() RelayConfig {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.CleanupInterval == 0 {
		c.CleanupInterval = DefaultCleanupInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c RelayConfig) validate() error {
	switch {
	case c.Store == nil:
		return &ConfigError{Field: "RelayConfig.Store", Reason: "required"}
	case c.Publisher == nil:
		return &ConfigError{Field: "RelayConfig.Publisher", Reason: "required"}
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return &ConfigError{Field: "RelayConfig.BatchSize", Reason: "must be 1…10000"}
	case c.PollInterval < 0:
		return &ConfigError{Field: "RelayConfig.PollInterval", Reason: "negative"}
	case c.PublishTimeout < 0:
		return &ConfigError{Field: "RelayConfig.PublishTimeout", Reason: "negative"}
	case c.RetryBackoff < 0:
		return &ConfigError{Field: "RelayConfig.RetryBackoff", Reason: "negative"}
	case c.MaxRetryBackoff < c.RetryBackoff:
		return &ConfigError{Field: "RelayConfig.MaxRetryBackoff", Reason: "smaller than RetryBackoff"}
	case c.CleanupInterval < 0:
		return &ConfigError{Field: "RelayConfig.CleanupInterval", Reason: "negative"}
	}
	return nil
}

// Relay publishes pending outbox rows: claim a batch, publish it, mark it
// sent (failed rows are retried with backoff), repeat while full batches
// come back, then sleep until woken by the store or the poll interval.
//
// Delivery is at-least-once. A relay that dies after its publish was
// acknowledged and before the rows were marked sent leaves them pending,
// and they are published again (by it after a restart or by another
// relay): the window is one batch. Consumers make that harmless with an
// Inbox keyed on IDAttribute.
//
// Ordering: one relay publishes rows in enqueue order, batch by batch,
// except that a row whose publish failed waits out its retry delay while
// later rows go ahead. Several relays publish disjoint batches side by
// side, so no order holds between them.
type Relay struct {
	cfg     RelayConfig
	running atomic.Bool

	published, failed, batches, cleaned atomic.Int64
}

// RelayStats are counters since the relay was made.
type RelayStats struct {
	Published int64 // rows published and marked sent
	Failed    int64 // row publish failures (each retried later)
	Batches   int64 // non-empty claims
	Cleaned   int64 // sent rows deleted by cleanup
}

// NewRelay validates cfg and returns a relay; Run starts it.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Relay{cfg: cfg}, nil
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{
		Published: r.published.Load(), Failed: r.failed.Load(),
		Batches: r.batches.Load(), Cleaned: r.cleaned.Load(),
	}
}

// Run relays until ctx ends, then returns nil once the batch in hand is
// finished (or released) and the listener goroutine has stopped. Errors of
// the store or publisher are logged and retried, never returned; a second
// concurrent Run returns ErrRunning.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)

	wake := make(chan struct{}, 1)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default: // a wake-up is already pending; one is enough
		}
	}
	// The listener goroutine is owned by Run: it ends with lctx, and Run
	// waits for it before returning.
	lctx, stopListen := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(lctx, notify) })
	defer wg.Wait()
	defer stopListen()

	poll := time.NewTimer(r.cfg.PollInterval)
	defer poll.Stop()
	var cleanup <-chan time.Time
	if r.cfg.Retention >= 0 && r.cfg.CleanupInterval > 0 {
		t := time.NewTicker(r.cfg.CleanupInterval)
		defer t.Stop()
		cleanup = t.C
	}
	errDelay := r.cfg.RetryBackoff
	for {
		n, err := r.deliver(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var pause time.Duration // how long to wait before claiming again, at most
		switch {
		case err != nil:
			r.cfg.Logger.Warn("outbox: relay batch failed", "err", err, "retry_in", errDelay)
			pause = errDelay
			errDelay = min(2*errDelay, r.cfg.MaxRetryBackoff)
		case n == r.cfg.BatchSize:
			errDelay = r.cfg.RetryBackoff
			select { // a busy relay still cleans up
			case <-cleanup:
				r.cleanup(ctx)
			default:
			}
			continue // a full batch: more rows are likely waiting
		default:
			errDelay = r.cfg.RetryBackoff
			pause = r.cfg.PollInterval
		}
		poll.Reset(pause)
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-poll.C:
		case <-cleanup:
			r.cleanup(ctx)
		}
	}
}

func (r *Relay) listen(ctx context.Context, wake func()) {
	delay := r.cfg.RetryBackoff
	for {
		err := r.cfg.Store.Listen(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		if err == nil { // a store without notifications: polling only
			return
		}
		r.cfg.Logger.Warn("outbox: relay cannot listen for new rows; polling meanwhile", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, r.cfg.MaxRetryBackoff)
		wake() // rows may have arrived while nobody listened
	}
}

// Drain claims and publishes until no due rows are left and reports how
// many rows it claimed. Rows whose publish failed are put into their retry
// delay (see Stats().Failed), not returned as an error; Drain returns the
// first store error. It may run beside Run or other relays.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.deliver(ctx)
		total += n
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, nil
		}
	}
}

// deliver runs one claim → publish → finish cycle and returns how many rows
// it claimed (full batches mean "come back at once").
func (r *Relay) deliver(ctx context.Context) (int, error) {
	claim, err := r.cfg.Store.Claim(ctx, r.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	msgs := claim.Messages()
	if len(msgs) == 0 {
		return 0, claim.Abort(ctx)
	}
	r.batches.Add(1)

	deadline := time.Now().Add(r.cfg.PublishTimeout)
	if d := claim.Deadline(); !d.IsZero() && d.Before(deadline) {
		deadline = d
	}
	pctx, cancel := context.WithDeadline(ctx, deadline)
	perr := r.publish(pctx, msgs)
	cancel()

	if perr != nil && ctx.Err() != nil {
		// Shutting down mid-publish: the outcome is unknown, so release the
		// rows untouched (they are published again: at-least-once).
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer acancel()
		return len(msgs), claim.Abort(actx)
	}
	var failed map[int]Failure
	if perr != nil {
		failed = make(map[int]Failure)
		var pe *PublishError
		if errors.As(perr, &pe) && len(pe.Failed) > 0 {
			for i, e := range pe.Failed {
				if i >= 0 && i < len(msgs) {
					failed[i] = Failure{Err: e, Delay: r.backoff(msgs[i].Attempts + 1)}
				}
			}
		} else {
			for i := range msgs {
				failed[i] = Failure{Err: perr, Delay: r.backoff(msgs[i].Attempts + 1)}
			}
		}
		r.cfg.Logger.Warn("outbox: publish failed", "rows", len(failed), "of", len(msgs), "err", perr)
	}
	// Marking must happen even when ctx was cancelled after a successful
	// publish, or the batch would be sent again.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer fcancel()
	if err := claim.Finish(fctx, failed); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			r.cfg.Logger.Warn("outbox: rows were taken over by another relay during publishing", "err", err)
		} else {
			return len(msgs), err
		}
	}
	r.published.Add(int64(len(msgs) - len(failed)))
	r.failed.Add(int64(len(failed)))
	return len(msgs), nil
}

func (r *Relay) publish(ctx context.Context, msgs []Message) (err error) {
	defer func() {
		// A publisher must not take the relay down; turn a panic into a
		// failed batch.
		if p := recover(); p != nil {
			err = errors.New("outbox: publisher panicked")
			r.cfg.Logger.Error("outbox: publisher panicked", "panic", p)
		}
	}()
	return r.cfg.Publisher.Publish(ctx, msgs)
}

// backoff is the delay before attempt n+1 (n ≥ 1).
func (r *Relay) backoff(n int) time.Duration {
	d := r.cfg.RetryBackoff
	for i := 1; i < n && d < r.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxRetryBackoff)
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (r *Relay) cleanup(ctx context.Context) {
	n, err := r.cfg.Store.Cleanup(ctx, time.Now().Add(-r.cfg.Retention))
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Logger.Warn("outbox: cleanup failed", "err", err)
		}
		return
	}
	r.cleaned.Add(n)
	if n > 0 {
		r.cfg.Logger.Debug("outbox: cleaned sent rows", "rows", n)
	}
}
