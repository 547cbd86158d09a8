package sluice

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWorkerKafka measures messages/s from a Producer through the
// in-process broker to a Worker with a no-op handler (4 partitions, 8
// handler goroutines, 100-byte bodies). The clock runs from the first
// Publish to the last handler return.
func BenchmarkWorkerKafka(b *testing.B) {
	br := ksNewKafkaTestBroker(b)
	br.CreateTopic("bench", 4)
	src := ksNewTestKafkaSource(b, br, KafkaSourceConfig{Topics: []string{"bench"}, Group: "bench"})
	var handled atomic.Int64
	w, err := NewWorker(WorkerConfig{
		Source:      src,
		Concurrency: 8,
		Prefetch:    2000,
		Logger:      slog.New(slog.DiscardHandler),
		Handler: func(context.Context, *Message) error {
			handled.Add(1)
			return nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewKafkaProducer(KafkaProducerConfig{Brokers: []string{br.KafkaAddr()}, Topic: "bench", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx) }()
	body := make([]byte, 100)

	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := p.Publish(ctx, Message{Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for handled.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("handled %d of %d", handled.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")

	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := p.Close(cctx); err != nil {
		b.Error(err)
	}
	cancel()
	if err := <-runErr; err != nil {
		b.Error(err)
	}
}

// BenchmarkKafkaSource measures the source alone: Fetch and Ack of records
// already in the log (1 partition), committing every 50ms.
func BenchmarkKafkaSource(b *testing.B) {
	br := ksNewKafkaTestBroker(b)
	br.CreateTopic("bench", 1)
	ksProduceValues(b, br, "bench", b.N, 0)
	src := ksNewTestKafkaSource(b, br, KafkaSourceConfig{Topics: []string{"bench"}, Group: "bench"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	for got := 0; got < b.N; {
		ms, err := src.Fetch(ctx, 500)
		if err != nil {
			b.Fatal(err)
		}
		// Out of order within the batch, as parallel handlers would.
		for i := len(ms) - 1; i >= 0; i-- {
			if err := src.Ack(ctx, ms[i]); err != nil {
				b.Fatal(err)
			}
		}
		got += len(ms)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
