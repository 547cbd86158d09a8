package sluice

// producer_kafka.go: the Kafka destination, on franz-go. franz-go does the
// batching, compression, acks, retries and idempotence; this file maps
// Kafka's producer settings onto it and routes each record's outcome back
// to the Producer. The local buffer bound is the Producer's own budget
// (BufferMemory), so that TryPublish and Publish behave alike on both
// destinations; franz-go's record limit is lifted so that it never blocks
// a Publish on its own.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaProducerConfig configures NewKafkaProducer. Fields carry Kafka's
// producer setting names in their docs; zero values take the defaults named.
type KafkaProducerConfig struct {
	// Brokers are the seed brokers (host:port). Required.
	Brokers []string
	// Topic receives every message. Required.
	Topic string
	// Acks (acks): "all" (or "-1"), "1" or "0". Default "all". Anything but
	// "all" turns off idempotent writes, as Kafka does.
	Acks string
	// BatchSize (batch.size): the most bytes of one partition's record
	// batch. Default franz-go's 1000012 (Kafka's max.message.bytes default).
	// Keep it at most the topic's max.message.bytes: a batch the broker
	// refuses as too large fails every record in it (franz-go does not
	// split batches as the Java producer does).
	BatchSize int32
	// Linger (linger.ms): how long a partition's batch waits for more
	// records. Default 5ms (Kafka's); negative: no wait.
	Linger time.Duration
	// Compression (compression.type): "none", "gzip", "snappy", "lz4" or
	// "zstd". Default "none".
	Compression string
	// BufferMemory (buffer.memory): the bytes of messages accepted but not
	// yet resolved; a message weighs its key, value, headers and 64 bytes.
	// Default 32 MiB.
	BufferMemory int64
	// MaxBlock (max.block.ms): how long Publish and PublishSync wait for
	// buffer space before ErrBufferFull. Default 60s; negative: no wait.
	MaxBlock time.Duration
	// DeliveryTimeout (delivery.timeout.ms): how long a record may take,
	// retries included, before it fails. Default 2 minutes.
	DeliveryTimeout time.Duration
	// OnError receives every fire-and-forget message that failed. It runs
	// on one goroutine of the producer, one call at a time; it may call
	// TryPublish but should not block for long. Default: log the failure
	// (it is counted either way).
	OnError func(Message, error)
	// Throttle enables depth-based throttling on Throttle.Group's lag.
	Throttle *ThrottleConfig
	// Logger receives the producer's reports. Default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the producer's Prometheus metrics.
	Registerer prometheus.Registerer
	// ClientOptions are extra franz-go options (TLS, SASL, a partitioner …),
	// applied after the ones derived from the fields above.
	ClientOptions []kgo.Opt
}

type kafkaDest struct {
	cl    *kgo.Client
	adm   *kadm.Client
	topic string
	group string
	p     *Producer
	// live counts records handed to franz-go whose promise has not run:
	// close waits for them, since franz-go's Close fails buffered records
	// through promises it may still be running when Close returns.
	live sync.WaitGroup
}

