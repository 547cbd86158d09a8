package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestByteBudget(t *testing.T) {
	b := newByteBudget(100)
	ctx := context.Background()
	if n, err := b.acquire(ctx, 60); err != nil || n != 60 {
		t.Fatal(n, err)
	}
	// 50 does not fit: it waits, and a later small request queues behind it.
	big := make(chan int64)
	go func() { n, _ := b.acquire(ctx, 50); big <- n }()
	time.Sleep(20 * time.Millisecond)
	small := make(chan int64)
	go func() { n, _ := b.acquire(ctx, 10); small <- n }()
	select {
	case <-big:
		t.Fatal("acquired beyond the budget")
	case <-small:
		t.Fatal("small request overtook a waiting large one")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(60)
	if n := <-big; n != 50 {
		t.Fatal(n)
	}
	if n := <-small; n != 10 {
		t.Fatal(n)
	}
	// Larger than the whole budget: capped, so it can still pass alone.
	b.release(60)
	if n, err := b.acquire(ctx, 1000); err != nil || n != 100 {
		t.Fatal(n, err)
	}
	// A cancelled wait takes nothing.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := b.acquire(cctx, 1); err == nil {
		t.Fatal("acquired from an exhausted budget")
	}
	b.release(100)
	if n, err := b.acquire(ctx, 100); err != nil || n != 100 {
		t.Fatal("budget leaked after a cancelled wait:", n, err)
	}
}

// Many producers through a budget that holds one request at a time (it is
// raised to MaxRequestBytes) all finish: the budget pushes back, it does
// not deadlock.
func TestSmallRequestBudget(t *testing.T) {
	br := newTestBroker(t, func(c *Config) { c.MaxRequestBytes = 300 << 10; c.QueuedMaxRequestBytes = 1 })
	createTopic(t, br, "budget", 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 4)
	for w := 0; w < 4; w++ {
		cl := br.client(t, kgo.DefaultProduceTopic("budget"), kgo.ProducerBatchMaxBytes(64<<10),
			kgo.BrokerMaxWriteBytes(300<<10), kgo.ProducerLinger(2*time.Millisecond),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.RecordDeliveryTimeout(15*time.Second))
		go func() {
			var recs []*kgo.Record
			for i := 0; i < 2000; i++ {
				recs = append(recs, &kgo.Record{Value: testValue(i)})
			}
			done <- cl.ProduceSync(ctx, recs...).FirstErr()
		}()
	}
	for w := 0; w < 4; w++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
