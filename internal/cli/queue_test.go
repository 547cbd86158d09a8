package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sluice-mq/sluice/broker"
)

// httpAddrOf maps the SQS endpoint of a test broker to its HTTP listener,
// which sqsCLI passes to the commands that use the admin API.
var httpAddrOf sync.Map

// startSQSBroker starts an in-process broker serving SQS and the HTTP
// listener (admin API) and returns its SQS endpoint URL.
func startSQSBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.Open(broker.Config{
		DataDir:   t.TempDir(),
		KafkaAddr: broker.Disabled,
		SQSAddr:   "127.0.0.1:0",
		HTTPAddr:  "127.0.0.1:0",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("broker close: %v", err)
		}
	})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ep := "http://" + b.Addrs().SQS
	httpAddrOf.Store(ep, b.Addrs().HTTP)
	t.Cleanup(func() { httpAddrOf.Delete(ep) })
	return ep
}

// sluice runs a CLI command against endpoint and returns stdout; a non-zero
// exit fails the test unless wantFail.
func sqsCLI(t *testing.T, endpoint string, wantFail bool, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append(append([]string{}, args...), "--sqs-endpoint", endpoint)
	if a, ok := httpAddrOf.Load(endpoint); ok && len(args) >= 2 && args[0] == "dlq" && args[1] == "peek" {
		full = append(full, "--http-addr", a.(string))
	}
	code := run(ctx, full, &out, &errOut)
	if (code != 0) != wantFail {
		t.Fatalf("sluice %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	if wantFail {
		return errOut.String()
	}
	return out.String()
}

func sqsClient(t *testing.T, endpoint string) *sqs.Client {
	c, err := (&sqsFlags{endpoint: endpoint}).client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestQueueCommands(t *testing.T) {
	ep := startSQSBroker(t)
	out := sqsCLI(t, ep, false, "queue", "create", "jobs-dlq")
	if !strings.Contains(out, "Created queue jobs-dlq: "+ep+"/000000000000/jobs-dlq") {
		t.Fatalf("create: %s", out)
	}
	sqsCLI(t, ep, false, "queue", "create", "jobs", "--dlq", "jobs-dlq", "--max-receive-count", "3", "--attr", "VisibilityTimeout=45", "--tag", "team=a")
	sqsCLI(t, ep, false, "queue", "create", "ordered.fifo", "--fifo")
	errOut := sqsCLI(t, ep, true, "queue", "create", "bad name")
	if !strings.Contains(errOut, "InvalidParameterValue") {
		t.Fatalf("bad name: %s", errOut)
	}

	c := sqsClient(t, ep)
	u := ep + "/000000000000/jobs"
	for i := range 3 {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String(fmt.Sprint("job ", i))}); err != nil {
			t.Fatal(err)
		}
	}
	out = sqsCLI(t, ep, false, "queue", "list")
	if !strings.Contains(out, "QUEUE") || !regexpMatch(out, `jobs\s+standard\s+3\s+0\s+0`) || !regexpMatch(out, `ordered\.fifo\s+fifo`) {
		t.Fatalf("list: %s", out)
	}
	var rows []queueRow
	if err := json.Unmarshal([]byte(sqsCLI(t, ep, false, "queue", "list", "--prefix", "jobs", "--json")), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("list --json: %v %v", rows, err)
	}
	var stats struct {
		Attributes map[string]string `json:"attributes"`
		Tags       map[string]string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(sqsCLI(t, ep, false, "queue", "stats", "jobs", "--json")), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Attributes["ApproximateNumberOfMessages"] != "3" || stats.Attributes["VisibilityTimeout"] != "45" ||
		!strings.Contains(stats.Attributes["RedrivePolicy"], "jobs-dlq") || stats.Tags["team"] != "a" {
		t.Fatalf("stats: %+v", stats)
	}
	if out := sqsCLI(t, ep, false, "queue", "stats", u); !regexpMatch(out, `ApproximateNumberOfMessages +3\n`) {
		t.Fatalf("stats by URL: %s", out)
	}
	sqsCLI(t, ep, false, "queue", "purge", "jobs")
	if errOut := sqsCLI(t, ep, true, "queue", "purge", "jobs"); !strings.Contains(errOut, "PurgeQueueInProgress") {
		t.Fatalf("second purge: %s", errOut)
	}
	sqsCLI(t, ep, false, "queue", "delete", "ordered.fifo")
	if errOut := sqsCLI(t, ep, true, "queue", "delete", "ordered.fifo"); !strings.Contains(errOut, "NonExistentQueue") {
		t.Fatalf("delete missing: %s", errOut)
	}
	sqsCLI(t, ep, false, "queue", "delete", "ordered.fifo", "--if-exists")
	if errOut := sqsCLI(t, ep, true, "queue", "frobnicate"); !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown: %s", errOut)
	}
}

