package sluice

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The breaker over a Kafka source: while open the source is paused and nothing is fetched;
// after it closes every record is processed (failed ones retried in place, nothing skipped).
func TestWorkerKafkaBreakerStopsFetching(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("orders", 1)
	ksProduceValues(t, b, "orders", 30, 0)
	src := &countingSource{Source: ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"orders"}, Group: "g"})}
	var down atomic.Bool
	down.Store(true)
	opened := make(chan struct{}, 1)
	ok := newTally()
	w, err := NewWorker(WorkerConfig{
		Source: src, Concurrency: 1, Prefetch: 5, Logger: wQuiet(),
		Retry: RetryPolicy{MaxAttempts: 20, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
		Breaker: &BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: time.Second, OnStateChange: func(_, to string) {
			if to == "open" {
				select {
				case opened <- struct{}{}:
				default:
				}
			}
		}},
		Handler: func(ctx context.Context, m *Message) error {
			if down.Load() {
				return errors.New("dependency down")
			}
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
	fetched := src.fetched.Load()
	time.Sleep(700 * time.Millisecond)
	if got := src.fetched.Load(); got != fetched {
		t.Fatalf("fetched %d more records while the breaker was open", got-fetched)
	}
	if s := w.Stats(); s.Failed != 3 {
		t.Fatalf("%d failed attempts: the open breaker let handlers run", s.Failed)
	}
	down.Store(false)
	wWaitFor(t, 10*time.Second, "all processed", func() bool { return ok.distinct() == 30 })
	if s := w.Stats(); s.DeadLettered != 0 || s.Processed != 30 {
		t.Fatalf("stats %+v", s)
	}
}

// The autoscaler follows a Kafka group's lag up and back down.
func TestWorkerKafkaAutoscaleOnLag(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("events", 4)
	ksProduceValues(t, b, "events", 400, 16)
	src := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"events"}, Group: "g"})
	var mu sync.Mutex
	var ups, downs int
	w, err := NewWorker(WorkerConfig{
		Source: src, Logger: wQuiet(),
		Autoscale: &AutoscaleConfig{Min: 1, Max: 8, Interval: 100 * time.Millisecond, Cooldown: 200 * time.Millisecond,
			ScaleUpDepth: 50, ScaleDownDepth: 0,
			OnDecision: func(d ScaleDecision) {
				mu.Lock()
				defer mu.Unlock()
				if d.To > d.From {
					ups++
				} else {
					downs++
				}
			}},
		Handler: func(ctx context.Context, m *Message) error { time.Sleep(10 * time.Millisecond); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, w)
	wWaitFor(t, 10*time.Second, "grown to 8", func() bool { return w.Stats().Concurrency == 8 })
	wWaitFor(t, 20*time.Second, "all processed", func() bool { return w.Stats().Processed == 400 })
	wWaitFor(t, 10*time.Second, "shrunk to 1", func() bool { return w.Stats().Concurrency == 1 })
	mu.Lock()
	defer mu.Unlock()
	if ups != 3 || downs != 3 {
		t.Fatalf("%d ups, %d downs", ups, downs)
	}
}
