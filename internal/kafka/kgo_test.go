package kafka

// Tests through franz-go (kgo, kadm): a client this project did not write.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice/internal/logstore"
)

// testValue is record i's value: its index and filler derived from it, so
// that any corruption or mix-up shows.
func testValue(i int) []byte {
	v := make([]byte, 100)
	binary.BigEndian.PutUint64(v, uint64(i))
	for j := 8; j < len(v); j++ {
		v[j] = byte(i*31 + j)
	}
	return v
}

func checkValue(v []byte) (int, bool) {
	if len(v) != 100 {
		return -1, false
	}
	i := int(binary.BigEndian.Uint64(v))
	return i, bytes.Equal(v, testValue(i))
}

func TestProduceConsume200kIdempotentAndRestart(t *testing.T) {
	t.Parallel()
	const n = 200_000
	const parts = 6
	b := newTestBroker(t)
	createTopic(t, b, "big", parts, nil)

	cl := b.client(t, kgo.DefaultProduceTopic("big"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(20*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(50_000))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "key-%d", i%997), Value: testValue(i)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	t.Logf("produced %d records (idempotent, acks=all) in %v", n, time.Since(start))

	verify := func() {
		t.Helper()
		tp := b.Topics.Get("big")
		var total int64
		for p := int32(0); p < parts; p++ {
			total += tp.Partition(p).HighWatermark()
		}
		if total != n {
			t.Fatalf("stored %d records, want %d", total, n)
		}
		got := readAllRaw(t, b, "big", parts)
		seen := make([]bool, n)
		for p := int32(0); p < parts; p++ {
			last := -1
			for off, v := range got[p] {
				i, ok := checkValue(v)
				if !ok {
					t.Fatalf("partition %d offset %d: corrupt value", p, off)
				}
				if i <= last {
					t.Fatalf("partition %d offset %d: record %d after %d, out of order", p, off, i, last)
				}
				if seen[i] {
					t.Fatalf("record %d stored twice", i)
				}
				seen[i], last = true, i
			}
		}
	}
	verify()
	b.restart(t)
	verify()
}

// readAllRaw reads each partition from offset 0 to its high watermark and
// returns the values in offset order.
func readAllRaw(t testing.TB, b *testBroker, topicName string, parts int32) [][][]byte {
	t.Helper()
	tp := b.Topics.Get(topicName)
	offs := map[int32]kgo.Offset{}
	ends := map[int32]int64{}
	want := 0
	for p := int32(0); p < parts; p++ {
		offs[p] = kgo.NewOffset().At(0)
		ends[p] = tp.Partition(p).HighWatermark()
		want += int(ends[p])
	}
	out := make([][][]byte, parts)
	cl := b.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topicName: offs}),
		kgo.FetchMaxWait(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d: %v", n, want, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if int64(len(out[r.Partition])) != r.Offset {
				t.Fatalf("partition %d: offset %d after %d records", r.Partition, r.Offset, len(out[r.Partition]))
			}
			out[r.Partition] = append(out[r.Partition], r.Value)
			n++
		})
	}
	return out
}

