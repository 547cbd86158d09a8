package sluice

import (
	"math"
	"math/rand/v2"
	"time"
)

// RetryPolicy says how often and how fast a failed message is tried again before it is
// dead-lettered. The zero value means: 5 attempts, 1s initial backoff doubling up to 5m, 20% jitter.
type RetryPolicy struct {
	// MaxAttempts is the number of handler runs before the message is dead-lettered (default 5).
	// Counting includes the first delivery; 1 means no retry.
	MaxAttempts int
	// InitialBackoff is the wait before the second attempt (default 1s).
	InitialBackoff time.Duration
	// MaxBackoff caps the wait (default 5m; SQS caps a visibility timeout at 12h anyway).
	MaxBackoff time.Duration
	// Multiplier grows the wait per attempt (default 2).
	Multiplier float64
	// Jitter is the random fraction (0..1) taken off or added to each wait so that failures of
	// many messages at once do not come back at once (default 0.2: ±20%). Negative disables it.
	Jitter float64
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 5 * time.Minute
	}
	if p.MaxBackoff < p.InitialBackoff {
		p.MaxBackoff = p.InitialBackoff
	}
	if p.Multiplier < 1 {
		p.Multiplier = 2
	}
	if p.Jitter == 0 {
		p.Jitter = 0.2
	}
	if p.Jitter < 0 {
		p.Jitter = 0
	}
	if p.Jitter > 1 {
		p.Jitter = 1
	}
	return p
}

// Backoff returns the wait after the given failed attempt (1 = the first delivery failed).
// It is InitialBackoff·Multiplier^(attempt-1), capped at MaxBackoff, then spread by ±Jitter.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	if attempt < 1 {
		attempt = 1
	}
	d := float64(p.InitialBackoff) * math.Pow(p.Multiplier, float64(attempt-1))
	if d > float64(p.MaxBackoff) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(p.MaxBackoff)
	}
	if p.Jitter > 0 {
		d *= 1 + p.Jitter*(2*rand.Float64()-1)
	}
	if d < 0 {
		d = 0
	}
	return time.Duration(d)
}
