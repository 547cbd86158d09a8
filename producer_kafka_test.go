package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice"
	"github.com/sluice-mq/sluice/sluicetest"
)

func newKafkaProducer(t *testing.T, cfg sluice.KafkaProducerConfig) *sluice.Producer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	p, err := sluice.NewKafkaProducer(cfg)
	if err != nil {
		t.Fatalf("NewKafkaProducer: %v", err)
	}
	t.Cleanup(func() { p.Close(testCtx(t)) })
	return p
}

// consume reads n records of topic from the start.
func consume(t *testing.T, ctx context.Context, b *sluicetest.Broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := b.KafkaClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestKafkaProducerPublishSync(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	b.CreateTopic("orders", 3)
	ctx := testCtx(t)
	for _, compression := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		p := newKafkaProducer(t, sluice.KafkaProducerConfig{
			Brokers: []string{b.KafkaAddr()}, Topic: "orders", Compression: compression, Linger: time.Millisecond,
		})
		err := p.PublishSync(ctx,
			sluice.Message{Key: []byte("k1"), Body: []byte(compression + "-a"), Attributes: map[string]string{"trace": "t1"}},
			sluice.Message{Key: []byte("k1"), Body: []byte(compression + "-b")},
		)
		if err != nil {
			t.Fatalf("PublishSync (%s): %v", compression, err)
		}
		if s := p.Stats(); s.Published != 2 || s.BufferedBytes != 0 {
			t.Errorf("%s: stats %+v", compression, s)
		}
	}
	recs := consume(t, ctx, b, "orders", 10)
	byValue := map[string]*kgo.Record{}
	for _, r := range recs {
		byValue[string(r.Value)] = r
	}
	for _, c := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		a, bb := byValue[c+"-a"], byValue[c+"-b"]
		if a == nil || bb == nil {
			t.Fatalf("%s: records missing; got %d records", c, len(recs))
		}
		if string(a.Key) != "k1" || len(a.Headers) != 1 || a.Headers[0].Key != "trace" || string(a.Headers[0].Value) != "t1" {
			t.Errorf("%s: record %+v", c, a)
		}
		// Same key, same partition, in order.
		if a.Partition != bb.Partition || a.Offset >= bb.Offset {
			t.Errorf("%s: key order lost: a=%d@%d b=%d@%d", c, a.Partition, a.Offset, bb.Partition, bb.Offset)
		}
	}
}