func TestCompressionPassThrough(t *testing.T) {
	b := newTestBroker(t)
	for _, tc := range []struct {
		name  string
		codec kgo.CompressionCodec
		attr  int16
	}{
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topicName := "comp-" + tc.name
			createTopic(t, b, topicName, 1, nil)
			cl := b.client(t, kgo.DefaultProduceTopic(topicName), kgo.ProducerBatchCompression(tc.codec),
				kgo.ProducerLinger(5*time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var recs []*kgo.Record
			for i := 0; i < 500; i++ {
				recs = append(recs, &kgo.Record{Value: testValue(i)})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			// Stored as sent: the batch still carries the codec.
			chunk, err := b.Topics.Get(topicName).Partition(0).Read(0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := chunk.AppendTo(nil)
			chunk.Release()
			if err != nil {
				t.Fatal(err)
			}
			h, err := logstore.ParseBatchHeader(raw)
			if err != nil {
				t.Fatal(err)
			}
			if h.Attributes&7 != tc.attr {
				t.Fatalf("stored batch codec %d, want %d", h.Attributes&7, tc.attr)
			}
			got := readAllRaw(t, b, topicName, 1)[0]
			if len(got) != 500 {
				t.Fatalf("read %d records", len(got))
			}
			for j, v := range got {
				if i, ok := checkValue(v); !ok || i != j {
					t.Fatalf("record %d: bad value", j)
				}
			}
		})
	}
}

func TestListOffsetsByTimestampKadm(t *testing.T) {
	b := newTestBroker(t)
	createTopic(t, b, "ts", 1, nil)
	cl := b.client(t, kgo.DefaultProduceTopic("ts"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 10; i++ { // one record per sync produce: one batch each
		r := &kgo.Record{Value: testValue(i), Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	lo, err := adm.ListOffsetsAfterMilli(ctx, base.Add(3*time.Minute+time.Second).UnixMilli(), "ts")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := lo.Lookup("ts", 0)
	if o.Err != nil || o.Offset != 4 || o.Timestamp != base.Add(4*time.Minute).UnixMilli() {
		t.Fatalf("after 3m1s: %+v", o)
	}
	ends, err := adm.ListEndOffsets(ctx, "ts")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("ts", 0); o.Offset != 10 {
		t.Fatalf("end offset %+v", o)
	}
	starts, err := adm.ListStartOffsets(ctx, "ts")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("ts", 0); o.Offset != 0 {
		t.Fatalf("start offset %+v", o)
	}
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, "ts")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := maxTS.Lookup("ts", 0); o.Offset != 9 {
		t.Fatalf("max timestamp offset %+v", o)
	}
}

func TestAcksZeroKgo(t *testing.T) {
	b := newTestBroker(t)
	createTopic(t, b, "a0", 1, nil)
	cl := b.client(t, kgo.DefaultProduceTopic("a0"), kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 1000; i++ {
		cl.Produce(ctx, &kgo.Record{Value: testValue(i)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	log := b.Topics.Get("a0").Partition(0)
	for log.HighWatermark() != 1000 {
		if ctx.Err() != nil {
			t.Fatalf("acks=0: %d of 1000 stored", log.HighWatermark())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for j, v := range readAllRaw(t, b, "a0", 1)[0] {
		if i, ok := checkValue(v); !ok || i != j {
			t.Fatalf("record %d: bad value", j)
		}
	}
}

func TestKgoProduceErrors(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	createTopic(t, b, "small", 1, map[string]string{"max.message.bytes": "1000"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	cl := b.client(t, kgo.UnknownTopicRetries(1), kgo.RecordDeliveryTimeout(5*time.Second))
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "missing", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("produce to a missing topic with auto-create off: %v", err)
	}
	if b.Topics.Get("missing") != nil {
		t.Fatal("topic was created")
	}
	big := make([]byte, 5000) // incompressible: kgo compresses with snappy by default
	rand.Read(big)
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("too large record: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: []byte("fits")}).FirstErr(); err != nil {
		t.Fatalf("small record after a refused one: %v", err)
	}
}

func TestAutoCreateOnProduceKgo(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.DefaultPartitions = 2 })
	cl := b.client(t, kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if tp := b.Topics.Get("auto"); tp == nil || tp.NumPartitions() != 2 {
		t.Fatalf("auto-created topic: %v", tp)
	}
}

// A corrupt batch sent through kgo's raw request path (kmsg) is refused
// with CORRUPT_MESSAGE.
func TestCorruptBatchKmsg(t *testing.T) {
	b := newTestBroker(t)
	createTopic(t, b, "cr", 1, nil)
	batch := makeBatch(batchSpec{producerID: -1, records: 3})
	batch[70] ^= 0x55
	if crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)) == binary.BigEndian.Uint32(batch[17:]) {
		t.Fatal("batch still valid")
	}
	resp := b.request(t, produceReq(9, -1, "cr", 0, batch))
	if pr := produceResult(t, resp); pr.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("corrupt batch: %+v", pr)
	}
}
