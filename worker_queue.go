package sluice

// worker_queue.go: the worker's prefetch buffer (with per-key ordering) and the resizable
// semaphore that bounds concurrency. Both are plain mutex-guarded structures; waiters are woken
// through channels so that they can also watch a context.

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// item is one message held by the worker, from Fetch until it is settled (acked, handed back,
// dead-lettered or released).
type item struct {
	m   *Message
	key string // ordering key ("" = unordered)

	// Guarded by Worker.mu:
	state      itemState
	leaseUntil time.Time // when the source's lease runs out (zero: no lease)
	timer      *time.Timer
}

type itemState uint8

const (
	itemBuffered itemState = iota // in the ready queue or waiting behind its key
	itemRunning                   // handed to a handler
	itemBackoff                   // waiting to be retried in place
)

// orderKey is the per-key ordering identity of m: messages with equal keys never run at once.
func orderKey(m *Message) string {
	if len(m.Key) == 0 {
		return ""
	}
	return m.Source + "\x00" + strconv.FormatInt(int64(m.Partition), 10) + "\x00" + string(m.Key)
}

// readyQueue holds buffered items in fetch order. With ordering on, an item whose key is owned
// (another item of that key is ready, running or backing off) waits in blocked[key] and becomes
// ready when the owner releases the key.
type readyQueue struct {
	mu      sync.Mutex
	ready   []*item
	blocked map[string][]*item
	owned   map[string]bool
	wake    chan struct{} // capacity 1: "something became ready"
}

func newReadyQueue() *readyQueue {
	return &readyQueue{blocked: map[string][]*item{}, owned: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (q *readyQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// push appends newly fetched items.
func (q *readyQueue) push(its ...*item) {
	q.mu.Lock()
	for _, it := range its {
		if it.key != "" {
			if q.owned[it.key] {
				q.blocked[it.key] = append(q.blocked[it.key], it)
				continue
			}
			q.owned[it.key] = true
		}
		q.ready = append(q.ready, it)
	}
	q.mu.Unlock()
	q.signal()
}

// requeue puts items that already own their key back at the front (in-place retries, or items
// taken for a dispatch that was abandoned).
func (q *readyQueue) requeue(its ...*item) {
	q.mu.Lock()
	q.ready = append(append(make([]*item, 0, len(its)+len(q.ready)), its...), q.ready...)
	q.mu.Unlock()
	q.signal()
}

// release gives up key ownership after an item settled: the next item of that key becomes ready.
func (q *readyQueue) release(key string) {
	if key == "" {
		return
	}
	q.mu.Lock()
	next := q.blocked[key]
	if len(next) == 0 {
		delete(q.owned, key)
		q.mu.Unlock()
		return
	}
	q.ready = append(q.ready, next[0])
	if len(next) == 1 {
		delete(q.blocked, key)
	} else {
		q.blocked[key] = next[1:]
	}
	q.mu.Unlock()
	q.signal()
}

// tryPop takes the first ready item, if any.
func (q *readyQueue) tryPop() *item {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.ready) == 0 {
		return nil
	}
	it := q.ready[0]
	q.ready[0] = nil
	q.ready = q.ready[1:]
	if len(q.ready) > 0 {
		q.signal() // keep other waiters going
	}
	return it
}

// pop waits for a ready item until ctx ends (nil then).
func (q *readyQueue) pop(ctx context.Context) *item {
	for {
		if it := q.tryPop(); it != nil {
			return it
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		}
	}
}

// drain removes and returns every buffered item (ready or blocked) and forgets key ownership.
func (q *readyQueue) drain() []*item {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.ready
	for _, b := range q.blocked {
		out = append(out, b...)
	}
	q.ready, q.blocked, q.owned = nil, map[string][]*item{}, map[string]bool{}
	return out
}

// semaphore is a counting semaphore whose limit can change while it is in use (autoscaling).
// Lowering the limit never interrupts holders; it only delays new acquisitions.
type semaphore struct {
	mu    sync.Mutex
	limit int
	used  int
	wake  chan struct{} // closed and replaced whenever a slot may have become free
}

func newSemaphore(limit int) *semaphore {
	return &semaphore{limit: limit, wake: make(chan struct{})}
}

func (s *semaphore) acquire(ctx context.Context) bool {
	for {
		s.mu.Lock()
		if s.used < s.limit {
			s.used++
			s.mu.Unlock()
			return true
		}
		w := s.wake
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-w:
		}
	}
}

func (s *semaphore) releaseOne() {
	s.mu.Lock()
	s.used--
	s.broadcastLocked()
	s.mu.Unlock()
}

func (s *semaphore) setLimit(n int) {
	s.mu.Lock()
	s.limit = n
	s.broadcastLocked()
	s.mu.Unlock()
}

func (s *semaphore) getLimit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limit
}

func (s *semaphore) broadcastLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}
