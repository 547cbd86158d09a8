package sluice

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/sluicetest"
)

// BenchmarkWorkerSQS measures messages/s through producer → broker → worker with a no-op
// handler: the SDK's SQS producer publishes b.N messages (SendMessageBatch, linger) while a
// worker receives (long poll, 10 at a time), runs the handler and deletes (DeleteMessageBatch).
func BenchmarkWorkerSQS(b *testing.B) {
	for _, c := range []struct{ conc, pollers int }{{4, 1}, {16, 1}, {16, 4}} {
		b.Run(fmt.Sprintf("concurrency=%d/pollers=%d", c.conc, c.pollers), func(b *testing.B) {
			br := sluicetest.NewBroker(b)
			url := br.CreateQueue("bench", map[string]string{"VisibilityTimeout": "60"})
			p, err := NewSQSProducer(SQSProducerConfig{QueueURL: url, Client: br.SQSClient(), Linger: time.Millisecond, Logger: wQuiet()})
			if err != nil {
				b.Fatal(err)
			}
			src, err := NewSQSSource(SQSSourceConfig{QueueURL: url, Client: br.SQSClient(), WaitTime: time.Second, Logger: wQuiet()})
			if err != nil {
				b.Fatal(err)
			}
			w, err := NewWorker(WorkerConfig{Source: src, Concurrency: c.conc, Pollers: c.pollers, Logger: wQuiet(),
				Handler: func(context.Context, *Message) error { return nil }})
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(`{"order":12345,"item":"widget","qty":3}`)
			b.ResetTimer()
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			go func() {
				for range b.N {
					if err := p.Publish(context.Background(), Message{Body: body}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			for w.Stats().Processed < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if err := p.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}
