package sluice

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// A handler failing 30% of the time with MaxAttempts 3: every message ends up processed or in
// the DLQ with its diagnostics; none is lost.
func TestWorkerSQSRandomFailuresLoseNothing(t *testing.T) {
	e := newWEnvParallel(t, 5)
	ids := e.send(t, e.url, 200)
	ok := newTally()
	var failMu sync.Mutex
	failures := map[string]int{}
	w, err := NewWorker(WorkerConfig{
		Source: e.source(t, nil), Concurrency: 8, Logger: wQuiet(), WorkerID: "test-worker", Version: "v1.2.3",
		Retry: RetryPolicy{MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond},
		Handler: func(ctx context.Context, m *Message) error {
			ok.runs.Add(1)
			if rand.Float64() < 0.3 {
				failMu.Lock()
				failures[m.ID]++
				failMu.Unlock()
				return errors.New("flaky dependency said no")
			}
			ok.success(m.ID)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := startWorker(t, w)
	wWaitFor(t, 20*time.Second, "every message settled", func() bool {
		s := w.Stats()
		return s.Processed+s.DeadLettered == int64(len(ids))
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dead := map[string]bool{}
	for _, m := range e.drain(t, e.dlq) {
		body := aws.ToString(m.Body)
		d, okd := DiagnosticsOf(&Message{Attributes: attrStrings(m.MessageAttributes)})
		if !okd {
			t.Fatalf("DLQ message %s has no diagnostics", body)
		}
		if d.Attempts != 3 || d.LastError != "flaky dependency said no" || d.Source != "jobs" ||
			d.WorkerID != "test-worker" || d.WorkerVersion != "v1.2.3" || d.FirstAttempt.IsZero() || d.LastAttempt.Before(d.FirstAttempt) {
			t.Fatalf("bad diagnostics %+v", d)
		}
		if m.MessageAttributes["n"].StringValue == nil || "m-"+aws.ToString(m.MessageAttributes["n"].StringValue) != body {
			t.Fatalf("DLQ message %s lost its attribute: %v", body, m.MessageAttributes)
		}
		dead[body] = true
	}
	st := w.Stats()
	if int64(len(dead)) != st.DeadLettered {
		t.Fatalf("DLQ holds %d, worker dead-lettered %d", len(dead), st.DeadLettered)
	}
	processed := ok.distinct()
	if processed+len(dead) != len(ids) {
		t.Fatalf("processed %d + dead %d != %d sent", processed, len(dead), len(ids))
	}
	for _, id := range ids {
		if ok.count(id) == 0 {
			failMu.Lock()
			f := failures[id]
			failMu.Unlock()
			if f != 3 {
				t.Fatalf("message %s neither processed nor failed 3 times (%d)", id, f)
			}
		}
	}
	if v, f := e.counts(t, e.url); v+f != 0 {
		t.Fatalf("queue not empty: %d visible, %d in flight", v, f)
	}
	if st.Failed == 0 || st.Retried == 0 {
		t.Fatalf("no failures seen: %+v", st)
	}
	t.Logf("runs %d, processed %d, dead-lettered %d, failed %d, retried %d", ok.runs.Load(), processed, len(dead), st.Failed, st.Retried)
}

// While the breaker is open nothing is received: the queue's visible count and the fetched
// count stay flat; after it closes everything is processed, most of it on its first attempt.
func TestWorkerSQSBreakerStopsFetching(t *testing.T) {
	e := newWEnvParallel(t, 5)
	ids := e.send(t, e.url, 40)
	var healthy sync.Mutex // held = dependency down
	down := true
	var states []string
	var stMu sync.Mutex
	opened := make(chan struct{}, 1)
	src := &countingSource{Source: e.source(t, nil)}
	ok := newTally()
	var attempts sync.Map
	w, err := NewWorker(WorkerConfig{
		Source: src, Concurrency: 1, Prefetch: 5, Logger: wQuiet(),
		Retry: RetryPolicy{MaxAttempts: 10, InitialBackoff: time.Second},
		Breaker: &BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: 1500 * time.Millisecond,
			OnStateChange: func(from, to string) {
				stMu.Lock()
				states = append(states, to)
				stMu.Unlock()
				if to == "open" {
					select {
					case opened <- struct{}{}:
					default:
					}
				}
			}},
		Handler: func(ctx context.Context, m *Message) error {
			healthy.Lock()
			d := down
			healthy.Unlock()
			if d {
				return errors.New("dependency down")
			}
			attempts.Store(m.ID, m.Attempt)
			ok.success(m.ID)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, w)
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("breaker never opened")
	}
	time.Sleep(400 * time.Millisecond) // a receive answered just after Pause may land (abandonGrace)
	fetched := src.fetched.Load()
	vis, inflight := e.counts(t, e.url)
	time.Sleep(900 * time.Millisecond) // still open (1.5s)
	if got := src.fetched.Load(); got != fetched {
		t.Fatalf("fetched %d more messages while the breaker was open", got-fetched)
	}
	// A receive would move messages from visible to in flight. (Failed messages handed back
	// with a backoff move the other way when it ends.)
	if v, f := e.counts(t, e.url); v < vis || f > inflight {
		t.Fatalf("visible %d -> %d, in flight %d -> %d while the breaker was open", vis, v, inflight, f)
	}
	if s := w.Stats(); s.Breaker != "open" {
		t.Fatalf("breaker %q, want open", s.Breaker)
	}
	healthy.Lock()
	down = false
	healthy.Unlock()
	wWaitFor(t, 15*time.Second, "all processed after recovery", func() bool { return ok.distinct() == len(ids) })
	stMu.Lock()
	got := strings.Join(states, ",")
	stMu.Unlock()
	if !strings.HasPrefix(got, "open,half-open,closed") {
		t.Fatalf("breaker went %s", got)
	}
	first := 0
	attempts.Range(func(_, v any) bool {
		if v.(int) == 1 {
			first++
		}
		return true
	})
	// Only the 3 messages that tripped the breaker (and at most the half-open probe) may have
	// used more than one attempt: the rest waited in the queue.
	if first < len(ids)-4 {
		t.Fatalf("only %d of %d messages processed on their first attempt", first, len(ids))
	}
	if s := w.Stats(); s.DeadLettered != 0 {
		t.Fatalf("dead-lettered %d", s.DeadLettered)
	}
}

// RateLimit 50/s holds within 10% over 2 s.
func TestWorkerSQSRateLimit(t *testing.T) {
	e := newWEnvParallel(t, 30)
	e.send(t, e.url, 150)
	var mu sync.Mutex
	var starts []time.Time
	w, err := NewWorker(WorkerConfig{
		Source: e.source(t, nil), Concurrency: 8, RateLimit: 50, Burst: 1, Logger: wQuiet(),
		Handler: func(ctx context.Context, m *Message) error {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := startWorker(t, w)
	wWaitFor(t, 10*time.Second, "first message", func() bool { mu.Lock(); defer mu.Unlock(); return len(starts) > 0 })
	mu.Lock()
	t0 := starts[0]
	mu.Unlock()
	time.Sleep(time.Until(t0.Add(2*time.Second + 50*time.Millisecond)))
	stop()
	n := 0
	for _, s := range starts {
		if s.Sub(t0) < 2*time.Second {
			n++
		}
	}
	rate := float64(n) / 2
	if rate < 45 || rate > 55 {
		t.Fatalf("%d starts in 2s = %.1f/s, want 50/s ±10%%", n, rate)
	}
	t.Logf("%.1f msg/s", rate)
}