func regexpMatch(s, re string) bool {
	return regexp.MustCompile(re).MatchString(s)
}

func TestDLQCommands(t *testing.T) {
	ep := startSQSBroker(t)
	sqsCLI(t, ep, false, "queue", "create", "work-dlq")
	sqsCLI(t, ep, false, "queue", "create", "work", "--dlq", "work-dlq", "--max-receive-count", "1")
	sqsCLI(t, ep, false, "queue", "create", "other")
	c := sqsClient(t, ep)
	ctx := context.Background()
	work, dlq := ep+"/000000000000/work", ep+"/000000000000/work-dlq"

	// Four poison messages reach the DLQ through the redrive policy.
	for i := range 4 {
		kind := "keep"
		if i%2 == 0 {
			kind = "retry"
		}
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &work, MessageBody: aws.String(fmt.Sprintf("order %d failed", i)),
			MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String(kind)}}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &work, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &work, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
		}
		if attr(t, c, dlq, "ApproximateNumberOfMessages") == "4" {
			break
		}
	}
	if n := attr(t, c, dlq, "ApproximateNumberOfMessages"); n != "4" {
		t.Fatalf("DLQ holds %s", n)
	}

	out := sqsCLI(t, ep, false, "dlq", "list")
	if !regexpMatch(out, `work-dlq\s+standard\s+4\s+0\s+0\s+work\n`) || strings.Contains(out, "other") {
		t.Fatalf("dlq list: %s", out)
	}
	// Peek through the admin API (the default): it neither leases nor
	// counts a receive, so two peeks see the same receive counts.
	peekJSON := func(args ...string) []peekedMessage {
		t.Helper()
		var p []peekedMessage
		if err := json.Unmarshal([]byte(sqsCLI(t, ep, false, append([]string{"dlq", "peek", "work-dlq", "--json"}, args...)...)), &p); err != nil {
			t.Fatalf("peek %v: %v", args, err)
		}
		return p
	}
	counts := func(p []peekedMessage) map[string]int {
		m := map[string]int{}
		for _, pm := range p {
			m[pm.MessageID] = pm.ReceiveCount
		}
		return m
	}
	peeked := peekJSON("--max", "3")
	if len(peeked) != 3 {
		t.Fatalf("peek --max 3: %+v", peeked)
	}
	if peeked[0].SourceQueue != "work" || peeked[0].Attributes["kind"] == "" || peeked[0].System != nil {
		t.Fatalf("peeked %+v", peeked[0])
	}
	before := counts(peekJSON("--max", "10"))
	if len(before) != 4 {
		t.Fatalf("peek of 4: %v", before)
	}
	if out := sqsCLI(t, ep, false, "dlq", "peek", "work-dlq"); !strings.Contains(out, "from work") || !strings.Contains(out, "kind = ") {
		t.Fatalf("peek text: %s", out)
	}
	if again := counts(peekJSON()); fmt.Sprint(again) != fmt.Sprint(before) {
		t.Fatalf("admin-API peeks changed receive counts: %v, then %v", before, again)
	}
	// --via sqs receives (and releases) each message: one receive more.
	viaSQS := peekJSON("--via", "sqs")
	if len(viaSQS) != 4 || viaSQS[0].System["DeadLetterQueueSourceArn"] == "" || viaSQS[0].SourceQueue != "work" || viaSQS[0].Attributes["kind"] == "" {
		t.Fatalf("peek --via sqs: %+v", viaSQS)
	}
	for id, n := range counts(viaSQS) {
		if n != before[id]+1 {
			t.Fatalf("--via sqs: message %s received %d times, had %d", id, n, before[id])
		}
	}
	if after := counts(peekJSON()); fmt.Sprint(after) != fmt.Sprint(counts(viaSQS)) {
		t.Fatalf("after --via sqs the admin API shows %v, want %v", after, counts(viaSQS))
	}
	if out := sqsCLI(t, ep, false, "dlq", "peek", "work-dlq", "--via", "sqs", "--match-attr", "kind=keep"); strings.Count(out, "kind = keep") != 2 || strings.Contains(out, "kind = retry") {
		t.Fatalf("peek --via sqs --match-attr: %s", out)
	}
	// Peeking put everything back.
	if n := attr(t, c, dlq, "ApproximateNumberOfMessages"); n != "4" {
		t.Fatalf("after peek the DLQ shows %s visible", n)
	}

	out = sqsCLI(t, ep, false, "dlq", "redrive", "work-dlq", "--match-attr", "kind=retry", "--dry-run")
	if !strings.Contains(out, "2 of 4 messages scanned in work-dlq match") {
		t.Fatalf("dry run: %s", out)
	}
	if n := attr(t, c, work, "ApproximateNumberOfMessages"); n != "0" {
		t.Fatalf("the dry run moved messages: %s", n)
	}
	start := time.Now()
	out = sqsCLI(t, ep, false, "dlq", "redrive", "work-dlq", "--match-attr", "kind=retry", "--match-body", `order \d failed`, "--rate", "5")
	if !strings.Contains(out, "Moved 2 of 4 messages") {
		t.Fatalf("filtered redrive: %s", out)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("--rate 5 moved 2 messages in %v", d)
	}
	if n := attr(t, c, work, "ApproximateNumberOfMessages"); n != "2" {
		t.Fatalf("work holds %s after the filtered redrive", n)
	}
	if n := attr(t, c, dlq, "ApproximateNumberOfMessages"); n != "2" {
		t.Fatalf("the DLQ holds %s visible after the filtered redrive", n)
	}
	r, _ := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &work, MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	for _, m := range r.Messages {
		if aws.ToString(m.MessageAttributes["kind"].StringValue) != "retry" {
			t.Fatalf("redriven a %s message", aws.ToString(m.MessageAttributes["kind"].StringValue))
		}
	}

	// The rest through a move task, to another queue.
	out = sqsCLI(t, ep, false, "dlq", "redrive", "work-dlq", "--to", "other", "--rate", "100")
	if !strings.Contains(out, "Moved 2 messages") {
		t.Fatalf("move task: %s", out)
	}
	if n := attr(t, c, ep+"/000000000000/other", "ApproximateNumberOfMessages"); n != "2" {
		t.Fatalf("other holds %s", n)
	}
	if out := sqsCLI(t, ep, false, "dlq", "redrive", "work-dlq", "--dry-run"); !strings.Contains(out, "Dry run: 0 messages would move") {
		t.Fatalf("dry run of an empty DLQ: %s", out)
	}
	if errOut := sqsCLI(t, ep, true, "dlq", "redrive", "work-dlq", "--match-body", "("); !strings.Contains(errOut, "--match-body") {
		t.Fatalf("bad regexp: %s", errOut)
	}
}

func attr(t *testing.T, c *sqs.Client, u, name string) string {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &u, AttributeNames: []types.QueueAttributeName{types.QueueAttributeName(name)}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes[name]
}
