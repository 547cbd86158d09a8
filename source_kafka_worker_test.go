package sluice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A handler failing at random 30% of the time, through a Worker with
// in-place retries: every record ends up processed or in the DLQ topic with
// its diagnostics — none lost, and the group's commit reaches the end.
func TestKafkaSourceWorkerFailingHandlerLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 600
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("work", 4)
	b.CreateTopic("work-dlq", 1)
	ksProduceValues(t, b, "work", n, 40)

	src := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"work"}, Group: "workers", DeadLetterTopic: "work-dlq"})
	var (
		mu   sync.Mutex
		rng  = rand.New(rand.NewPCG(7, 30))
		done = make(map[string]int)
	)
	w, err := NewWorker(WorkerConfig{
		Source:      src,
		Concurrency: 8,
		OrderByKey:  true,
		Retry:       RetryPolicy{MaxAttempts: 3, InitialBackoff: 2 * time.Millisecond, MaxBackoff: 10 * time.Millisecond},
		Logger:      slog.New(slog.DiscardHandler),
		WorkerID:    "test-worker",
		Version:     "v0.0.0-test",
		Handler: func(ctx context.Context, m *Message) error {
			mu.Lock()
			defer mu.Unlock()
			if rng.Float64() < 0.3 {
				return fmt.Errorf("random failure of %s attempt %d", m.Body, m.Attempt)
			}
			done[string(m.Body)]++
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx) }()
	ksWaitFor(t, 50*time.Second, "every record settled", func() bool {
		st := w.Stats()
		return st.Processed+st.DeadLettered >= n
	})
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := w.Stats()
	if st.DeadLettered == 0 || st.Failed == 0 {
		t.Fatalf("stats %+v: a 30%% failure rate should fail and dead-letter some", st)
	}
	dlq := ksReadTopic(t, b, "work-dlq", int(st.DeadLettered))
	inDLQ := make(map[string]bool)
	for _, r := range dlq {
		m := &Message{Attributes: map[string]string{}}
		for _, h := range r.Headers {
			m.Attributes[h.Key] = string(h.Value)
		}
		d, ok := DiagnosticsOf(m)
		if !ok || d.Attempts != 3 || !strings.Contains(d.LastError, "random failure of "+string(r.Value)) ||
			d.Source != "work" || d.Partition == nil || d.Offset == nil || d.WorkerID != "test-worker" || d.FirstAttempt.IsZero() {
			t.Fatalf("dlq record %s: diagnostics %+v (ok %v)", r.Value, d, ok)
		}
		inDLQ[string(r.Value)] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		v := fmt.Sprintf("v%d", i)
		if done[v] == 0 && !inDLQ[v] {
			t.Fatalf("%s neither processed nor dead-lettered", v)
		}
	}
	var committed int64
	for p := int32(0); p < 4; p++ {
		committed += ksCommittedOffset(t, b, "workers", "work", p)
	}
	if committed != n {
		t.Fatalf("committed offsets sum to %d after the worker stopped, want %d", committed, n)
	}
	t.Logf("processed %d, dead-lettered %d, failed attempts %d", st.Processed, st.DeadLettered, st.Failed)
}

// A worker stopped while records are in flight commits only what finished;
// a second worker of the group processes the rest.
func TestKafkaSourceWorkerStopResume(t *testing.T) {
	t.Parallel()
	const n = 300
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("stop", 2)
	ksProduceValues(t, b, "stop", n, 0)
	var (
		mu   sync.Mutex
		seen = make(map[string]bool)
		cnt  atomic.Int64
	)
	handler := func(ctx context.Context, m *Message) error {
		select { // slow enough to be caught mid-stream
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		seen[string(m.Body)] = true
		mu.Unlock()
		cnt.Add(1)
		return nil
	}
	runWorker := func(ctx context.Context) (*Worker, chan error) {
		src := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"stop"}, Group: "g"})
		w, err := NewWorker(WorkerConfig{Source: src, Handler: handler, Concurrency: 4, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan error, 1)
		go func() { ch <- w.Run(ctx) }()
		return w, ch
	}
	ctx1, stop1 := context.WithCancel(context.Background())
	_, done1 := runWorker(ctx1)
	ksWaitFor(t, 20*time.Second, "a third processed", func() bool { return cnt.Load() >= n/3 })
	stop1()
	if err := <-done1; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("first worker: %v", err)
	}
	ctx2, stop2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop2()
	_, done2 := runWorker(ctx2)
	ksWaitFor(t, 25*time.Second, "every record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	stop2()
	<-done2
}
