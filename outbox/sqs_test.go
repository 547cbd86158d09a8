package outbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sluice-mq/sluice/outbox"
)

// The relay publishes to SQS queues by name and by URL, in batches of up
// to 10, with attributes and the outbox id; FIFO queues get the key as
// group id and the outbox id as deduplication id.
func TestSQSPublisher(t *testing.T) {
	b := startBroker(t)
	client := sqsClient(b)
	ctx := ctxT(t)
	std, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	fifo, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs.fifo"),
		Attributes: map[string]string{"FifoQueue": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := outbox.NewSQSPublisher(outbox.SQSConfig{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	k := sqliteKit(t)
	r := newRelay(t, outbox.RelayConfig{Store: k.store, Publisher: pub})

	var batch []outbox.Message
	for i := range 25 {
		batch = append(batch, outbox.Message{Destination: "jobs", Body: []byte("job " + string(rune('a'+i))),
			Attributes: map[string]string{"kind": "resize", "empty": ""}})
	}
	for i := range 5 {
		batch = append(batch, outbox.Message{Destination: aws.ToString(fifo.QueueUrl), Key: []byte("user-1"),
			Body: []byte("step " + string(rune('1'+i)))})
	}
	k.enqueue(t, true, batch...)
	if n, err := r.Drain(ctx); err != nil || n != 30 {
		t.Fatalf("Drain = %d, %v", n, err)
	}

	got := receiveAll(t, client, aws.ToString(std.QueueUrl), 25)
	ids := make(map[string]bool)
	for _, m := range got {
		if aws.ToString(m.MessageAttributes["kind"].StringValue) != "resize" {
			t.Fatalf("attributes = %v", m.MessageAttributes)
		}
		if _, ok := m.MessageAttributes["empty"]; ok {
			t.Fatalf("an empty attribute was sent")
		}
		ids[aws.ToString(m.MessageAttributes[outbox.IDAttribute].StringValue)] = true
	}
	for _, m := range batch[:25] {
		if !ids[m.ID] {
			t.Fatalf("message %s not received (got %d)", m.ID, len(got))
		}
	}
	steps := receiveAll(t, client, aws.ToString(fifo.QueueUrl), 5)
	for i, m := range steps {
		if want := "step " + string(rune('1'+i)); aws.ToString(m.Body) != want {
			t.Fatalf("FIFO message %d = %q, want %q", i, aws.ToString(m.Body), want)
		}
		if g := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]; g != "user-1" {
			t.Fatalf("MessageGroupId = %q", g)
		}
	}
}

// Entries that SQS refuses are reported by index; the rest are published.
func TestSQSPublisherPartialFailure(t *testing.T) {
	b := startBroker(t)
	client := sqsClient(b)
	ctx := ctxT(t)
	if _, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("partial")}); err != nil {
		t.Fatal(err)
	}
	pub, err := outbox.NewSQSPublisher(outbox.SQSConfig{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	ms := []outbox.Message{
		{Destination: "partial", ID: outbox.NewID(), Body: []byte("fine")},
		{Destination: "partial", ID: outbox.NewID(), Body: []byte("bad \x00 character")},
		{Destination: "partial", ID: outbox.NewID(), Body: []byte("fine too")},
		{Destination: "no-such-queue", ID: outbox.NewID(), Body: []byte("lost?")},
	}
	err = pub.Publish(ctx, ms)
	var pe *outbox.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("Publish = %v, want a *PublishError", err)
	}
	if len(pe.Failed) != 2 || pe.Failed[1] == nil || pe.Failed[3] == nil {
		t.Fatalf("failed = %v, want #1 and #3", pe.Failed)
	}
	if !strings.Contains(pe.Failed[3].Error(), "no-such-queue") {
		t.Errorf("error for the unknown queue: %v", pe.Failed[3])
	}
	got := receiveAll(t, client, "partial", 2)
	if len(got) != 2 {
		t.Fatalf("received %d, want 2", len(got))
	}
}

func receiveAll(t *testing.T, client *sqs.Client, queue string, want int) []types.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := queue
	if !strings.HasPrefix(queue, "http") {
		out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
		if err != nil {
			t.Fatal(err)
		}
		url = aws.ToString(out.QueueUrl)
	}
	var got []types.Message
	for len(got) < want && ctx.Err() == nil {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			got = append(got, m)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got
}
