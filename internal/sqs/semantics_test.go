package sqs

// semantics_test.go: SQS semantics through aws-sdk-go-v2 — visibility,
// long polling, delays, counters, dead-letter queues and move tasks, FIFO,
// batches, purge, backpressure.

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func (e *testEnv) send(u, body string) string {
	e.t.Helper()
	out, err := e.client.SendMessage(ctx(e.t), &sqs.SendMessageInput{QueueUrl: &u, MessageBody: &body})
	if err != nil {
		e.t.Fatalf("SendMessage: %v", err)
	}
	return aws.ToString(out.MessageId)
}

func (e *testEnv) receive(u string, max int32, vt int32, wait int32) []types.Message {
	e.t.Helper()
	out, err := e.client.ReceiveMessage(ctx(e.t), &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: max,
		VisibilityTimeout: vt, WaitTimeSeconds: wait,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
	if err != nil {
		e.t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func (e *testEnv) release(u string, m types.Message) {
	e.t.Helper()
	if _, err := e.client.ChangeMessageVisibility(ctx(e.t), &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		e.t.Fatalf("ChangeMessageVisibility: %v", err)
	}
}

func bodies(ms []types.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, aws.ToString(m.Body))
	}
	return out
}

func TestVisibilityAndReceiptHandles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	u := e.create(e.name("vis"), nil)
	e.send(u, "v")
	first := e.receive(u, 1, 1, 0)
	if len(first) != 1 {
		t.Fatalf("first receive: %v", first)
	}
	if got := e.receive(u, 1, 0, 0); len(got) != 0 {
		t.Fatalf("received while invisible: %v", bodies(got))
	}
	time.Sleep(1100 * time.Millisecond)
	second := e.receive(u, 1, 30, 1)
	if len(second) != 1 || aws.ToString(second[0].MessageId) != aws.ToString(first[0].MessageId) {
		t.Fatalf("after the visibility timeout: %v", second)
	}
	if aws.ToString(second[0].ReceiptHandle) == aws.ToString(first[0].ReceiptHandle) {
		t.Fatal("the receipt handle did not change on the second receive")
	}
	if second[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("receive count %v", second[0].Attributes)
	}
	// The stale handle: changing visibility with it fails, deleting with it
	// succeeds and deletes nothing (as SQS documents).
	_, err := e.client.ChangeMessageVisibility(c, &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 5})
	wantAPIError(t, err, "InvalidParameterValue", 400)
	if _, err := e.client.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatalf("delete with a stale handle: %v", err)
	}
	if a := e.attrs(u, "ApproximateNumberOfMessagesNotVisible"); a["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Fatalf("the stale delete deleted: %v", a)
	}
	// A forged handle.
	_, err = e.client.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: aws.String("AQEBforged+handle==")})
	wantAPIError(t, err, "ReceiptHandleIsInvalid", 404)
	_, err = e.client.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: aws.String("bad\x01handle")})
	wantAPIError(t, err, "ReceiptHandleIsInvalid", 404)
	// Out of range visibility.
	_, err = e.client.ChangeMessageVisibility(c, &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 43201})
	wantAPIError(t, err, "InvalidParameterValue", 400)
	if _, err := e.client.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: second[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if a := e.attrs(u, "All"); a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("after delete: %v", a)
	}
}

// TestLongPollWokenBySend: a waiting ReceiveMessage returns within 100 ms
// of a send.
func TestLongPollWokenBySend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.create(e.name("poll"), nil)
	type result struct {
		msgs []types.Message
		at   time.Time
		err  error
	}
	done := make(chan result, 1)
	go func() {
		out, err := e.client.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 10})
		var msgs []types.Message
		if out != nil {
			msgs = out.Messages
		}
		done <- result{msgs, time.Now(), err}
	}()
	time.Sleep(300 * time.Millisecond) // the receive is waiting by now
	select {
	case r := <-done:
		t.Fatalf("the long poll returned before any send: %+v", r)
	default:
	}
	sent := time.Now()
	e.send(u, "wake up")
	acked := time.Now()
	r := <-done
	if r.err != nil || len(r.msgs) != 1 || aws.ToString(r.msgs[0].Body) != "wake up" {
		t.Fatalf("long poll: %+v", r)
	}
	lag := r.at.Sub(acked)
	if lag < 0 {
		lag = 0
	}
	t.Logf("send took %v; the long poll returned %v after the send was acknowledged", acked.Sub(sent), lag)
	if r.at.Sub(sent) > 100*time.Millisecond+acked.Sub(sent) || lag > 100*time.Millisecond {
		t.Fatalf("the long poll returned %v after the send (want < 100 ms)", r.at.Sub(sent))
	}

	// With nothing sent it waits the full WaitTimeSeconds and returns empty.
	start := time.Now()
	if got := e.receive(u, 1, 0, 1); len(got) != 0 {
		t.Fatalf("empty long poll returned %v", bodies(got))
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
		t.Fatalf("an empty 1 s long poll took %v", d)
	}
}