func TestKafkaProducerFireAndForget(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	b.CreateTopic("events", 2)
	sink := &errorSink{}
	p := newKafkaProducer(t, sluice.KafkaProducerConfig{
		Brokers: []string{b.KafkaAddr()}, Topic: "events", Acks: "1", BatchSize: 16 << 10, OnError: sink.onError,
	})
	ctx := testCtx(t)
	const n = 2000
	for i := range n {
		if err := p.Publish(ctx, sluice.Message{Body: fmt.Appendf(nil, "e%d", i)}); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Published != n || s.BufferedMessages != 0 {
		t.Fatalf("after Flush: %+v", s)
	}
	if msgs, errs := sink.snapshot(); len(msgs) != 0 {
		t.Fatalf("OnError: %v", errs)
	}
	seen := map[string]int{}
	for _, r := range consume(t, ctx, b, "events", n) {
		seen[string(r.Value)]++
	}
	for i := range n {
		if seen[fmt.Sprintf("e%d", i)] != 1 {
			t.Fatalf("e%d seen %d times", i, seen[fmt.Sprintf("e%d", i)])
		}
	}
}

// Many publishers against a buffer far smaller than what they send: they
// wait for space in turn, and everything arrives once.
func TestKafkaProducerConcurrentSmallBuffer(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	b.CreateTopic("busy", 3)
	p := newKafkaProducer(t, sluice.KafkaProducerConfig{
		Brokers: []string{b.KafkaAddr()}, Topic: "busy", BufferMemory: 4 << 10, MaxBlock: 10 * time.Second,
	})
	ctx := testCtx(t)
	const publishers, each = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for g := range publishers {
		wg.Go(func() {
			for i := range each {
				if err := p.Publish(ctx, sluice.Message{Body: fmt.Appendf(nil, "%d-%d-%s", g, i, strings.Repeat("p", 200))}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range consume(t, ctx, b, "busy", publishers*each) {
		seen[string(r.Value)]++
	}
	if len(seen) != publishers*each {
		t.Fatalf("%d distinct records, want %d", len(seen), publishers*each)
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("%.10s… seen %d times", v, n)
		}
	}
}

func TestKafkaProducerOnError(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	b.CreateTopicWithConfigs("small", 1, map[string]string{"max.message.bytes": "1000"})
	sink := &errorSink{}
	p := newKafkaProducer(t, sluice.KafkaProducerConfig{
		Brokers: []string{b.KafkaAddr()}, Topic: "small", OnError: sink.onError,
	})
	ctx := testCtx(t)
	big := strings.Repeat("x", 5000)
	if err := p.Publish(ctx, sluice.Message{Body: []byte(big)}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	msgs, errs := sink.snapshot()
	if len(msgs) != 1 || msgs[0] != big {
		t.Fatalf("OnError got %d messages, want the oversized one", len(msgs))
	}
	if !errors.Is(errs[0], kerr.MessageTooLarge) {
		t.Errorf("OnError error %v, want MESSAGE_TOO_LARGE", errs[0])
	}
	if err := p.PublishSync(ctx, sluice.Message{Body: []byte(big)}); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("PublishSync: %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := p.PublishSync(ctx, sluice.Message{Body: []byte("small enough")}); err != nil {
		t.Errorf("PublishSync of a small record after failures: %v", err)
	}
	if s := p.Stats(); s.Failed != 2 || s.Published != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestKafkaProducerBufferFull(t *testing.T) {
	leakCheck(t)
	sink := &errorSink{}
	p, err := sluice.NewKafkaProducer(sluice.KafkaProducerConfig{
		Brokers: []string{blackhole(t)}, Topic: "t",
		BufferMemory: 400, MaxBlock: 300 * time.Millisecond,
		OnError: sink.onError, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	body := []byte(strings.Repeat("b", 100))
	for i := range 2 {
		if err := p.TryPublish(sluice.Message{Body: body}); err != nil {
			t.Fatalf("TryPublish %d: %v", i, err)
		}
	}
	start := time.Now()
	if err := p.TryPublish(sluice.Message{Body: body}); !errors.Is(err, sluice.ErrBufferFull) {
		t.Fatalf("TryPublish: %v, want ErrBufferFull", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("TryPublish took %v", d)
	}
	start = time.Now()
	if err := p.Publish(ctx, sluice.Message{Body: body}); !errors.Is(err, sluice.ErrBufferFull) {
		t.Fatalf("Publish: %v, want ErrBufferFull", err)
	}
	if d := time.Since(start); d < 280*time.Millisecond || d > 2*time.Second {
		t.Errorf("Publish blocked %v, want about MaxBlock (300ms)", d)
	}
	// Publish's own context ends the wait earlier.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := p.Publish(short, sluice.Message{Body: body}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish with a 50ms context: %v", err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer ccancel()
	p.Close(cctx)
	msgs, errs := sink.snapshot()
	if len(msgs) != 2 || !errors.Is(errs[0], sluice.ErrClosed) || !errors.Is(errs[1], sluice.ErrClosed) {
		t.Fatalf("OnError after Close: %d messages, %v; want 2 × ErrClosed", len(msgs), errs)
	}
}

func TestKafkaProducerThrottleOnLag(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	b.CreateTopic("jobs", 2)
	ctx := testCtx(t)
	cl := b.KafkaClient(kgo.DefaultProduceTopic("jobs"))
	for range 20 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("backlog")).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := newKafkaProducer(t, sluice.KafkaProducerConfig{
		Brokers: []string{b.KafkaAddr()}, Topic: "jobs",
		Throttle: &sluice.ThrottleConfig{MaxDepth: 20, Group: "workers", Interval: 50 * time.Millisecond, MaxDelay: time.Second},
	})
	// The group has committed nothing: all 20 records are its lag.
	if got := p.Pressure(); got != 1 {
		t.Fatalf("Pressure = %v, want 1", got)
	}
	if err := p.Publish(ctx, sluice.Message{Body: []byte("x")}); !errors.Is(err, sluice.ErrThrottled) {
		t.Fatalf("Publish at lag 20/20: %v, want ErrThrottled", err)
	}

	// The group commits all but 18 (+0 new): pressure 0.9, a 500ms delay.
	adm := kadm.NewClient(cl)
	commit := func(leave int64) {
		t.Helper()
		ends, err := adm.ListEndOffsets(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		os := kadm.Offsets{}
		left := leave
		ends.Each(func(o kadm.ListedOffset) {
			at := o.Offset - min(left, o.Offset)
			left -= o.Offset - at
			os.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: at})
		})
		if err := adm.CommitAllOffsets(ctx, "workers", os); err != nil {
			t.Fatal(err)
		}
	}
	commit(18)
	waitPressure := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for p.Pressure() != want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := p.Pressure(); got != want {
			t.Fatalf("Pressure = %v, want %v", got, want)
		}
	}
	waitPressure(0.9)
	start := time.Now()
	if err := p.Publish(ctx, sluice.Message{Body: []byte("slowed")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 480*time.Millisecond || d > 2*time.Second {
		t.Errorf("Publish at lag 18/20 took %v, want about 500ms", d)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	commit(0) // everything, including the record just published
	waitPressure(0)
	start = time.Now()
	if err := p.PublishSync(ctx, sluice.Message{Body: []byte("free")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("PublishSync at lag 0 took %v", d)
	}
}

func TestKafkaProducerConfigErrors(t *testing.T) {
	for name, cfg := range map[string]sluice.KafkaProducerConfig{
		"Brokers":        {Topic: "t"},
		"Topic":          {Brokers: []string{"x:1"}},
		"Acks":           {Brokers: []string{"x:1"}, Topic: "t", Acks: "2"},
		"Compression":    {Brokers: []string{"x:1"}, Topic: "t", Compression: "brotli"},
		"Throttle.Group": {Brokers: []string{"x:1"}, Topic: "t", Throttle: &sluice.ThrottleConfig{MaxDepth: 1}},
	} {
		_, err := sluice.NewKafkaProducer(cfg)
		if !errors.Is(err, sluice.ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want ErrInvalidConfig naming the field", name, err)
		}
	}
}
