package sluice

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/goleak"

	"github.com/sluice-mq/sluice/sluicetest"
)

// wLeakCheck fails the test if it leaves goroutines behind. Registered before the broker, so
// that it runs after the broker's own cleanup.
func wLeakCheck(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func wQuiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// wEnv is an in-process broker with a work queue and its dead-letter queue.
type wEnv struct {
	b        *sluicetest.Broker
	cl       *sqs.Client
	url, dlq string
	name     string
}

// newWEnv starts the broker for a sequential test, with a goroutine leak check.
func newWEnv(t *testing.T, visibility int) *wEnv {
	t.Helper()
	wLeakCheck(t)
	return startWEnv(t, visibility)
}

// newWEnvParallel is newWEnv for a test that runs in parallel with others (mostly waiting on
// timers) and so cannot check for leaked goroutines; the sequential tests do that.
func newWEnvParallel(t *testing.T, visibility int) *wEnv {
	t.Helper()
	t.Parallel()
	return startWEnv(t, visibility)
}

func startWEnv(t *testing.T, visibility int) *wEnv {
	t.Helper()
	b := sluicetest.NewBroker(t)
	e := &wEnv{b: b, cl: b.SQSClient(), name: "jobs"}
	e.dlq = b.CreateQueue("jobs-dlq", nil)
	e.url = b.CreateQueue("jobs", map[string]string{"VisibilityTimeout": strconv.Itoa(visibility)})
	return e
}

func wCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// send publishes n messages "m-0"… with attribute n=<i> and returns their ids.
func (e *wEnv) send(t *testing.T, url string, n int) []string {
	t.Helper()
	ctx := wCtx(t, 30*time.Second)
	var ids []string
	for i := 0; i < n; i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := i; j < min(n, i+10); j++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(fmt.Sprintf("m-%d", j)),
				MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(j))}},
			})
		}
		out, err := e.cl.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("send: %v %v", err, out)
		}
		for _, s := range out.Successful {
			ids = append(ids, aws.ToString(s.MessageId))
		}
	}
	return ids
}

func (e *wEnv) source(t *testing.T, mod func(*SQSSourceConfig)) Source {
	t.Helper()
	cfg := SQSSourceConfig{QueueURL: e.url, Client: e.cl, WaitTime: time.Second, DeadLetterQueueURL: e.dlq, Logger: wQuiet()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSQSSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// counts returns the queue's visible and in-flight message counts.
func (e *wEnv) counts(t *testing.T, url string) (visible, inFlight int) {
	t.Helper()
	out, err := e.cl.GetQueueAttributes(wCtx(t, 10*time.Second), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	inFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, inFlight
}

// drain receives every message of url (holding them invisible) as Messages with attributes.
func (e *wEnv) drain(t *testing.T, url string) []types.Message {
	t.Helper()
	var all []types.Message
	for {
		out, err := e.cl.ReceiveMessage(wCtx(t, 10*time.Second), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
			MaxNumberOfMessages: 10, VisibilityTimeout: 60, WaitTimeSeconds: 0,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return all
		}
		all = append(all, out.Messages...)
	}
}

// startWorker runs w until the returned stop is called (or the test ends); stop returns Run's
// error.
func startWorker(t *testing.T, w *Worker) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func wWaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tally counts handler outcomes per message id.
type tally struct {
	mu   sync.Mutex
	ok   map[string]int
	runs atomic.Int64
}

func newTally() *tally { return &tally{ok: map[string]int{}} }

func (c *tally) success(id string) {
	c.mu.Lock()
	c.ok[id]++
	c.mu.Unlock()
}

func (c *tally) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ok)
}

func (c *tally) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok[id]
}

// countingSource counts the messages fetched through it; it forwards the optional interfaces.
type countingSource struct {
	Source
	fetched atomic.Int64
}

func (c *countingSource) Fetch(ctx context.Context, max int) ([]*Message, error) {
	ms, err := c.Source.Fetch(ctx, max)
	c.fetched.Add(int64(len(ms)))
	return ms, err
}

func (c *countingSource) leaseDuration() time.Duration {
	if l, ok := c.Source.(leaser); ok {
		return l.leaseDuration()
	}
	return 0
}

func (c *countingSource) Release(ctx context.Context, ms ...*Message) error {
	if r, ok := c.Source.(releaser); ok {
		return r.Release(ctx, ms...)
	}
	return nil
}
