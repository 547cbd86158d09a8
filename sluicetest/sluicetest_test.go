package sluicetest_test

import (
	"context"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/sluice-mq/sluice/sluicetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBrokerKafkaAndSQS(t *testing.T) {
	b := sluicetest.NewBroker(t, sluicetest.WithSettings(map[string]string{"auto.create.topics.enable": "false"}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	b.CreateTopic("t", 2)
	cl := b.KafkaClient(kgo.DefaultProduceTopic("t"), kgo.ConsumeTopics("t"))
	if err := cl.ProduceSync(ctx, kgo.StringRecord("k1")).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if n := fs.NumRecords(); n != 1 {
		t.Fatalf("fetched %d records, want 1", n)
	}
	// auto.create disabled by the setting: an unknown topic must fail.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "nope", Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatalf("produce to a missing topic succeeded with auto-create disabled")
	}

	url := b.CreateQueue("q", map[string]string{"VisibilityTimeout": "5"})
	sq := b.SQSClient()
	if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("hi")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "hi" {
		t.Fatalf("received %+v", out.Messages)
	}
}

// ExampleStart runs a broker without a *testing.T, as Example functions must.
func ExampleStart() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	url := b.CreateQueue("greetings", nil)
	ctx := context.Background()
	if _, err := b.SQSClient().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("hello")}); err != nil {
		log.Fatal(err)
	}
	out, err := b.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(aws.ToString(out.Messages[0].Body))
	// Output: hello
}
