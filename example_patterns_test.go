package sluice_test

// Runnable examples of the worker patterns, each against an in-process broker. Handlers run
// concurrently and messages arrive in no fixed order, so the examples print counts, sorted
// lists and final states rather than anything in arrival order.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice"
	"github.com/sluice-mq/sluice/sluicetest"
)

// sqsWorkerSource starts a broker with one queue holding bodies and returns the broker, the
// queue's URL, an SQS source on it and the broker's stop function.
func sqsWorkerSource(queue string, bodies ...string) (*sluicetest.Broker, string, sluice.Source, func()) {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	url := b.CreateQueue(queue, nil)
	send(b.SQSClient(), url, bodies...)
	src, err := sluice.NewSQSSource(sluice.SQSSourceConfig{QueueURL: url, Client: b.SQSClient(), WaitTime: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		stop()
		log.Fatal(err)
	}
	return b, url, src, stop
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

// A batch handler receives up to BatchSize messages at once, or fewer once BatchWait has
// passed — for bulk inserts and bulk API calls. A *BatchError fails only some of them.
func ExampleWorkerConfig_batchHandler() {
	_, _, src, stop := sqsWorkerSource("events", numbered("event", 25)...)
	defer stop()

	var mu sync.Mutex
	var batches, largest int
	var stored []string
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source:    src,
		BatchSize: 10,
		BatchWait: 100 * time.Millisecond,
		Logger:    slog.New(slog.DiscardHandler),
		BatchHandler: func(ctx context.Context, ms []*sluice.Message) error {
			mu.Lock()
			defer mu.Unlock()
			batches++
			largest = max(largest, len(ms))
			for _, m := range ms {
				stored = append(stored, string(m.Body)) // e.g. one multi-row INSERT
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(untilSettled(w, 25)); err != nil {
		log.Fatal(err)
	}
	sort.Strings(stored)
	fmt.Printf("stored %d events (%s … %s)\n", len(stored), stored[0], stored[len(stored)-1])
	fmt.Println("at least 3 batches:", batches >= 3, "none over 10:", largest <= 10)
	// Output:
	// stored 25 events (event-00 … event-24)
	// at least 3 batches: true none over 10: true
}

// RateLimit caps how many handlers start per second, whatever the concurrency — for a
// downstream API with a quota.
func ExampleWorkerConfig_rateLimit() {
	_, _, src, stop := sqsWorkerSource("sms", numbered("sms", 10)...)
	defer stop()

	var mu sync.Mutex
	var starts []time.Time
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source:      src,
		Concurrency: 8,
		RateLimit:   20, // per second
		Burst:       1,
		Logger:      slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(untilSettled(w, 10)); err != nil {
		log.Fatal(err)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	span := starts[len(starts)-1].Sub(starts[0])
	// 10 starts at 20/s with a burst of 1: nine intervals of 50ms.
	fmt.Println("handled:", len(starts))
	fmt.Println("spread over at least 400ms:", span >= 400*time.Millisecond)
	// Output:
	// handled: 10
	// spread over at least 400ms: true
}

// A circuit breaker: after ConsecutiveFailures failures in a row it opens and the worker stops
// fetching, so the messages wait in the queue instead of burning their attempts; after
// OpenTimeout one probe is let through, and its success closes the breaker again.
func ExampleBreakerConfig() {
	_, _, src, stop := sqsWorkerSource("invoices", numbered("invoice", 5)...)
	defer stop()

	var mu sync.Mutex
	var transitions []string
	open := false
	handledWhileOpen := 0
	var dependencyDown atomic.Bool
	dependencyDown.Store(true)
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source: src,
		Retry:  sluice.RetryPolicy{MaxAttempts: 10, InitialBackoff: 500 * time.Millisecond}, // SQS: hidden for 1s
		Breaker: &sluice.BreakerConfig{
			ConsecutiveFailures: 3,
			OpenTimeout:         200 * time.Millisecond,
			// Runs inside the breaker's lock: record and return.
			OnStateChange: func(from, to string) {
				mu.Lock()
				defer mu.Unlock()
				transitions = append(transitions, from+" -> "+to)
				open = to == "open"
				if open {
					dependencyDown.Store(false) // the dependency recovers while the breaker is open
				}
			},
		},
		Logger: slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			mu.Lock()
			if open {
				handledWhileOpen++
			}
			mu.Unlock()
			if dependencyDown.Load() {
				return errors.New("billing service unavailable")
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(untilSettled(w, 5)); err != nil {
		log.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Println(strings.Join(transitions, "\n"))
	fmt.Println("handled while open:", handledWhileOpen)
	fmt.Println("processed:", w.Stats().Processed, "dead-lettered:", w.Stats().DeadLettered)
	// Output:
	// closed -> open
	// open -> half-open
	// half-open -> closed
	// handled while open: 0
	// processed: 5 dead-lettered: 0
}

// HandlerTimeout gives every handler run a context deadline; a handler that respects its
// context fails with context.DeadlineExceeded, which counts as a failed attempt.
func ExampleWorkerConfig_handlerTimeout() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	url := b.CreateQueue("thumbnails", nil)
	dlq := b.CreateQueue("thumbnails-dlq", nil)
	send(b.SQSClient(), url, "small.png", "huge.tiff")
	src, err := sluice.NewSQSSource(sluice.SQSSourceConfig{QueueURL: url, Client: b.SQSClient(), WaitTime: time.Second,
		DeadLetterQueueURL: dlq, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}

	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source:         src,
		Concurrency:    2,
		HandlerTimeout: 100 * time.Millisecond,
		Retry:          sluice.RetryPolicy{MaxAttempts: 1},
		Logger:         slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			work := 10 * time.Millisecond
			if strings.HasSuffix(string(m.Body), ".tiff") {
				work = time.Minute
			}
			select {
			case <-time.After(work):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(untilSettled(w, 2)); err != nil {
		log.Fatal(err)
	}
	out, err := b.SQSClient().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq),
		MessageAttributeNames: []string{"All"}})
	if err != nil || len(out.Messages) != 1 {
		log.Fatal(out, err)
	}
	m := out.Messages[0]
	d, _ := sluice.DiagnosticsOf(&sluice.Message{Attributes: map[string]string{
		sluice.DiagnosticsAttribute: aws.ToString(m.MessageAttributes[sluice.DiagnosticsAttribute].StringValue)}})
	fmt.Println("processed:", w.Stats().Processed)
	fmt.Printf("dead-lettered %s: %s\n", aws.ToString(m.Body), d.LastError)
	// Output:
	// processed: 1
	// dead-lettered huge.tiff: context deadline exceeded
}

// Autoscaling grows the pool while the backlog is deep and shrinks it back once the queue is
// drained, between Min and Max, at most once per Cooldown; OnDecision reports every change.
func ExampleAutoscaleConfig() {
	_, _, src, stop := sqsWorkerSource("renders", numbered("render", 60)...)
	defer stop()

	var mu sync.Mutex
	var decisions []sluice.ScaleDecision
	peak := 0
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source: src,
		Autoscale: &sluice.AutoscaleConfig{
			Min: 1, Max: 4,
			Interval:     20 * time.Millisecond,
			Cooldown:     50 * time.Millisecond,
			ScaleUpDepth: 10, ScaleDownDepth: 0,
			OnDecision: func(d sluice.ScaleDecision) {
				mu.Lock()
				defer mu.Unlock()
				decisions = append(decisions, d)
				peak = max(peak, d.To)
			},
		},
		Logger: slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			time.Sleep(10 * time.Millisecond)
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Run until the backlog is done and the pool is back at its minimum.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for s := w.Stats(); s.Processed < 60 || s.ScaleDowns == 0 || s.Concurrency != 1; s = w.Stats() {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The exact steps depend on timing; the shape does not.
	fmt.Println("processed:", w.Stats().Processed)
	fmt.Println("first decision:", decisions[0].From, "->", decisions[0].To, "on", strings.Fields(decisions[0].Reason)[0])
	fmt.Println("peak concurrency:", peak)
	fmt.Println("final concurrency:", w.Stats().Concurrency)
	// Output:
	// processed: 60
	// first decision: 1 -> 2 on depth
	// peak concurrency: 4
	// final concurrency: 1
}

// OrderByKey keeps the messages of one key in order on Kafka while different keys run in
// parallel: two messages with the same key never run at once.
func ExampleWorkerConfig_orderByKey() {
	b, stop, err := sluicetest.Start(sluicetest.WithSettings(map[string]string{"group.initial.rebalance.delay.ms": "0"}))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	b.CreateTopic("accounts", 1)
	cl := b.KafkaClient()
	for i := 1; i <= 4; i++ {
		for _, acct := range []string{"alice", "bob", "carol"} {
			rec := &kgo.Record{Topic: "accounts", Key: []byte(acct), Value: fmt.Appendf(nil, "%d", i)}
			if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
				log.Fatal(err)
			}
		}
	}

	src, err := sluice.NewKafkaSource(sluice.KafkaSourceConfig{
		Brokers: []string{b.KafkaAddr()},
		Topics:  []string{"accounts"},
		Group:   "ledger",
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	applied := map[string][]string{}
	running := map[string]bool{}
	overlaps := 0
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source:      src,
		Concurrency: 6,
		OrderByKey:  true,
		Logger:      slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			k := string(m.Key)
			mu.Lock()
			if running[k] {
				overlaps++
			}
			running[k] = true
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			running[k] = false
			applied[k] = append(applied[k], string(m.Body))
			if len(applied["alice"])+len(applied["bob"])+len(applied["carol"]) == 12 {
				cancel()
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
	for _, acct := range []string{"alice", "bob", "carol"} {
		fmt.Println(acct, strings.Join(applied[acct], " "))
	}
	fmt.Println("overlaps:", overlaps)
	// Output:
	// alice 1 2 3 4
	// bob 1 2 3 4
	// carol 1 2 3 4
	// overlaps: 0
}

// Graceful shutdown: when Run's context ends the worker stops fetching, lets the handlers in
// flight finish (up to ShutdownTimeout), acknowledges what finished and hands back the rest,
// then returns.
func ExampleWorker_Run() {
	b, url, src, stop := sqsWorkerSource("exports", numbered("export", 3)...)
	defer stop()

	var started, finished atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source:          src,
		Concurrency:     3,
		ShutdownTimeout: 5 * time.Second,
		Logger:          slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			if started.Add(1) == 3 {
				cancel() // SIGTERM arrives while all three are running
			}
			time.Sleep(200 * time.Millisecond)
			finished.Add(1)
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("finished after the signal:", finished.Load())
	fmt.Println("processed:", w.Stats().Processed)

	// Everything that finished was deleted: the queue is empty, nothing in flight.
	attrs, err := b.SQSClient().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("left in the queue:", attrs.Attributes["ApproximateNumberOfMessages"], "in flight:", attrs.Attributes["ApproximateNumberOfMessagesNotVisible"])
	// Output:
	// finished after the signal: 3
	// processed: 3
	// left in the queue: 0 in flight: 0
}