// NewKafkaProducer returns a producer to cfg.Topic.
func NewKafkaProducer(cfg KafkaProducerConfig) (*Producer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, configError("Brokers", "at least one seed broker is required")
	}
	if cfg.Topic == "" {
		return nil, configError("Topic", "required")
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.MaxBufferedRecords(math.MaxInt32), // the budget bounds the buffer
	}
	switch cfg.Acks {
	case "", "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, configError("Acks", `want "all", "-1", "1" or "0", got %q`, cfg.Acks)
	}
	switch {
	case cfg.BatchSize < 0:
		return nil, configError("BatchSize", "must not be negative, got %d", cfg.BatchSize)
	case cfg.BatchSize > 0:
		opts = append(opts, kgo.ProducerBatchMaxBytes(cfg.BatchSize))
	}
	switch {
	case cfg.Linger == 0:
		opts = append(opts, kgo.ProducerLinger(DefaultLinger))
	case cfg.Linger < 0:
		opts = append(opts, kgo.ProducerLinger(0))
	default:
		opts = append(opts, kgo.ProducerLinger(cfg.Linger))
	}
	switch strings.ToLower(cfg.Compression) {
	case "", "none":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		return nil, configError("Compression", `want "none", "gzip", "snappy", "lz4" or "zstd", got %q`, cfg.Compression)
	}
	switch {
	case cfg.DeliveryTimeout < 0:
		return nil, configError("DeliveryTimeout", "must not be negative")
	case cfg.DeliveryTimeout == 0:
		opts = append(opts, kgo.RecordDeliveryTimeout(DefaultDeliveryTimeout))
	default:
		opts = append(opts, kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout))
	}
	if cfg.Throttle != nil && cfg.Throttle.Group == "" {
		return nil, configError("Throttle.Group", "required for Kafka: the consumer group whose lag counts")
	}
	common := producerCommon{
		bufferMemory: cfg.BufferMemory, maxBlock: cfg.MaxBlock, onError: cfg.OnError,
		throttle: cfg.Throttle, logger: cfg.Logger, registerer: cfg.Registerer,
	}
	if err := common.defaults(); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, cfg.ClientOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("sluice: kafka client: %w", err)
	}
	d := &kafkaDest{cl: cl, adm: kadm.NewClient(cl), topic: cfg.Topic}
	if cfg.Throttle != nil {
		d.group = cfg.Throttle.Group
	}
	p, err := newProducer(d, cfg.Topic, "kafka", common)
	if err != nil {
		cl.Close()
		return nil, err
	}
	d.p = p
	return p, nil
}

func (d *kafkaDest) validate(*Message) error { return nil }

// kafkaRecord carries the pending message with its record, so that the
// promise finds it without a map.
type kafkaRecord struct {
	rec kgo.Record
	pd  *pending
	d   *kafkaDest
}

func (d *kafkaDest) submit(ps []*pending, _ bool) {
	for _, pd := range ps {
		kr := &kafkaRecord{pd: pd, d: d}
		kr.rec.Topic = d.topic
		kr.rec.Key = pd.msg.Key
		kr.rec.Value = pd.msg.Body
		if len(pd.msg.Attributes) > 0 {
			kr.rec.Headers = make([]kgo.RecordHeader, 0, len(pd.msg.Attributes))
			for k, v := range pd.msg.Attributes {
				kr.rec.Headers = append(kr.rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
		}
		// Background context: a record's life is bounded by
		// DeliveryTimeout and Close, not by the Publish call's context.
		d.live.Add(1)
		d.cl.Produce(context.Background(), &kr.rec, kr.promise)
	}
}

func (kr *kafkaRecord) promise(_ *kgo.Record, err error) {
	if errors.Is(err, kgo.ErrClientClosed) {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if err != nil {
		err = fmt.Errorf("sluice: kafka produce to %s: %w", kr.rec.Topic, err)
	}
	kr.pd.p.complete(kr.pd, err)
	kr.d.live.Done()
}

func (d *kafkaDest) flush(ctx context.Context) error {
	if err := d.cl.Flush(ctx); err != nil {
		return fmt.Errorf("sluice: flush: %w", err)
	}
	return nil
}

// depth is the lag of the throttle's group on the topic: end offset minus
// the group's commit, or minus the log start where it has none.
func (d *kafkaDest) depth(ctx context.Context) (int64, error) {
	ends, err := d.adm.ListEndOffsets(ctx, d.topic)
	if err != nil {
		return 0, err
	}
	if err := ends.Error(); err != nil {
		return 0, err
	}
	starts, err := d.adm.ListStartOffsets(ctx, d.topic)
	if err != nil {
		return 0, err
	}
	commits, err := d.adm.FetchOffsets(ctx, d.group)
	if err != nil {
		return 0, err
	}
	var lag int64
	ends.Each(func(end kadm.ListedOffset) {
		base := int64(0)
		if s, ok := starts.Lookup(end.Topic, end.Partition); ok && s.Err == nil {
			base = s.Offset
		}
		if c, ok := commits.Lookup(end.Topic, end.Partition); ok && c.Err == nil && c.At >= 0 {
			base = c.At
		}
		if end.Offset > base {
			lag += end.Offset - base
		}
	})
	return lag, nil
}

// close is called after the Producer stopped handing over messages, so no
// live.Add races with the Wait.
func (d *kafkaDest) close() {
	d.cl.Close()
	d.live.Wait()
}