func TestDelayAndCounters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	u := e.create(e.name("count"), nil)
	for i := range 5 {
		e.send(u, fmt.Sprint("m", i))
	}
	if _, err := e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("late"), DelaySeconds: 1}); err != nil {
		t.Fatal(err)
	}
	got := e.receive(u, 2, 60, 0)
	if len(got) != 2 {
		t.Fatalf("receive 2: %v", bodies(got))
	}
	a := e.attrs(u, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
	if a["ApproximateNumberOfMessages"] != "3" || a["ApproximateNumberOfMessagesNotVisible"] != "2" || a["ApproximateNumberOfMessagesDelayed"] != "1" {
		t.Fatalf("counters %v, want 3 visible, 2 in flight, 1 delayed", a)
	}
	for _, m := range got {
		if _, err := e.client.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond)
	a = e.attrs(u, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
	if a["ApproximateNumberOfMessages"] != "4" || a["ApproximateNumberOfMessagesNotVisible"] != "0" || a["ApproximateNumberOfMessagesDelayed"] != "0" {
		t.Fatalf("counters after the delay %v, want 4 visible", a)
	}
	_, err := e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("x"), DelaySeconds: 901})
	wantAPIError(t, err, "InvalidParameterValue", 400)
}

// TestDeadLetterAndMoveTask: a poison message lands in the DLQ after
// maxReceiveCount receives, and a move task brings it back.
func TestDeadLetterAndMoveTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	dlq := e.create(e.name("dlq"), nil)
	dlqARN := e.arn(dlq)
	src := e.create(e.name("src"), map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":2}`, dlqARN),
	})
	srcARN := e.arn(src)
	id := e.send(src, "poison")
	e.send(src, "fine")
	for i := 1; i <= 2; i++ {
		var poison *types.Message
		for _, m := range e.receive(src, 10, 30, 1) {
			if aws.ToString(m.Body) == "poison" {
				poison = &m
			} else {
				e.client.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: &src, ReceiptHandle: m.ReceiptHandle})
			}
		}
		if poison == nil || poison.Attributes["ApproximateReceiveCount"] != strconv.Itoa(i) {
			t.Fatalf("receive %d: poison %+v", i, poison)
		}
		e.release(src, *poison)
	}
	// The third receive finds it past maxReceiveCount: moved, not returned.
	if got := e.receive(src, 10, 30, 1); len(got) != 0 {
		t.Fatalf("the poison message was delivered a third time: %v", bodies(got))
	}
	if a := e.attrs(dlq, "ApproximateNumberOfMessages"); a["ApproximateNumberOfMessages"] != "1" {
		t.Fatalf("DLQ %v", a)
	}
	srcs, err := e.client.ListDeadLetterSourceQueues(c, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq})
	if err != nil || !slices.Equal(srcs.QueueUrls, []string{src}) {
		t.Fatalf("ListDeadLetterSourceQueues: %v %v", srcs, err)
	}
	// Look at it in the DLQ: same id and body, its source recorded.
	in := e.receive(dlq, 1, 30, 1)
	if len(in) != 1 || aws.ToString(in[0].MessageId) != id || in[0].Attributes["DeadLetterQueueSourceArn"] != srcARN {
		t.Fatalf("in the DLQ: %+v", in)
	}
	e.release(dlq, in[0])

	// Validation of the move task API.
	_, err = e.client.StartMessageMoveTask(c, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(srcARN)})
	if code, _ := apiCode(err); code == "" {
		t.Fatal("a move task from a queue that is not a DLQ was accepted")
	}
	_, err = e.client.StartMessageMoveTask(c, &sqs.StartMessageMoveTaskInput{SourceArn: &dlqARN, MaxNumberOfMessagesPerSecond: aws.Int32(501)})
	wantAPIError(t, err, "InvalidParameterValue", 400)

	task, err := e.client.StartMessageMoveTask(c, &sqs.StartMessageMoveTaskInput{SourceArn: &dlqARN})
	if err != nil || aws.ToString(task.TaskHandle) == "" {
		t.Fatalf("StartMessageMoveTask: %v %v", task, err)
	}
	var last types.ListMessageMoveTasksResultEntry
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, err := e.client.ListMessageMoveTasks(c, &sqs.ListMessageMoveTasksInput{SourceArn: &dlqARN, MaxResults: aws.Int32(10)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Results) > 0 {
			last = out.Results[0]
			if aws.ToString(last.Status) == "COMPLETED" {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if aws.ToString(last.Status) != "COMPLETED" || last.ApproximateNumberOfMessagesMoved != 1 || aws.ToString(last.SourceArn) != dlqARN {
		t.Fatalf("move task %+v", last)
	}
	back := e.receive(src, 1, 30, 2)
	if len(back) != 1 || aws.ToString(back[0].Body) != "poison" {
		t.Fatalf("after the move task: %v", bodies(back))
	}
	if a := e.attrs(dlq, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"); a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("DLQ after the move %v", a)
	}
	// Cancelling a finished task fails.
	_, err = e.client.CancelMessageMoveTask(c, &sqs.CancelMessageMoveTaskInput{TaskHandle: task.TaskHandle})
	if code, _ := apiCode(err); code == "" {
		t.Fatal("cancelling a completed task succeeded")
	}
}

// TestMoveTaskCancel: a slow task (1 message/s) cancelled part way.
func TestMoveTaskCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	dlq := e.create(e.name("dlq"), nil)
	dlqARN := e.arn(dlq)
	dest := e.create(e.name("dest"), nil)
	// A move task's source must be a DLQ: some queue's RedrivePolicy names it.
	e.create(e.name("src"), map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":3}`, dlqARN)})
	for i := range 5 {
		e.send(dlq, fmt.Sprint("d", i))
	}
	task, err := e.client.StartMessageMoveTask(c, &sqs.StartMessageMoveTaskInput{SourceArn: &dlqARN, DestinationArn: aws.String(e.arn(dest)), MaxNumberOfMessagesPerSecond: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.StartMessageMoveTask(c, &sqs.StartMessageMoveTaskInput{SourceArn: &dlqARN})
	if code, _ := apiCode(err); code == "" {
		t.Fatal("a second task on the same source was accepted")
	}
	time.Sleep(300 * time.Millisecond)
	out, err := e.client.CancelMessageMoveTask(c, &sqs.CancelMessageMoveTaskInput{TaskHandle: task.TaskHandle})
	if err != nil {
		t.Fatal(err)
	}
	if out.ApproximateNumberOfMessagesMoved >= 5 {
		t.Fatalf("a 1/s task moved %d messages in 0.3 s", out.ApproximateNumberOfMessagesMoved)
	}
	time.Sleep(100 * time.Millisecond)
	list, err := e.client.ListMessageMoveTasks(c, &sqs.ListMessageMoveTasksInput{SourceArn: &dlqARN})
	if err != nil || len(list.Results) != 1 {
		t.Fatalf("ListMessageMoveTasks: %v %v", list, err)
	}
	if s := aws.ToString(list.Results[0].Status); s != "CANCELLED" && s != "CANCELLING" {
		t.Fatalf("status %s", s)
	}
	a, b := e.attrs(dlq, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"], e.attrs(dest, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"]
	na, _ := strconv.Atoi(a)
	nb, _ := strconv.Atoi(b)
	if na+nb != 5 {
		t.Fatalf("messages lost or doubled by the cancel: %d left + %d moved", na, nb)
	}
}

func TestFIFO(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	u := e.create(e.name("q.fifo"), map[string]string{"FifoQueue": "true"})
	var seqs []*big.Int
	sendF := func(body, group, dedup string) *sqs.SendMessageOutput {
		out, err := e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: &body, MessageGroupId: &group, MessageDeduplicationId: &dedup})
		if err != nil {
			t.Fatalf("send %s: %v", body, err)
		}
		return out
	}
	for i := range 4 {
		out := sendF(fmt.Sprint("a", i), "A", fmt.Sprint("a", i))
		n, ok := new(big.Int).SetString(aws.ToString(out.SequenceNumber), 10)
		if !ok {
			t.Fatalf("SequenceNumber %q", aws.ToString(out.SequenceNumber))
		}
		seqs = append(seqs, n)
	}
	sendF("b0", "B", "b0")
	dup := sendF("a0 again", "A", "a0") // deduplicated: same id back, not queued
	if !slices.IsSortedFunc(seqs, (*big.Int).Cmp) || seqs[0].Cmp(seqs[3]) == 0 {
		t.Fatalf("sequence numbers %v", seqs)
	}
	_ = dup
	// Batch sends keep order too.
	entries := []types.SendMessageBatchRequestEntry{}
	for i := 4; i < 6; i++ {
		entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("e", i)), MessageBody: aws.String(fmt.Sprint("a", i)),
			MessageGroupId: aws.String("A"), MessageDeduplicationId: aws.String(fmt.Sprint("a", i))})
	}
	if out, err := e.client.SendMessageBatch(c, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: entries}); err != nil || len(out.Successful) != 2 {
		t.Fatalf("batch: %v %v", out, err)
	}

	// ReceiveRequestAttemptId: a retried receive gets the same messages.
	attempt := aws.String("attempt-1")
	r1, err := e.client.ReceiveMessage(c, &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 3, ReceiveRequestAttemptId: attempt,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.client.ReceiveMessage(c, &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 3, ReceiveRequestAttemptId: attempt})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bodies(r1.Messages), bodies(r2.Messages)) || len(r1.Messages) == 0 {
		t.Fatalf("attempt retry: %v vs %v", bodies(r1.Messages), bodies(r2.Messages))
	}
	if r1.Messages[0].Attributes["MessageGroupId"] == "" || r1.Messages[0].Attributes["SequenceNumber"] == "" || r1.Messages[0].Attributes["MessageDeduplicationId"] == "" {
		t.Fatalf("FIFO system attributes %v", r1.Messages[0].Attributes)
	}
	// Drain: per group the order is the send order; a group is held while
	// one of its messages is in flight.
	got := map[string][]string{}
	held := r2.Messages
	for range 20 {
		if len(held) == 0 {
			held = e.receive(u, 10, 30, 0)
			if len(held) == 0 {
				break
			}
		}
		for _, m := range held {
			b := aws.ToString(m.Body)
			got[b[:1]] = append(got[b[:1]], b)
		}
		// While these are in flight no later message of their groups comes.
		for _, m := range e.receive(u, 10, 30, 0) {
			for _, h := range held {
				if aws.ToString(h.Body)[:1] == aws.ToString(m.Body)[:1] {
					t.Fatalf("got %s while %s of the same group was in flight", aws.ToString(m.Body), aws.ToString(h.Body))
				}
			}
			b := aws.ToString(m.Body)
			got[b[:1]] = append(got[b[:1]], b)
			held = append(held, m)
		}
		for _, m := range held {
			e.client.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: m.ReceiptHandle})
		}
		held = nil
	}
	if strings.Join(got["a"], ",") != "a0,a1,a2,a3,a4,a5" || strings.Join(got["b"], ",") != "b0" {
		t.Fatalf("order per group: %v", got)
	}

	// FIFO rules.
	_, err = e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("x")})
	wantAPIError(t, err, "MissingParameter", 400)
	_, err = e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("x"), MessageGroupId: aws.String("g")})
	wantAPIError(t, err, "InvalidParameterValue", 400)
	_, err = e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("x"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("x"), DelaySeconds: 5})
	wantAPIError(t, err, "InvalidParameterValue", 400)

	// Content-based deduplication.
	cb := e.create(e.name("cb.fifo"), map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	for range 3 {
		if _, err := e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &cb, MessageBody: aws.String("same"), MessageGroupId: aws.String("g")}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.receive(cb, 10, 30, 0); len(got) != 1 {
		t.Fatalf("content-based dedup: %d messages", len(got))
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	u := e.create(e.name("batch"), nil)
	tooMany := map[string]types.MessageAttributeValue{}
	for i := range 11 {
		tooMany[fmt.Sprint("a", i)] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("x")}
	}
	out, err := e.client.SendMessageBatch(c, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("ok1"), MessageBody: aws.String("one")},
		{Id: aws.String("badchar"), MessageBody: aws.String("bad \x00 char")},
		{Id: aws.String("attrs"), MessageBody: aws.String("x"), MessageAttributes: tooMany},
		{Id: aws.String("delay"), MessageBody: aws.String("x"), DelaySeconds: 1000},
		{Id: aws.String("ok2"), MessageBody: aws.String("two")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var okIDs, failed []string
	for _, s := range out.Successful {
		okIDs = append(okIDs, aws.ToString(s.Id))
	}
	codes := map[string]string{}
	for _, f := range out.Failed {
		failed = append(failed, aws.ToString(f.Id))
		codes[aws.ToString(f.Id)] = aws.ToString(f.Code)
		if !f.SenderFault {
			t.Errorf("entry %s: SenderFault false", aws.ToString(f.Id))
		}
	}
	slices.Sort(okIDs)
	slices.Sort(failed)
	if !slices.Equal(okIDs, []string{"ok1", "ok2"}) || !slices.Equal(failed, []string{"attrs", "badchar", "delay"}) {
		t.Fatalf("successful %v failed %v", okIDs, failed)
	}
	if codes["badchar"] != "InvalidMessageContents" || codes["attrs"] != "InvalidParameterValue" || codes["delay"] != "InvalidParameterValue" {
		t.Fatalf("codes %v", codes)
	}
	if a := e.attrs(u, "ApproximateNumberOfMessages"); a["ApproximateNumberOfMessages"] != "2" {
		t.Fatalf("queue holds %v after a partial batch, want 2", a)
	}

	// Whole-request failures send nothing.
	entries := func(n int, size int) []types.SendMessageBatchRequestEntry {
		var es []types.SendMessageBatchRequestEntry
		for i := range n {
			es = append(es, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("e", i)), MessageBody: aws.String(strings.Repeat("x", size))})
		}
		return es
	}
	_, err = e.client.SendMessageBatch(c, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: entries(11, 1)})
	wantAPIError(t, err, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400)
	_, err = e.client.SendMessageBatch(c, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: []types.SendMessageBatchRequestEntry{}})
	wantAPIError(t, err, "AWS.SimpleQueueService.EmptyBatchRequest", 400)
	dup := entries(2, 1)
	dup[1].Id = dup[0].Id
	_, err = e.client.SendMessageBatch(c, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: dup})
	wantAPIError(t, err, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400)
	bad := entries(1, 1)
	bad[0].Id = aws.String("no spaces")
	_, err = e.client.SendMessageBatch(c, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: bad})
	wantAPIError(t, err, "AWS.SimpleQueueService.InvalidBatchEntryId", 400)
	big := entries(2, 512*1024) // 1 MiB exactly is fine …
	if _, err := e.client.SendMessageBatch(c, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: big}); err != nil {
		t.Fatalf("a 1 MiB batch: %v", err)
	}
	big[1].MessageBody = aws.String(strings.Repeat("x", 512*1024+1)) // … one byte more is not
	_, err = e.client.SendMessageBatch(c, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: big})
	wantAPIError(t, err, "AWS.SimpleQueueService.BatchRequestTooLong", 400)
	if a := e.attrs(u, "ApproximateNumberOfMessages"); a["ApproximateNumberOfMessages"] != "4" {
		t.Fatalf("whole-request failures wrote something: %v", a)
	}

	// DeleteMessageBatch and ChangeMessageVisibilityBatch fail per entry.
	got := e.receive(u, 10, 60, 0)
	if len(got) != 4 {
		t.Fatalf("received %d", len(got))
	}
	del, err := e.client.DeleteMessageBatch(c, &sqs.DeleteMessageBatchInput{QueueUrl: &u, Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("a"), ReceiptHandle: got[0].ReceiptHandle},
		{Id: aws.String("forged"), ReceiptHandle: aws.String("forged-handle")},
		{Id: aws.String("b"), ReceiptHandle: got[1].ReceiptHandle},
	}})
	if err != nil || len(del.Successful) != 2 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Code) != "ReceiptHandleIsInvalid" {
		t.Fatalf("DeleteMessageBatch: %+v %v", del, err)
	}
	cv, err := e.client.ChangeMessageVisibilityBatch(c, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &u, Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
		{Id: aws.String("c"), ReceiptHandle: got[2].ReceiptHandle, VisibilityTimeout: 0},
		{Id: aws.String("range"), ReceiptHandle: got[3].ReceiptHandle, VisibilityTimeout: 50000},
		{Id: aws.String("deleted"), ReceiptHandle: got[0].ReceiptHandle, VisibilityTimeout: 0},
	}})
	if err != nil || len(cv.Successful) != 1 || len(cv.Failed) != 2 {
		t.Fatalf("ChangeMessageVisibilityBatch: %+v %v", cv, err)
	}
	if a := e.attrs(u, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"); a["ApproximateNumberOfMessages"] != "1" || a["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Fatalf("after the batches: %v", a)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	u := e.create(e.name("purge"), nil)
	for range 3 {
		e.send(u, "x")
	}
	if _, err := e.client.PurgeQueue(c, &sqs.PurgeQueueInput{QueueUrl: &u}); err != nil {
		t.Fatal(err)
	}
	if got := e.receive(u, 10, 30, 0); len(got) != 0 {
		t.Fatalf("after purge: %v", bodies(got))
	}
	_, err := e.client.PurgeQueue(c, &sqs.PurgeQueueInput{QueueUrl: &u})
	wantAPIError(t, err, "AWS.SimpleQueueService.PurgeQueueInProgress", 403)
}

