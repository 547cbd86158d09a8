package sluice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// memSource is an in-memory log-like Source for testing the worker's own logic (ordering,
// in-place retries) independently of a broker: like Kafka it cannot redeliver, so it reports
// InPlaceRetry.
type memSource struct {
	mu      sync.Mutex
	pending []*Message
	acked   []*Message
	dead    map[string]Diagnostics
	noDLQ   bool
	wake    chan struct{}
	paused  atomic.Bool
	closed  atomic.Bool
	fetches atomic.Int64
}

func newMemSource(ms ...*Message) *memSource {
	return &memSource{pending: ms, dead: map[string]Diagnostics{}, wake: make(chan struct{}, 1)}
}

func (s *memSource) Fetch(ctx context.Context, max int) ([]*Message, error) {
	for {
		if s.closed.Load() {
			return nil, ErrClosed
		}
		s.mu.Lock()
		if n := min(max, len(s.pending)); n > 0 && !s.paused.Load() {
			out := s.pending[:n]
			s.pending = s.pending[n:]
			s.mu.Unlock()
			s.fetches.Add(1)
			return out, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.wake:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *memSource) Ack(_ context.Context, ms ...*Message) error {
	s.mu.Lock()
	s.acked = append(s.acked, ms...)
	s.mu.Unlock()
	return nil
}

func (s *memSource) Retry(context.Context, *Message, time.Duration) error {
	return errors.New("memSource: retry in place")
}
func (s *memSource) InPlaceRetry() bool { return true }
func (s *memSource) DeadLetter(_ context.Context, m *Message, d Diagnostics) error {
	if s.noDLQ {
		return ErrNoDeadLetter
	}
	s.mu.Lock()
	s.dead[m.ID] = d
	s.mu.Unlock()
	return nil
}
func (s *memSource) Extend(context.Context, *Message, time.Duration) error { return nil }
func (s *memSource) Backlog(context.Context) (Backlog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Backlog{Depth: int64(len(s.pending))}, nil
}
func (s *memSource) Pause()                      { s.paused.Store(true) }
func (s *memSource) Resume()                     { s.paused.Store(false) }
func (s *memSource) Close(context.Context) error { return nil }

func (s *memSource) ackedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.acked))
	for i, m := range s.acked {
		out[i] = m.ID
	}
	return out
}

