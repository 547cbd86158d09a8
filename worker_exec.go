package sluice

// worker_exec.go: handing messages to handlers and settling the outcome — ack, retry (handed
// back to the source with a backoff, or in place), dead-letter with diagnostics, or hand back.

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// dispatchLoop hands buffered messages to handlers: a concurrency slot, then the breaker's
// permission, then a message (or batch), then rate-limit tokens. It ends when ctx ends.
func (w *Worker) dispatchLoop(ctx, hctx, ops context.Context) {
	noop := func(error) {}
	for {
		if !w.sem.acquire(ctx) {
			return
		}
		done := noop
		if w.brk != nil {
			d, ok := w.brk.allow(ctx)
			if !ok {
				w.sem.releaseOne()
				return
			}
			done = d
		}
		its := w.take(ctx)
		if len(its) > 0 && w.limiter != nil {
			if err := w.limiter.WaitN(ctx, len(its)); err != nil {
				w.q.requeue(its...) // shutting down: drained and handed back by Run
				its = nil
			}
		}
		if len(its) == 0 {
			w.sem.releaseOne()
			done(errInterrupted)
			return
		}
		w.mu.Lock()
		for _, it := range its {
			it.state = itemRunning
		}
		w.unstarted -= len(its)
		w.mu.Unlock()
		w.signalSpace()
		w.runs.Add(1)
		go w.execute(hctx, ops, its, done)
	}
}

// take returns one message, or for a BatchHandler up to BatchSize gathered for at most
// BatchWait after the first; nil when ctx ended first.
func (w *Worker) take(ctx context.Context) []*item {
	first := w.q.pop(ctx)
	if first == nil {
		return nil
	}
	if w.cfg.BatchHandler == nil {
		return []*item{first}
	}
	its := []*item{first}
	t := time.NewTimer(w.cfg.BatchWait)
	defer t.Stop()
	for len(its) < w.cfg.BatchSize {
		if it := w.q.tryPop(); it != nil {
			its = append(its, it)
			continue
		}
		select {
		case <-ctx.Done():
			w.q.requeue(its...)
			return nil
		case <-t.C:
			return its
		case <-w.q.wake:
		}
	}
	return its
}

// execute runs the handler on its and settles each message. It owns one semaphore slot.
func (w *Worker) execute(hctx, ops context.Context, its []*item, brkDone func(error)) {
	defer w.runs.Done()
	start := time.Now()
	for _, it := range its {
		if it.m.FirstAttempt.IsZero() {
			it.m.FirstAttempt = start
		}
		if it.m.Attempt < 1 {
			it.m.Attempt = 1
		}
	}
	ctx, cancel := hctx, context.CancelFunc(func() {})
	if w.cfg.HandlerTimeout > 0 {
		ctx, cancel = context.WithTimeout(hctx, w.cfg.HandlerTimeout)
	}
	errs := make([]error, len(its))
	if w.cfg.BatchHandler != nil {
		ms := make([]*Message, len(its))
		for i, it := range its {
			ms[i] = it.m
		}
		err := w.callBatch(ctx, ms)
		var be *BatchError
		if errors.As(err, &be) {
			for i, e := range be.Failed {
				if i >= 0 && i < len(errs) && e != nil {
					errs[i] = e
				}
			}
		} else if err != nil {
			for i := range errs {
				errs[i] = err
			}
		}
	} else {
		errs[0] = w.call(ctx, its[0].m)
	}
	cancel()
	w.met.latency.Observe(time.Since(start).Seconds())

	interrupted := hctx.Err() != nil
	failedAll := true
	for i := range errs {
		if errs[i] == nil {
			failedAll = false
		} else if interrupted {
			errs[i] = fmt.Errorf("%w: %w", errInterrupted, errs[i])
		}
	}
	var outcome error
	if failedAll {
		outcome = errs[0]
	}
	// Report to the breaker before freeing the slot, so that the next dispatch sees a breaker
	// that already counted this outcome.
	brkDone(outcome)
	w.sem.releaseOne()

	var acks []*Message
	for i, it := range its {
		if errs[i] == nil {
			w.forget(it)
			acks = append(acks, it.m)
			continue
		}
		if interrupted {
			w.giveBack(ops, it) // not finished: someone else will run it
			continue
		}
		w.failure(ops, it, errs[i])
	}
	if len(acks) > 0 {
		if err := w.src.Ack(ops, acks...); err != nil {
			// Not lost: the message comes back (SQS lease ends / Kafka offset uncommitted).
			w.log.Warn("sluice: ack failed; the message will be delivered again", "err", err, "messages", len(acks))
			return
		}
		w.processed.Add(int64(len(acks)))
		w.met.processed.Add(float64(len(acks)))
	}
}

func (w *Worker) call(ctx context.Context, m *Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sluice: handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return w.cfg.Handler(ctx, m)
}

func (w *Worker) callBatch(ctx context.Context, ms []*Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sluice: batch handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return w.cfg.BatchHandler(ctx, ms)
}