// TestBackpressure: Sluice's SluiceMaximumDepth extension answers sends
// past the depth with RequestThrottled (HTTP 400), which the SDKs retry.
func TestBackpressure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	u := e.create(e.name("bp"), map[string]string{"SluiceMaximumDepth": "2"})
	e.send(u, "1")
	e.send(u, "2")
	_, err := e.client.SendMessage(c, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("3")})
	wantAPIError(t, err, "RequestThrottled", 400)
	r := e.postJSON("SendMessage", fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":"4"}`, u))
	if typ, _ := r.jsonErr(t); r.status != 400 || typ != "com.amazonaws.sqs#RequestThrottled" || r.header.Get("x-amzn-query-error") != "RequestThrottled;Sender" {
		t.Fatalf("raw: %d %s %v", r.status, r.body, r.header)
	}
	got := e.receive(u, 1, 30, 0)
	e.client.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: got[0].ReceiptHandle})
	e.send(u, "room again")
}

// TestConcurrentClients: several clients sending and receiving at once
// lose and duplicate nothing (visibility long enough for no redelivery).
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	u := e.create(e.name("conc"), nil)
	const producers, per = 4, 50
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := 0; i < per; i += 10 {
				var es []types.SendMessageBatchRequestEntry
				for j := i; j < i+10; j++ {
					es = append(es, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("e", j)), MessageBody: aws.String(fmt.Sprintf("p%d-%d", p, j))})
				}
				if _, err := e.client.SendMessageBatch(c, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: es}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	seen := map[string]int{}
	for range 3 {
		wg.Go(func() {
			for {
				out, err := e.client.ReceiveMessage(c, &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60})
				if err != nil {
					t.Error(err)
					return
				}
				if len(out.Messages) == 0 {
					mu.Lock()
					n := len(seen)
					mu.Unlock()
					if n >= producers*per {
						return
					}
					continue
				}
				var es []types.DeleteMessageBatchRequestEntry
				mu.Lock()
				for i, m := range out.Messages {
					seen[aws.ToString(m.Body)]++
					es = append(es, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
				}
				mu.Unlock()
				if _, err := e.client.DeleteMessageBatch(c, &sqs.DeleteMessageBatchInput{QueueUrl: &u, Entries: es}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != producers*per {
		t.Fatalf("received %d distinct messages, want %d", len(seen), producers*per)
	}
	for b, n := range seen {
		if n != 1 {
			t.Fatalf("%s received %d times", b, n)
		}
	}
}
