package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice"
	"github.com/sluice-mq/sluice/sluicetest"
)

// Confirmed publishing to a Kafka topic: PublishSync returns once the broker
// acknowledged the records (acks=all by default).
func ExampleNewKafkaProducer() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	b.CreateTopic("orders", 1)

	p, err := sluice.NewKafkaProducer(sluice.KafkaProducerConfig{
		Brokers:     []string{b.KafkaAddr()},
		Topic:       "orders",
		Compression: "zstd",                // compression.type
		Linger:      10 * time.Millisecond, // linger.ms
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer p.Close(ctx)
	err = p.PublishSync(ctx, sluice.Message{
		Key:        []byte("customer-42"), // same key, same partition, in order
		Body:       []byte(`{"order":1001}`),
		Attributes: map[string]string{"content-type": "application/json"}, // Kafka headers
	})
	if err != nil {
		log.Fatal(err)
	}

	cl := b.KafkaClient(kgo.ConsumeTopics("orders"))
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		fmt.Printf("%s %s %s=%s\n", r.Key, r.Value, r.Headers[0].Key, r.Headers[0].Value)
	})
	// Output: customer-42 {"order":1001} content-type=application/json
}

// Confirmed publishing to an SQS queue: messages go out in SendMessageBatch
// calls of up to 10.
func ExampleNewSQSProducer() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	url := b.CreateQueue("emails", nil)

	p, err := sluice.NewSQSProducer(sluice.SQSProducerConfig{
		QueueURL: url,
		Endpoint: b.SQSEndpoint(), // or Client: an *sqs.Client for Amazon SQS
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer p.Close(ctx)
	if err := p.PublishSync(ctx,
		sluice.Message{Body: []byte("welcome alice")},
		sluice.Message{Body: []byte("welcome bob")},
	); err != nil {
		log.Fatal(err)
	}

	out, err := b.SQSClient().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("waiting:", out.Attributes["ApproximateNumberOfMessages"])
	// Output: waiting: 2
}

// Fire-and-forget with load shedding: TryPublish never waits; when the
// local buffer (BufferMemory) is full it says so at once, and the caller can
// answer "try later" instead of queueing without bound.
func ExampleProducer_TryPublish() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	b.CreateTopic("clicks", 1)

	p, err := sluice.NewKafkaProducer(sluice.KafkaProducerConfig{
		Brokers:      []string{b.KafkaAddr()},
		Topic:        "clicks",
		BufferMemory: 1 << 20, // buffer.memory
		OnError: func(m sluice.Message, err error) {
			log.Printf("click %s lost: %v", m.Body, err)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer p.Close(ctx)
	for i := range 100 {
		err := p.TryPublish(sluice.Message{Body: fmt.Appendf(nil, "click-%d", i)})
		if errors.Is(err, sluice.ErrBufferFull) {
			fmt.Println("shedding load") // e.g. HTTP 503 with Retry-After
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("published:", p.Stats().Published)
	// Output: published: 100
}

// Fire-and-forget failures are never dropped silently: they reach OnError
// (here, because the queue does not exist).
func ExampleProducer_Publish() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	p, err := sluice.NewSQSProducer(sluice.SQSProducerConfig{
		QueueURL: b.SQSEndpoint() + "/000000000000/missing",
		Client:   b.SQSClient(),
		OnError: func(m sluice.Message, err error) {
			fmt.Printf("not published: %s\n", m.Body)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Publish(ctx, sluice.Message{Body: []byte("invoice-7")}); err != nil {
		log.Fatal(err) // only local refusals: full buffer, throttled, invalid, closed
	}
	p.Close(ctx) // flushes; the failure is reported before Close returns
	// Output: not published: invoice-7
}

// Depth-based throttling: past 80% of MaxDepth waiting messages, publishing
// slows down; at 100% it is refused, so a spike cannot bury the workers.
func ExampleThrottleConfig() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	url := b.CreateQueue("reports", nil)
	ctx := context.Background()
	for range 10 { // a backlog nobody is working on
		if _, err := b.SQSClient().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("r")}); err != nil {
			log.Fatal(err)
		}
	}

	p, err := sluice.NewSQSProducer(sluice.SQSProducerConfig{
		QueueURL: url,
		Client:   b.SQSClient(),
		Throttle: &sluice.ThrottleConfig{MaxDepth: 10, Interval: time.Second},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	fmt.Printf("pressure %.1f\n", p.Pressure())
	err = p.Publish(ctx, sluice.Message{Body: []byte("one more report")})
	fmt.Println(errors.Is(err, sluice.ErrThrottled))
	// Output:
	// pressure 1.0
	// true
}
