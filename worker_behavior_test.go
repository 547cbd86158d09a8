package sluice

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// A BatchHandler gets at most BatchSize messages, and a partial batch after BatchWait.
func TestWorkerSQSBatchSizeAndWait(t *testing.T) {
	e := newWEnvParallel(t, 30)
	e.send(t, e.url, 10)
	type call struct {
		n  int
		at time.Time
	}
	var mu sync.Mutex
	var calls []call
	var fail atomic.Bool
	fail.Store(true)
	w, err := NewWorker(WorkerConfig{
		Source: e.source(t, nil), Concurrency: 1, BatchSize: 4, BatchWait: 300 * time.Millisecond, Logger: wQuiet(),
		Retry: RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Second},
		BatchHandler: func(ctx context.Context, ms []*Message) error {
			mu.Lock()
			calls = append(calls, call{len(ms), time.Now()})
			mu.Unlock()
			if len(ms) > 1 && fail.CompareAndSwap(true, false) {
				return &BatchError{Failed: map[int]error{1: errors.New("second one is bad")}}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, w)
	wWaitFor(t, 10*time.Second, "10 processed", func() bool { return w.Stats().Processed == 10 })
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, c := range calls {
		if c.n < 1 || c.n > 4 {
			t.Fatalf("batch of %d", c.n)
		}
		total += c.n
	}
	if total != 11 { // 10 + the one retried message
		t.Fatalf("handled %d messages in %v", total, calls)
	}
	if calls[0].n != 4 || calls[1].n != 4 {
		t.Fatalf("first batches %d, %d: want full batches of 4", calls[0].n, calls[1].n)
	}
	// The third (2 left) waits BatchWait for more.
	if d := calls[2].at.Sub(calls[1].at); calls[2].n != 2 || d < 250*time.Millisecond {
		t.Fatalf("third batch of %d after %v: want 2 after ~300ms", calls[2].n, d)
	}
	if s := w.Stats(); s.Failed != 1 || s.Retried != 1 {
		t.Fatalf("stats %+v: want 1 failed and retried", s)
	}
}

// HandlerTimeout puts a deadline on the handler's context; a message that times out on its
// last attempt is dead-lettered with the deadline error.
func TestWorkerSQSHandlerTimeout(t *testing.T) {
	e := newWEnv(t, 30)
	e.send(t, e.url, 1)
	var took atomic.Int64
	w, err := NewWorker(WorkerConfig{
		Source: e.source(t, nil), HandlerTimeout: 150 * time.Millisecond, Logger: wQuiet(),
		Retry: RetryPolicy{MaxAttempts: 1},
		Handler: func(ctx context.Context, m *Message) error {
			start := time.Now()
			<-ctx.Done()
			took.Store(int64(time.Since(start)))
			return ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, w)
	wWaitFor(t, 10*time.Second, "dead-lettered", func() bool { return w.Stats().DeadLettered == 1 })
	if d := time.Duration(took.Load()); d < 140*time.Millisecond || d > time.Second {
		t.Fatalf("handler ran %v, want ~150ms", d)
	}
	dl := e.drain(t, e.dlq)
	if len(dl) != 1 {
		t.Fatalf("DLQ has %d", len(dl))
	}
	d, _ := DiagnosticsOf(&Message{Attributes: attrStrings(dl[0].MessageAttributes)})
	if !strings.Contains(d.LastError, "deadline exceeded") || d.Attempts != 1 {
		t.Fatalf("diagnostics %+v", d)
	}
}

// A handler running longer than the visibility timeout keeps its message: the worker extends
// the lease, so nobody else receives it meanwhile and it is handled once.
func TestWorkerSQSExtendKeepsLongHandlersMessage(t *testing.T) {
	e := newWEnv(t, 1)
	e.send(t, e.url, 1)
	var runs atomic.Int32
	w, err := NewWorker(WorkerConfig{
		Source: e.source(t, nil), Logger: wQuiet(),
		Handler: func(ctx context.Context, m *Message) error {
			runs.Add(1)
			select {
			case <-time.After(2500 * time.Millisecond): // 2.5× the visibility timeout
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, w)
	wWaitFor(t, 5*time.Second, "handler started", func() bool { return runs.Load() == 1 })
	for range 4 { // another consumer polls meanwhile and must see nothing
		out, err := e.cl.ReceiveMessage(wCtx(t, 5*time.Second), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.url), WaitTimeSeconds: 0})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			t.Fatal("another consumer received the message while its handler ran")
		}
		time.Sleep(500 * time.Millisecond)
	}
	wWaitFor(t, 5*time.Second, "processed", func() bool { return w.Stats().Processed == 1 })
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times", runs.Load())
	}
	if v, f := e.counts(t, e.url); v+f != 0 {
		t.Fatalf("queue has %d+%d", v, f)
	}
}

// A worker stopped mid-batch loses nothing: what finished is deleted, what did not (interrupted
// at the shutdown deadline, or never started) is handed back at once — the visibility timeout
// is 60s, so a second worker can only finish in time if the hand-back worked.
func TestWorkerSQSStopMidBatchLosesNothing(t *testing.T) {
	e := newWEnvParallel(t, 60)
	ids := e.send(t, e.url, 100)
	ok := newTally()
	var interrupted atomic.Int32
	started := make(chan struct{}, 100)
	handler := func(ctx context.Context, ms []*Message) error {
		started <- struct{}{}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			interrupted.Add(1)
			return ctx.Err()
		}
		for _, m := range ms {
			ok.success(m.ID)
		}
		return nil
	}
	w1, err := NewWorker(WorkerConfig{Source: e.source(t, nil), Concurrency: 3, BatchSize: 5, BatchWait: 50 * time.Millisecond,
		ShutdownTimeout: 50 * time.Millisecond, BatchHandler: handler, Logger: wQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	stop := startWorker(t, w1)
	wWaitFor(t, 10*time.Second, "some processed", func() bool { return w1.Stats().Processed >= 20 })
	// Stop just after a batch started: the 50ms deadline lands inside its 300ms.
	for len(started) > 0 {
		<-started
	}
	<-started
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	first := w1.Stats()
	if first.InFlight != 0 {
		t.Fatalf("stopped worker still holds %d", first.InFlight)
	}
	if first.Processed == int64(len(ids)) || interrupted.Load() == 0 {
		t.Fatalf("first worker processed %d, %d batches interrupted: the test stopped nothing mid-batch", first.Processed, interrupted.Load())
	}
	w2, err := NewWorker(WorkerConfig{Source: e.source(t, nil), Concurrency: 4, BatchSize: 5, BatchWait: 50 * time.Millisecond,
		BatchHandler: handler, Logger: wQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, w2)
	wWaitFor(t, 15*time.Second, "every message processed", func() bool { return ok.distinct() == len(ids) })
	wWaitFor(t, 5*time.Second, "queue empty", func() bool { v, f := e.counts(t, e.url); return v+f == 0 })
	t.Logf("first worker processed %d, second %d", first.Processed, w2.Stats().Processed)
}

// The autoscaler grows the pool under a backlog and shrinks it once the backlog is gone, and
// reports each decision.
func TestWorkerSQSAutoscale(t *testing.T) {
	e := newWEnvParallel(t, 30)
	e.send(t, e.url, 400)
	var mu sync.Mutex
	var decisions []ScaleDecision
	var running, peak atomic.Int32
	w, err := NewWorker(WorkerConfig{
		Source: e.source(t, nil), Logger: wQuiet(),
		Autoscale: &AutoscaleConfig{Min: 1, Max: 8, Interval: 100 * time.Millisecond, Cooldown: 200 * time.Millisecond,
			ScaleUpDepth: 20, ScaleDownDepth: 0,
			OnDecision: func(d ScaleDecision) { mu.Lock(); decisions = append(decisions, d); mu.Unlock() }},
		Handler: func(ctx context.Context, m *Message) error {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(10 * time.Millisecond)
			running.Add(-1)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := w.Stats().Concurrency; c != 1 {
		t.Fatalf("starts at %d, want Min 1", c)
	}
	startWorker(t, w)
	wWaitFor(t, 10*time.Second, "grown to 8", func() bool { return w.Stats().Concurrency == 8 })
	wWaitFor(t, 20*time.Second, "all processed", func() bool { return w.Stats().Processed == 400 })
	wWaitFor(t, 5*time.Second, "shrunk to 1", func() bool { return w.Stats().Concurrency == 1 })
	mu.Lock()
	defer mu.Unlock()
	var path []string
	for _, d := range decisions {
		path = append(path, fmt.Sprintf("%d→%d", d.From, d.To))
		if d.Reason == "" || d.Time.IsZero() {
			t.Fatalf("decision without reason/time: %+v", d)
		}
	}
	if got := strings.Join(path, " "); got != "1→2 2→4 4→8 8→4 4→2 2→1" {
		t.Fatalf("decisions %s", got)
	}
	if p := peak.Load(); p < 4 {
		t.Fatalf("at most %d handlers ran at once", p)
	}
	if s := w.Stats(); s.ScaleUps != 3 || s.ScaleDowns != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWorkerConfigErrors(t *testing.T) {
	src := &memSource{}
	h := func(context.Context, *Message) error { return nil }
	for _, c := range []struct {
		cfg  WorkerConfig
		want string
	}{
		{WorkerConfig{Handler: h}, "Source"},
		{WorkerConfig{Source: src}, "Handler"},
		{WorkerConfig{Source: src, Handler: h, BatchHandler: func(context.Context, []*Message) error { return nil }}, "not both"},
		{WorkerConfig{Source: src, Handler: h, Concurrency: -1}, "Concurrency"},
		{WorkerConfig{Source: src, Handler: h, RateLimit: -2}, "RateLimit"},
		{WorkerConfig{Source: src, Handler: h, Autoscale: &AutoscaleConfig{Min: 5, Max: 2}}, "Autoscale.Min"},
		{WorkerConfig{Source: src, Handler: h, Autoscale: &AutoscaleConfig{ScaleUpDepth: 5, ScaleDownDepth: 5}}, "ScaleDownDepth"},
		{WorkerConfig{Source: src, Handler: h, Breaker: &BreakerConfig{FailureRatio: 2}}, "FailureRatio"},
	} {
		_, err := NewWorker(c.cfg)
		if !errors.Is(err, ErrWorkerConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an ErrWorkerConfig naming %s", c.cfg, err, c.want)
		}
	}
}

func TestRetryBackoff(t *testing.T) {
	p := RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2, Jitter: -1}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := p.Backoff(i + 1); got != w*time.Millisecond {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	p.Jitter = 0.5
	var seen []time.Duration
	for range 50 {
		d := p.Backoff(2)
		if d < 100*time.Millisecond || d > 300*time.Millisecond {
			t.Fatalf("jittered %v outside 200ms ±50%%", d)
		}
		seen = append(seen, d)
	}
	sort.Slice(seen, func(i, j int) bool { return seen[i] < seen[j] })
	if seen[0] == seen[len(seen)-1] {
		t.Fatal("jitter produced no spread")
	}
}
