package kafka

import (
	"context"
	"sync"
)

// byteBudget bounds the bytes of request frames held by the server at once
// (read and not yet answered), across all connections: a reader acquires a
// frame's size before reading its body, and the size is released once the
// response has been written. A reader that must wait stops reading its
// socket, which pushes back on that client through TCP. Waiters are served
// in arrival order so that a large request is not starved by small ones.
type byteBudget struct {
	mu      sync.Mutex
	avail   int64
	total   int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newByteBudget(total int64) *byteBudget {
	return &byteBudget{avail: total, total: total}
}

// acquire takes n bytes (at most the whole budget), waiting until they are
// free or ctx is done. It returns the amount to release later.
func (b *byteBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(n, b.total)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.avail >= n {
		b.avail -= n
		b.mu.Unlock()
		return n, nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return n, nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			b.avail += n
			b.wakeLocked()
		default:
			for i, x := range b.waiters {
				if x == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
			b.wakeLocked() // the head may have changed
		}
		return 0, ctx.Err()
	}
}

// release returns n bytes taken by acquire.
func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.avail += n
	b.wakeLocked()
	b.mu.Unlock()
}

func (b *byteBudget) wakeLocked() {
	for len(b.waiters) > 0 && b.avail >= b.waiters[0].n {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.avail -= w.n
		close(w.ready)
	}
}
