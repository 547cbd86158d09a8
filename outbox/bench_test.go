package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/outbox"
)

// BenchmarkRelayKafka measures relay throughput: rows enqueued beforehand
// (not timed), then claimed, published to a Kafka topic on an in-process
// broker (acks=all, fsync per produce) and marked sent. Reports rows/s.
func BenchmarkRelayKafka(b *testing.B) {
	for _, store := range []string{"postgres", "sqlite"} {
		for _, batch := range []int{100, 500} {
			b.Run(fmt.Sprintf("%s/batch=%d", store, batch), func(b *testing.B) {
				var k *kit
				if store == "postgres" {
					k = pgKit(b)
				} else {
					k = sqliteKit(b)
				}
				br := startBroker(b)
				createTopic(b, br, "bench", 3)
				pub := kafkaPublisher(b, br)
				body := make([]byte, 256)
				for i := 0; i < b.N; i += 1000 {
					n := min(1000, b.N-i)
					ms := make([]outbox.Message, n)
					for j := range ms {
						ms[j] = outbox.Message{Destination: "bench", Key: []byte(fmt.Sprint(j % 16)), Body: body,
							Attributes: map[string]string{"type": "bench"}}
					}
					k.enqueue(b, true, ms...)
				}
				r := newRelay(b, outbox.RelayConfig{Store: k.store, Publisher: pub, BatchSize: batch})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				b.ResetTimer()
				start := time.Now()
				n, err := r.Drain(ctx)
				elapsed := time.Since(start)
				b.StopTimer()
				if err != nil || n != b.N {
					b.Fatalf("Drain = %d, %v; want %d", n, err, b.N)
				}
				b.ReportMetric(float64(n)/elapsed.Seconds(), "rows/s")
			})
		}
	}
}

// BenchmarkEnqueue measures Enqueue of 10 messages per transaction.
func BenchmarkEnqueue(b *testing.B) {
	for _, store := range []string{"postgres", "sqlite"} {
		b.Run(store, func(b *testing.B) {
			var k *kit
			if store == "postgres" {
				k = pgKit(b)
			} else {
				k = sqliteKit(b)
			}
			body := make([]byte, 256)
			ms := make([]outbox.Message, 10)
			b.ResetTimer()
			for b.Loop() {
				for j := range ms {
					ms[j] = outbox.Message{Destination: "bench", Body: body}
				}
				k.enqueue(b, true, ms...)
			}
			b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