// With OrderByKey, messages of one key never overlap and run in fetch order, also across
// in-place retries; different keys run in parallel.
func TestWorkerOrderByKeyWithInPlaceRetries(t *testing.T) {
	wLeakCheck(t)
	const keys, perKey = 4, 15
	var ms []*Message
	for i := range perKey {
		for k := range keys {
			ms = append(ms, &Message{ID: fmt.Sprintf("k%d-%02d", k, i), Key: []byte(fmt.Sprintf("k%d", k)), Source: "t", Partition: 0, Offset: int64(len(ms))})
		}
	}
	src := newMemSource(ms...)
	var mu sync.Mutex
	busy := map[string]bool{}
	order := map[string][]string{}
	failedOnce := map[string]bool{}
	var overlap, parallel atomic.Int32
	var running atomic.Int32
	w, err := NewWorker(WorkerConfig{
		Source: src, Concurrency: 4, OrderByKey: true, Logger: wQuiet(),
		Retry: RetryPolicy{MaxAttempts: 3, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond},
		Handler: func(ctx context.Context, m *Message) error {
			k := string(m.Key)
			mu.Lock()
			if busy[k] {
				overlap.Add(1)
			}
			busy[k] = true
			mu.Unlock()
			if running.Add(1) > 1 {
				parallel.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
			running.Add(-1)
			mu.Lock()
			defer mu.Unlock()
			busy[k] = false
			if m.Offset%7 == 3 && !failedOnce[m.ID] { // some fail once, retried in place
				failedOnce[m.ID] = true
				if m.Attempt != 1 {
					t.Errorf("%s: first attempt numbered %d", m.ID, m.Attempt)
				}
				return errors.New("transient")
			}
			if failedOnce[m.ID] && m.Attempt != 2 {
				t.Errorf("%s: retry numbered %d", m.ID, m.Attempt)
			}
			order[k] = append(order[k], m.ID)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := startWorker(t, w)
	wWaitFor(t, 10*time.Second, "all acked", func() bool { return len(src.ackedIDs()) == len(ms) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if overlap.Load() != 0 {
		t.Fatalf("%d overlapping runs of one key", overlap.Load())
	}
	if parallel.Load() == 0 {
		t.Fatal("different keys never ran in parallel")
	}
	for k := range keys {
		key := fmt.Sprintf("k%d", k)
		for i, id := range order[key] {
			if want := fmt.Sprintf("%s-%02d", key, i); id != want {
				t.Fatalf("key %s: position %d is %s, want %s (order %v)", key, i, id, want, order[key])
			}
		}
	}
	if s := w.Stats(); s.Retried == 0 || s.Processed != int64(len(ms)) {
		t.Fatalf("stats %+v", s)
	}
}

// In-place retries end in DeadLetter with diagnostics carrying partition and offset; without a
// dead-letter destination the message is retried on and never acked.
func TestWorkerInPlaceDeadLetter(t *testing.T) {
	wLeakCheck(t)
	src := newMemSource(&Message{ID: "t/2/41", Source: "t", Partition: 2, Offset: 41, Body: []byte("x")})
	var runs atomic.Int32
	w, err := NewWorker(WorkerConfig{
		Source: src, Logger: wQuiet(), WorkerID: "w1", Version: "9",
		Retry: RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond},
		Handler: func(ctx context.Context, m *Message) error {
			runs.Add(1)
			return fmt.Errorf("attempt %d failed", m.Attempt)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := startWorker(t, w)
	wWaitFor(t, 5*time.Second, "dead-lettered", func() bool { return w.Stats().DeadLettered == 1 })
	stop()
	d := src.dead["t/2/41"]
	if d.Attempts != 3 || d.LastError != "attempt 3 failed" || d.Partition == nil || *d.Partition != 2 ||
		d.Offset == nil || *d.Offset != 41 || d.WorkerID != "w1" || d.WorkerVersion != "9" || d.Source != "t" {
		t.Fatalf("diagnostics %+v", d)
	}
	if runs.Load() != 3 || len(src.ackedIDs()) != 0 {
		t.Fatalf("runs %d, acked %v", runs.Load(), src.ackedIDs())
	}

	src2 := newMemSource(&Message{ID: "t/0/1", Source: "t"})
	src2.noDLQ = true
	w2, err := NewWorker(WorkerConfig{Source: src2, Logger: wQuiet(),
		Retry:   RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		Handler: func(ctx context.Context, m *Message) error { return errors.New("no") }})
	if err != nil {
		t.Fatal(err)
	}
	stop2 := startWorker(t, w2)
	wWaitFor(t, 5*time.Second, "several attempts", func() bool { return w2.Stats().Failed >= 4 })
	stop2()
	if len(src2.ackedIDs()) != 0 || w2.Stats().DeadLettered != 0 {
		t.Fatal("a message that could not be dead-lettered was dropped")
	}
}

// A panicking handler is a failed attempt, not a crashed worker.
func TestWorkerHandlerPanic(t *testing.T) {
	wLeakCheck(t)
	src := newMemSource(&Message{ID: "a", Source: "t"})
	w, err := NewWorker(WorkerConfig{Source: src, Logger: wQuiet(), Retry: RetryPolicy{MaxAttempts: 1},
		Handler: func(ctx context.Context, m *Message) error { panic("boom") }})
	if err != nil {
		t.Fatal(err)
	}
	stop := startWorker(t, w)
	wWaitFor(t, 5*time.Second, "dead-lettered", func() bool { return w.Stats().DeadLettered == 1 })
	stop()
	if d := src.dead["a"]; d.LastError == "" || !strings.Contains(d.LastError, "panicked: boom") {
		t.Fatalf("diagnostics %+v", d)
	}
}

// The worker's Prometheus series count what happened; a second worker with the same Name on
// the same Registerer is refused; Run runs once.
func TestWorkerMetricsAndRunOnce(t *testing.T) {
	wLeakCheck(t)
	src := newMemSource(&Message{ID: "a", Source: "t"}, &Message{ID: "b", Source: "t"}, &Message{ID: "c", Source: "t"})
	reg := prometheus.NewRegistry()
	cfg := WorkerConfig{Source: src, Name: "billing", Registerer: reg, Logger: wQuiet(), Retry: RetryPolicy{MaxAttempts: 1},
		Handler: func(ctx context.Context, m *Message) error {
			if m.ID == "b" {
				return errors.New("no")
			}
			return nil
		}}
	w, err := NewWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewWorker(cfg); !errors.Is(err, ErrWorkerConfig) {
		t.Fatalf("same Name on the same Registerer: %v", err)
	}
	stop := startWorker(t, w)
	wWaitFor(t, 5*time.Second, "settled", func() bool { s := w.Stats(); return s.Processed+s.DeadLettered == 3 })
	if err := w.Run(context.Background()); err == nil {
		t.Fatal("second Run: no error")
	}
	stop()
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			named := false
			for _, l := range m.GetLabel() {
				named = named || (l.GetName() == "worker" && l.GetValue() == "billing")
			}
			if !named {
				t.Fatalf("%s: labels %v", mf.GetName(), m.GetLabel())
			}
			switch {
			case m.Counter != nil:
				got[mf.GetName()] += m.Counter.GetValue()
			case m.Gauge != nil:
				got[mf.GetName()] = m.Gauge.GetValue()
			case m.Histogram != nil:
				got[mf.GetName()] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"sluice_worker_messages_processed_total":     2,
		"sluice_worker_handler_failures_total":       1,
		"sluice_worker_messages_dead_lettered_total": 1,
		"sluice_worker_messages_retried_total":       0,
		"sluice_worker_handler_duration_seconds":     3,
		"sluice_worker_concurrency":                  1,
		"sluice_worker_in_flight":                    0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["sluice_worker_backlog_depth"]; !ok {
		t.Error("no backlog_depth series")
	}
}

// A source that reports ErrClosed ends Run with that error (after the usual drain).
func TestWorkerRunEndsWhenSourceCloses(t *testing.T) {
	wLeakCheck(t)
	src := newMemSource()
	w, err := NewWorker(WorkerConfig{Source: src, Logger: wQuiet(), Handler: func(context.Context, *Message) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- w.Run(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	src.closed.Store(true)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Run returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end")
	}
}
