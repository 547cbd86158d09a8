package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice"
	"github.com/sluice-mq/sluice/sluicetest"
)

// ExampleNewKafkaSource runs a Worker on a Kafka topic through a consumer
// group. Offsets are committed only below the lowest unfinished record of
// each partition, so a crash never skips a message.
func ExampleNewKafkaSource() {
	b, stop, err := sluicetest.Start(sluicetest.WithSettings(map[string]string{"group.initial.rebalance.delay.ms": "0"}))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	b.CreateTopic("orders", 1)
	cl := b.KafkaClient()
	for _, order := range []string{"order-1", "order-2", "order-3"} {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Value: []byte(order)}).FirstErr(); err != nil {
			log.Fatal(err)
		}
	}

	src, err := sluice.NewKafkaSource(sluice.KafkaSourceConfig{
		Brokers: []string{b.KafkaAddr()},
		Topics:  []string{"orders"},
		Group:   "billing",
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var handled atomic.Int32
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source: src,
		Logger: slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			fmt.Printf("%s from %s\n", m.Body, m.ID)
			if handled.Add(1) == 3 {
				cancel() // stop the worker: it drains, commits and leaves the group
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// order-1 from orders/0/0
	// order-2 from orders/0/1
	// order-3 from orders/0/2
}

// ExampleKafkaSourceConfig_deadLetterTopic sends a message that keeps
// failing to a dead-letter topic, with diagnostics in a header.
func ExampleKafkaSourceConfig_deadLetterTopic() {
	b, stop, err := sluicetest.Start(sluicetest.WithSettings(map[string]string{"group.initial.rebalance.delay.ms": "0"}))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	b.CreateTopic("payments", 1)
	b.CreateTopic("payments-dlq", 1)
	cl := b.KafkaClient()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "payments", Key: []byte("acct-9"), Value: []byte(`{"amount":-5}`)}).FirstErr(); err != nil {
		log.Fatal(err)
	}

	src, err := sluice.NewKafkaSource(sluice.KafkaSourceConfig{
		Brokers:         []string{b.KafkaAddr()},
		Topics:          []string{"payments"},
		Group:           "ledger",
		DeadLetterTopic: "payments-dlq",
		Logger:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source:   src,
		Retry:    sluice.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond},
		WorkerID: "ledger-1",
		Logger:   slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			return errors.New("negative amount")
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	// Read the dead-letter topic with a plain consumer.
	dlq := b.KafkaClient(kgo.ConsumeTopics("payments-dlq"))
	var recs []*kgo.Record
	for len(recs) == 0 && ctx.Err() == nil {
		recs = dlq.PollFetches(ctx).Records()
	}
	cancel()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	if len(recs) == 0 {
		log.Fatal("nothing in the dead-letter topic")
	}
	rec := recs[0]
	m := &sluice.Message{Attributes: map[string]string{}}
	for _, h := range rec.Headers {
		m.Attributes[h.Key] = string(h.Value)
	}
	d, _ := sluice.DiagnosticsOf(m)
	fmt.Printf("%s %s\n", rec.Key, rec.Value)
	fmt.Printf("from %s[%d]@%d after %d attempts on %s: %s\n", d.Source, *d.Partition, *d.Offset, d.Attempts, d.WorkerID, d.LastError)
	// Output:
	// acct-9 {"amount":-5}
	// from payments[0]@0 after 3 attempts on ledger-1: negative amount
}