// failure settles a failed attempt: retry with backoff below MaxAttempts, else dead-letter.
func (w *Worker) failure(ops context.Context, it *item, herr error) {
	w.failed.Add(1)
	w.met.failed.Inc()
	m := it.m
	if m.Attempt >= w.cfg.Retry.MaxAttempts {
		d := Diagnostics{
			Source:        m.Source,
			Attempts:      m.Attempt,
			LastError:     truncate(herr.Error(), maxErrorText),
			FirstAttempt:  m.FirstAttempt,
			LastAttempt:   time.Now(),
			WorkerID:      w.cfg.WorkerID,
			WorkerVersion: w.cfg.Version,
		}
		if w.src.InPlaceRetry() { // log sources: say where the record was
			p, o := m.Partition, m.Offset
			d.Partition, d.Offset = &p, &o
		}
		err := w.src.DeadLetter(ops, m, d)
		if err == nil {
			w.forget(it)
			w.deadLettered.Add(1)
			w.met.deadLettered.Inc()
			w.log.Warn("sluice: message dead-lettered", "id", m.ID, "source", m.Source, "attempts", m.Attempt, "err", herr)
			return
		}
		// Never drop it: retry later; with no DLQ at all, the source's own policy (an SQS
		// RedrivePolicy) may still move it.
		w.log.Error("sluice: dead-lettering failed; retrying the message later", "id", m.ID, "err", err, "handler_err", herr)
		w.retryLater(ops, it, w.cfg.Retry.MaxBackoff)
		return
	}
	w.log.Debug("sluice: handler failed; retrying", "id", m.ID, "attempt", m.Attempt, "err", herr)
	w.retryLater(ops, it, w.cfg.Retry.Backoff(m.Attempt))
}

// retryLater schedules another attempt after delay: in place for sources that cannot redeliver,
// otherwise by handing the message back to the source.
func (w *Worker) retryLater(ops context.Context, it *item, delay time.Duration) {
	w.retried.Add(1)
	w.met.retried.Inc()
	if !w.src.InPlaceRetry() {
		w.forget(it)
		if err := w.src.Retry(ops, it.m, delay); err != nil {
			w.log.Warn("sluice: retry hand-back failed; the message returns when its lease ends", "id", it.m.ID, "err", err)
		}
		return
	}
	w.mu.Lock()
	if w.draining {
		w.mu.Unlock()
		w.giveBack(ops, it)
		return
	}
	it.state = itemBackoff
	w.unstarted++
	it.timer = time.AfterFunc(delay, func() {
		w.mu.Lock()
		if w.draining || it.state != itemBackoff { // Run took it for the hand-back
			w.mu.Unlock()
			return
		}
		it.state = itemBuffered
		it.m.Attempt++
		w.mu.Unlock()
		w.q.requeue(it) // it still owns its ordering key
	})
	w.mu.Unlock()
}

// forget drops a settled item from the held set and frees its ordering key.
func (w *Worker) forget(it *item) {
	w.mu.Lock()
	if _, ok := w.held[it]; !ok {
		w.mu.Unlock()
		return
	}
	delete(w.held, it)
	if it.state != itemRunning {
		w.unstarted--
	}
	w.met.inFlight.Set(float64(len(w.held)))
	w.mu.Unlock()
	w.signalSpace()
	w.q.release(it.key)
}

// giveBack forgets items that will not be finished here and returns them to the source at once
// where it can (SQS: visibility 0). Other sources get them back by never seeing an ack.
func (w *Worker) giveBack(ops context.Context, its ...*item) {
	if len(its) == 0 {
		return
	}
	ms := make([]*Message, len(its))
	for i, it := range its {
		w.forget(it)
		ms[i] = it.m
	}
	if r, ok := w.src.(releaser); ok {
		if err := r.Release(ops, ms...); err != nil {
			w.log.Warn("sluice: hand-back failed; the messages return when their leases end", "err", err, "messages", len(ms))
		}
	}
}

// extendLoop keeps the leases of held messages (running, buffered, or waiting behind their key)
// from running out: each is extended every w.extend by the lease length.
func (w *Worker) extendLoop(ctx context.Context) {
	tick := min(max(w.extend/4, 10*time.Millisecond), time.Second)
	by := w.lease
	t := time.NewTicker(tick)
	defer t.Stop()
	var due []*item
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		due = due[:0]
		w.mu.Lock()
		for it := range w.held {
			if it.state != itemBackoff && !it.leaseUntil.IsZero() && now.After(it.leaseUntil.Add(-by+w.extend)) {
				due = append(due, it)
			}
		}
		w.mu.Unlock()
		for _, it := range due {
			if err := w.src.Extend(ctx, it.m, by); err != nil {
				if ctx.Err() != nil {
					return
				}
				w.log.Warn("sluice: lease extension failed", "id", it.m.ID, "err", err)
				continue
			}
			w.mu.Lock()
			it.leaseUntil = now.Add(by)
			w.mu.Unlock()
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so that the text stays valid UTF-8 (SQS requires it).
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}
