package sluice_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-mq/sluice"
	"github.com/sluice-mq/sluice/sluicetest"
)

// The producer benchmarks publish 1 KiB messages fire-and-forget to an
// in-process broker and Flush; msgs/s is the figure to compare.
func benchProducer(b *testing.B, p *sluice.Producer) {
	ctx := context.Background()
	body := make([]byte, 1024)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := p.Publish(ctx, sluice.Message{Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if s := p.Stats(); s.Failed != 0 {
		b.Fatalf("%d failed", s.Failed)
	}
}

func BenchmarkProducerKafka(b *testing.B) {
	br := sluicetest.NewBroker(b)
	br.CreateTopic("bench", 1)
	p, err := sluice.NewKafkaProducer(sluice.KafkaProducerConfig{Brokers: []string{br.KafkaAddr()}, Topic: "bench", Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	benchProducer(b, p)
}

func BenchmarkProducerSQS(b *testing.B) {
	br := sluicetest.NewBroker(b)
	url := br.CreateQueue("bench", nil)
	p, err := sluice.NewSQSProducer(sluice.SQSProducerConfig{QueueURL: url, Client: br.SQSClient(), Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	benchProducer(b, p)
}
