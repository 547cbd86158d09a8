package sqs

// sdk_test.go: every action through aws-sdk-go-v2 (the JSON 1.0 protocol),
// against an in-process server.

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

type sqsAttrName = types.QueueAttributeName

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	name := e.name("life")
	attrs := map[string]string{"VisibilityTimeout": "45", "DelaySeconds": "0"}
	out, err := e.client.CreateQueue(c, &sqs.CreateQueueInput{QueueName: &name, Attributes: attrs, Tags: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	u := aws.ToString(out.QueueUrl)
	if !strings.HasPrefix(u, e.endpoint+"/") || !strings.HasSuffix(u, "/"+name) {
		t.Fatalf("queue URL %s does not point back at %s", u, e.endpoint)
	}
	// Idempotent with equal attributes; QueueNameExists with others.
	again, err := e.client.CreateQueue(c, &sqs.CreateQueueInput{QueueName: &name, Attributes: attrs})
	if err != nil || aws.ToString(again.QueueUrl) != u {
		t.Fatalf("CreateQueue again: %v %v", again, err)
	}
	_, err = e.client.CreateQueue(c, &sqs.CreateQueueInput{QueueName: &name, Attributes: map[string]string{"VisibilityTimeout": "46"}})
	wantAPIError(t, err, "QueueAlreadyExists", 400)
	var qne *types.QueueNameExists
	if !errors.As(err, &qne) {
		t.Fatalf("want a *types.QueueNameExists, got %T", err)
	}

	got, err := e.client.GetQueueUrl(c, &sqs.GetQueueUrlInput{QueueName: &name})
	if err != nil || aws.ToString(got.QueueUrl) != u {
		t.Fatalf("GetQueueUrl: %v %v", got, err)
	}
	a := e.attrs(u, "All")
	for _, k := range []string{"QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
		"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "VisibilityTimeout",
		"MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "DelaySeconds"} {
		if a[k] == "" {
			t.Errorf("attribute %s missing from All: %v", k, a)
		}
	}
	if a["VisibilityTimeout"] != "45" || !strings.HasPrefix(a["QueueArn"], "arn:aws:sqs:") || !strings.HasSuffix(a["QueueArn"], ":"+name) {
		t.Fatalf("attributes %v", a)
	}
	if _, err := e.client.SetQueueAttributes(c, &sqs.SetQueueAttributesInput{QueueUrl: &u, Attributes: map[string]string{"VisibilityTimeout": "10", "MaximumMessageSize": "2048"}}); err != nil {
		t.Fatal(err)
	}
	if a := e.attrs(u, "VisibilityTimeout", "MaximumMessageSize"); a["VisibilityTimeout"] != "10" || a["MaximumMessageSize"] != "2048" || len(a) != 2 {
		t.Fatalf("after SetQueueAttributes: %v", a)
	}
	_, err = e.client.SetQueueAttributes(c, &sqs.SetQueueAttributesInput{QueueUrl: &u, Attributes: map[string]string{"VisibilityTimeout": "99999"}})
	wantAPIError(t, err, "InvalidAttributeValue", 400)
	_, err = e.client.GetQueueAttributes(c, &sqs.GetQueueAttributesInput{QueueUrl: &u, AttributeNames: []types.QueueAttributeName{"Bogus"}})
	wantAPIError(t, err, "InvalidAttributeName", 400)

	// Tags.
	if _, err := e.client.TagQueue(c, &sqs.TagQueueInput{QueueUrl: &u, Tags: map[string]string{"env": "test", "team": "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UntagQueue(c, &sqs.UntagQueueInput{QueueUrl: &u, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.client.ListQueueTags(c, &sqs.ListQueueTagsInput{QueueUrl: &u})
	if err != nil || len(tags.Tags) != 1 || tags.Tags["team"] != "b" {
		t.Fatalf("ListQueueTags: %v %v", tags, err)
	}

	if _, err := e.client.DeleteQueue(c, &sqs.DeleteQueueInput{QueueUrl: &u}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetQueueUrl(c, &sqs.GetQueueUrlInput{QueueName: &name})
	wantAPIError(t, err, "AWS.SimpleQueueService.NonExistentQueue", 400)
	var dne *types.QueueDoesNotExist
	if !errors.As(err, &dne) {
		t.Fatalf("want a *types.QueueDoesNotExist, got %T", err)
	}
	_, err = e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("x")})
	wantAPIError(t, err, "AWS.SimpleQueueService.NonExistentQueue", 400)
}

func TestListQueuesPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	var want []string
	for i := range 5 {
		want = append(want, e.create(e.name(fmt.Sprintf("p%d", i)), nil))
	}
	e.create(e.prefix+"x-other", nil)
	var got []string
	in := &sqs.ListQueuesInput{QueueNamePrefix: aws.String(e.name("p")), MaxResults: aws.Int32(2)}
	pages := 0
	for {
		out, err := e.client.ListQueues(c, in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, out.QueueUrls...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("%d pages: %v, want %v", pages, got, want)
	}
	// The SDK's paginator works too.
	p := sqs.NewListQueuesPaginator(e.client, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(e.name("p")), MaxResults: aws.Int32(4)})
	got = got[:0]
	for p.HasMorePages() {
		out, err := p.NextPage(c)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.QueueUrls...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paginator: %v", got)
	}
	_, err := e.client.ListQueues(c, &sqs.ListQueuesInput{MaxResults: aws.Int32(1001)})
	wantAPIError(t, err, "InvalidParameterValue", 400)
	_, err = e.client.ListQueues(c, &sqs.ListQueuesInput{NextToken: aws.String("not-a-token")})
	wantAPIError(t, err, "InvalidParameterValue", 400)
}

func TestSendReceiveAttributes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	u := e.create(e.name("attrs"), nil)
	msgAttrs := map[string]types.MessageAttributeValue{
		"General": {DataType: aws.String("String"), StringValue: aws.String("Kenobi")},
		"Hello":   {DataType: aws.String("String"), StringValue: aws.String("There")},
		"Help.Me": {DataType: aws.String("String"), StringValue: aws.String("Me")},
	}
	sent, err := e.client.SendMessage(c, &sqs.SendMessageInput{
		QueueUrl: &u, MessageBody: aws.String("hello there"), MessageAttributes: msgAttrs,
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The digest Amazon SQS returned for these three attributes.
	if aws.ToString(sent.MD5OfMessageAttributes) != "4c360f3fdafd970e05fae2f149d997f5" || aws.ToString(sent.MD5OfMessageSystemAttributes) == "" {
		t.Fatalf("send digests: %+v", sent)
	}
	before := time.Now().UnixMilli()
	// Only "Hello" and "Help.*": the digest covers what is returned (the
	// value Amazon SQS returned for these two).
	r, err := e.client.ReceiveMessage(c, &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 5,
		MessageAttributeNames:       []string{"Hello", "Help.*"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil || len(r.Messages) != 1 {
		t.Fatalf("receive: %v %v", r, err)
	}
	m := r.Messages[0]
	if aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) || aws.ToString(m.Body) != "hello there" {
		t.Fatalf("message %+v", m)
	}
	if len(m.MessageAttributes) != 2 || aws.ToString(m.MD5OfMessageAttributes) != "83fee93c1bcd8b9a5a923ffacdc636c7" {
		t.Fatalf("filtered attributes %v digest %s", m.MessageAttributes, aws.ToString(m.MD5OfMessageAttributes))
	}
	sa := m.Attributes
	if sa["ApproximateReceiveCount"] != "1" || sa["SenderId"] == "" || sa["AWSTraceHeader"] != "Root=1-5759e988-bd862e3fe1be46a994272793" {
		t.Fatalf("system attributes %v", sa)
	}
	sentTS, _ := strconv.ParseInt(sa["SentTimestamp"], 10, 64)
	firstTS, _ := strconv.ParseInt(sa["ApproximateFirstReceiveTimestamp"], 10, 64)
	if sentTS <= 0 || sentTS > before || firstTS < sentTS {
		t.Fatalf("timestamps sent %d first receive %d (before %d)", sentTS, firstTS, before)
	}
	// Visible again at once; all attributes this time.
	if _, err := e.client.ChangeMessageVisibility(c, &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	legacy := &sqs.ReceiveMessageInput{QueueUrl: &u, MessageAttributeNames: []string{"All"}}
	//lint:ignore SA1019 the legacy AttributeNames parameter is what this checks
	legacy.AttributeNames = []types.QueueAttributeName{"ApproximateReceiveCount"}
	r, err = e.client.ReceiveMessage(c, legacy)
	if err != nil || len(r.Messages) != 1 {
		t.Fatalf("receive 2: %v %v", r, err)
	}
	m = r.Messages[0]
	if len(m.MessageAttributes) != 3 || aws.ToString(m.MD5OfMessageAttributes) != "4c360f3fdafd970e05fae2f149d997f5" {
		t.Fatalf("All attributes: %v", m.MessageAttributes)
	}
	if len(m.Attributes) != 1 || m.Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("legacy AttributeNames: %v", m.Attributes)
	}
	if _, err := e.client.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	// Binary and custom types.
	bin := []byte{0, 1, 2, 0xfe, 0xff}
	attrs := map[string]types.MessageAttributeValue{
		"raw":  {DataType: aws.String("Binary.gz"), BinaryValue: bin},
		"num":  {DataType: aws.String("Number.float"), StringValue: aws.String("-3.25e10")},
		"text": {DataType: aws.String("String"), StringValue: aws.String("ünï\tcode 😀")},
	}
	if _, err := e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("b"), MessageAttributes: attrs}); err != nil {
		t.Fatal(err)
	}
	r, err = e.client.ReceiveMessage(c, &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 5, MessageAttributeNames: []string{".*"}})
	if err != nil || len(r.Messages) != 1 {
		t.Fatalf("receive binary: %v %v", r, err)
	}
	got := r.Messages[0].MessageAttributes
	if string(got["raw"].BinaryValue) != string(bin) || aws.ToString(got["raw"].DataType) != "Binary.gz" ||
		aws.ToString(got["num"].StringValue) != "-3.25e10" || aws.ToString(got["text"].StringValue) != "ünï\tcode 😀" {
		t.Fatalf("typed attributes %+v", got)
	}
}
