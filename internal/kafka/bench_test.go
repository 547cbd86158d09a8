package kafka

// Benchmarks through franz-go against the in-process server:
//
//	go test ./internal/kafka -run '^$' -bench . -benchtime 20000x
//
// b.N is the number of 1 KiB records; MB/s counts record values
// (uncompressed, random bytes).

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const benchRecordSize = 1024

// benchValue is incompressible, and records are sent uncompressed, so that
// MB/s means bytes through the broker.
func benchValue() []byte {
	v := make([]byte, benchRecordSize)
	rand.Read(v)
	return v
}

// BenchmarkProduce: acks=all, idempotent, 1 KiB records in batches
// (linger 5ms, up to 1 MiB), 3 partitions, default flush policy (fsync
// per group commit).
func BenchmarkProduce(b *testing.B) {
	br := newTestBroker(b)
	createTopic(b, br, "bench", 3, nil)
	cl := br.client(b, kgo.DefaultProduceTopic("bench"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	val := benchValue()
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed sync.Once
	b.SetBytes(benchRecordSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Do(func() { b.Error(err) })
			}
			wg.Done()
		})
	}
	wg.Wait()
}

// BenchmarkFetch: consume b.N 1 KiB records (written before the timer
// starts, in batches) from 3 partitions.
func BenchmarkFetch(b *testing.B) {
	br := newTestBroker(b)
	createTopic(b, br, "bench", 3, nil)
	pcl := br.client(b, kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	val := benchValue()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		pcl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	offs := map[int32]kgo.Offset{0: kgo.NewOffset().At(0), 1: kgo.NewOffset().At(0), 2: kgo.NewOffset().At(0)}
	b.SetBytes(benchRecordSize)
	b.ResetTimer()
	cl := br.client(b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"bench": offs}))
	n := 0
	for n < b.N {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
		n += fs.NumRecords()
	}
}
