package sluice

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice/sluicetest"
)

// ksNewKafkaTestBroker starts an in-process broker tuned for fast group tests:
// no initial rebalance delay, short sessions allowed.
func ksNewKafkaTestBroker(t testing.TB) *sluicetest.Broker {
	t.Helper()
	return sluicetest.NewBroker(t, sluicetest.WithSettings(map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		"group.min.session.timeout.ms":     "500",
		"auto.create.topics.enable":        "false",
	}))
}

// ksNewTestKafkaSource makes a source on b with test-friendly timings (fast
// heartbeats, 50ms commits) unless cfg sets them; t.Cleanup closes it.
func ksNewTestKafkaSource(t testing.TB, b *sluicetest.Broker, cfg KafkaSourceConfig) *kafkaSource {
	t.Helper()
	cfg.Brokers = []string{b.KafkaAddr()}
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("SLUICE_TEST_KAFKA_LOG") != "" { // debugging aid: the source's and franz-go's logs
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	cfg.ClientOptions = append([]kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)}, cfg.ClientOptions...)
	src, err := NewKafkaSource(cfg)
	if err != nil {
		t.Fatalf("NewKafkaSource: %v", err)
	}
	s := src.(*kafkaSource)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// ksProduceRecords produces recs synchronously (acks=all).
func ksProduceRecords(t testing.TB, b *sluicetest.Broker, recs ...*kgo.Record) {
	t.Helper()
	cl := b.KafkaClient()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// ksProduceValues produces n records "v0".."v<n-1>" to topic, keyed k<i%keys>
// (no key when keys == 0).
func ksProduceValues(t testing.TB, b *sluicetest.Broker, topic string, n, keys int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}
		if keys > 0 {
			recs[i].Key = fmt.Appendf(nil, "k%d", i%keys)
		}
	}
	ksProduceRecords(t, b, recs...)
}

// ksCommittedOffset returns the group's committed offset of topic/partition,
// -1 when none.
func ksCommittedOffset(t testing.TB, b *sluicetest.Broker, group, topic string, partition int32) int64 {
	t.Helper()
	cl := b.KafkaClient()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	if o, ok := offs.Lookup(topic, partition); ok && o.Err == nil {
		return o.At
	}
	return -1
}

// ksWaitCommitted waits until the committed offset of topic/partition is want.
func ksWaitCommitted(t testing.TB, b *sluicetest.Broker, group, topic string, partition int32, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got int64
	for time.Now().Before(deadline) {
		if got = ksCommittedOffset(t, b, group, topic, partition); got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("committed offset of %s[%d] = %d, want %d", topic, partition, got, want)
}

// ksFetchN fetches until n messages arrived or timeout.
func ksFetchN(t testing.TB, s Source, n int, timeout time.Duration) []*Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*Message
	for len(out) < n {
		ms, err := s.Fetch(ctx, n-len(out))
		if err != nil {
			t.Fatalf("fetch after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, ms...)
	}
	return out
}

// ksReadTopic reads every record of topic from the start with a plain
// consumer, until want records arrived.
func ksReadTopic(t testing.TB, b *sluicetest.Broker, topic string, want int) []*kgo.Record {
	t.Helper()
	cl := b.KafkaClient(kgo.ConsumeTopics(topic))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %d of %d records: %v", topic, len(out), want, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}
