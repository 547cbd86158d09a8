package sluice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Fetch maps SQS's fields onto Message; Ack deletes in shared batches.
func TestSQSSourceFetchAndBatchedAck(t *testing.T) {
	e := newWEnv(t, 30)
	ids := e.send(t, e.url, 25)
	src := e.source(t, nil)
	defer src.Close(context.Background())
	ctx := wCtx(t, 10*time.Second)
	var got []*Message
	for len(got) < 25 {
		ms, err := src.Fetch(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > 10 {
			t.Fatalf("fetched %d at once", len(ms))
		}
		got = append(got, ms...)
	}
	m := got[0]
	if m.Source != "jobs" || m.Attempt != 1 || m.Timestamp.IsZero() || m.FirstAttempt.IsZero() ||
		"m-"+m.Attributes["n"] != string(m.Body) || m.ID == "" {
		t.Fatalf("message %+v", m)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(got))
	for _, m := range got { // concurrent acks share DeleteMessageBatch calls
		wg.Go(func() { errs <- src.Ack(ctx, m) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if v, f := e.counts(t, e.url); v+f != 0 {
		t.Fatalf("queue holds %d+%d after acking all %d", v, f, len(ids))
	}
	if err := src.Ack(ctx, &Message{ID: "x"}); !errors.Is(err, ErrForeignMessage) {
		t.Fatalf("foreign ack: %v", err)
	}
}

// Pause stops receiving (a waiting Fetch keeps waiting); Resume receives again; Close hands
// back what is still held.
func TestSQSSourcePauseResumeClose(t *testing.T) {
	e := newWEnvParallel(t, 60)
	src := e.source(t, nil)
	ctx := wCtx(t, 20*time.Second)
	got := make(chan []*Message, 1)
	go func() {
		ms, err := src.Fetch(ctx, 10)
		if err != nil {
			t.Error(err)
		}
		got <- ms
	}()
	time.Sleep(100 * time.Millisecond) // Fetch is long-polling an empty queue
	src.Pause()
	time.Sleep(2 * abandonGrace) // the long poll in flight is cut
	e.send(t, e.url, 3)
	select {
	case ms := <-got:
		t.Fatalf("fetched %d while paused", len(ms))
	case <-time.After(1500 * time.Millisecond): // longer than WaitTime: the receive is not re-issued
	}
	if v, _ := e.counts(t, e.url); v != 3 {
		t.Fatalf("%d visible while paused, want 3", v)
	}
	src.Resume()
	var ms []*Message
	select {
	case ms = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no fetch after Resume")
	}
	if len(ms) != 3 {
		t.Fatalf("fetched %d", len(ms))
	}
	if err := src.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.counts(t, e.url); v != 3 { // released at once, not after the 60s lease
		t.Fatalf("%d visible after Close, want 3", v)
	}
	if _, err := src.Fetch(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Fetch after Close: %v", err)
	}
}

// DeadLetter keeps all attributes: with the original's 10 (SQS's maximum), the one that does
// not fit beside the diagnostics is folded into them, and Redrive restores it.
func TestSQSSourceDeadLetterTenAttributes(t *testing.T) {
	e := newWEnv(t, 30)
	attrs := map[string]types.MessageAttributeValue{}
	for i := range 9 {
		attrs[fmt.Sprintf("a%d", i)] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(strconv.Itoa(i))}
	}
	attrs["zz"] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("last")}
	ctx := wCtx(t, 10*time.Second)
	if _, err := e.cl.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.url), MessageBody: aws.String("ten"), MessageAttributes: attrs}); err != nil {
		t.Fatal(err)
	}
	src := e.source(t, nil)
	defer src.Close(context.Background())
	ms, err := src.Fetch(ctx, 1)
	if err != nil || len(ms) != 1 {
		t.Fatal(ms, err)
	}
	d := Diagnostics{Source: "jobs", Attempts: 4, LastError: "nope", FirstAttempt: time.Now().Add(-time.Minute), LastAttempt: time.Now(), WorkerID: "w", WorkerVersion: "v"}
	if err := src.DeadLetter(ctx, ms[0], d); err != nil {
		t.Fatal(err)
	}
	dl := e.drain(t, e.dlq)
	if len(dl) != 1 || len(dl[0].MessageAttributes) != 10 {
		t.Fatalf("DLQ: %d messages, attributes %v", len(dl), dl[0].MessageAttributes)
	}
	var sd sqsDiagnostics
	if err := json.Unmarshal([]byte(aws.ToString(dl[0].MessageAttributes[DiagnosticsAttribute].StringValue)), &sd); err != nil {
		t.Fatal(err)
	}
	if sd.ExtraAttributes["zz"] != "last" || sd.Attempts != 4 || sd.LastError != "nope" {
		t.Fatalf("diagnostics %+v", sd)
	}
	if v, f := e.counts(t, e.url); v+f != 0 {
		t.Fatal("original not deleted")
	}
	// Release the scan's hold and redrive it home.
	releaseAll(t, e, e.dlq, dl)
	res, err := Redrive(ctx, RedriveConfig{Client: e.cl, From: e.dlq, Logger: wQuiet()})
	if err != nil || res.Moved != 1 {
		t.Fatal(res, err)
	}
	back := e.drain(t, e.url)
	if len(back) != 1 || len(back[0].MessageAttributes) != 10 || aws.ToString(back[0].MessageAttributes["zz"].StringValue) != "last" {
		t.Fatalf("redriven: %v", back)
	}
	if _, has := back[0].MessageAttributes[DiagnosticsAttribute]; has {
		t.Fatal("redriven message still carries diagnostics")
	}
}

func releaseAll(t *testing.T, e *wEnv, url string, ms []types.Message) {
	t.Helper()
	for _, m := range ms {
		if _, err := e.cl.ChangeMessageVisibility(wCtx(t, 5*time.Second), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
			t.Fatal(err)
		}
	}
}

// Backlog reports the depth and an estimate of the oldest waiting message's age.
func TestSQSSourceBacklog(t *testing.T) {
	e := newWEnv(t, 30)
	e.send(t, e.url, 30)
	src := e.source(t, nil)
	defer src.Close(context.Background())
	ctx := wCtx(t, 10*time.Second)
	b, err := src.Backlog(ctx)
	if err != nil || b.Depth != 30 || b.OldestAge != 0 {
		t.Fatalf("before any receive: %+v %v", b, err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := src.Fetch(ctx, 10); err != nil {
		t.Fatal(err)
	}
	b, err = src.Backlog(ctx)
	if err != nil || b.Depth != 20 || b.OldestAge < 250*time.Millisecond || b.OldestAge > 5*time.Second {
		t.Fatalf("after a receive: %+v %v", b, err)
	}
}

func TestSQSSourceConfigErrors(t *testing.T) {
	for _, c := range []SQSSourceConfig{
		{},
		{QueueURL: "http://x/q"}, // neither Client nor Endpoint
		{QueueURL: "http://x/q", Endpoint: "127.0.0.1:1", WaitTime: 21 * time.Second},
		{QueueURL: "http://x/q", Endpoint: "127.0.0.1:1", MaxMessages: 11},
	} {
		if s, err := NewSQSSource(c); err == nil {
			s.Close(context.Background())
			t.Errorf("%+v: no error", c)
		}
	}
}
