package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-mq/sluice"
	"github.com/sluice-mq/sluice/sluicetest"
)

func send(cl *sqs.Client, url string, bodies ...string) {
	for _, b := range bodies {
		if _, err := cl.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)}); err != nil {
			log.Fatal(err)
		}
	}
}

// untilSettled returns a context that ends once w has processed or dead-lettered n messages
// (a real worker runs until its service shuts down).
func untilSettled(w *sluice.Worker, n int64) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for s := w.Stats(); s.Processed+s.DeadLettered < n; s = w.Stats() {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	return ctx
}

// A worker on an SQS queue: long-poll receives, a pool of handlers, batched deletes.
func ExampleWorker() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	url := b.CreateQueue("orders", map[string]string{"VisibilityTimeout": "30"})
	send(b.SQSClient(), url, "order-1", "order-2", "order-3")

	src, err := sluice.NewSQSSource(sluice.SQSSourceConfig{QueueURL: url, Client: b.SQSClient(), WaitTime: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	ctx, cancel := context.WithCancel(context.Background())
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source:      src,
		Concurrency: 4,
		Logger:      slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, string(m.Body))
			if len(seen) == 3 {
				cancel() // a real worker runs until its service shuts down
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(ctx); err != nil { // returns after a graceful drain
		log.Fatal(err)
	}
	sort.Strings(seen)
	fmt.Println(strings.Join(seen, " "))
	fmt.Println("processed:", w.Stats().Processed)
	// Output:
	// order-1 order-2 order-3
	// processed: 3
}

// Failed messages are retried with backoff (on SQS: hidden for the backoff, the receive count
// numbering the attempts), then moved to a dead-letter queue with diagnostics.
func ExampleWorker_deadLetter() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	url := b.CreateQueue("payments", nil)
	dlq := b.CreateQueue("payments-dlq", nil)
	send(b.SQSClient(), url, "pay 10", "pay ten")

	src, err := sluice.NewSQSSource(sluice.SQSSourceConfig{QueueURL: url, Client: b.SQSClient(), WaitTime: time.Second,
		DeadLetterQueueURL: dlq})
	if err != nil {
		log.Fatal(err)
	}
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source:   src,
		WorkerID: "billing-1", Version: "v2.3.0",
		Retry:  sluice.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Second},
		Logger: slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			if strings.Contains(string(m.Body), "ten") {
				return errors.New("amount is not a number")
			}
			return nil
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
	fmt.Printf("%s: %d attempts, last error %q, by %s %s\n", aws.ToString(m.Body), d.Attempts, d.LastError, d.WorkerID, d.WorkerVersion)
	// Output:
	// pay ten: 2 attempts, last error "amount is not a number", by billing-1 v2.3.0
}

// Redrive moves dead-lettered messages back to their source queue — here only those whose
// last error matches, after a dry run that counts them.
func ExampleRedrive() {
	b, stop, err := sluicetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	url := b.CreateQueue("emails", nil)
	dlq := b.CreateQueue("emails-dlq", nil)
	send(b.SQSClient(), url, "to: a@example.com", "to: nobody")

	src, err := sluice.NewSQSSource(sluice.SQSSourceConfig{QueueURL: url, Client: b.SQSClient(), WaitTime: time.Second, DeadLetterQueueURL: dlq})
	if err != nil {
		log.Fatal(err)
	}
	w, err := sluice.NewWorker(sluice.WorkerConfig{Source: src, Retry: sluice.RetryPolicy{MaxAttempts: 1}, Logger: slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, m *sluice.Message) error {
			if strings.Contains(string(m.Body), "nobody") {
				return errors.New("invalid address")
			}
			return errors.New("smtp: connection refused")
		}})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(untilSettled(w, 2)); err != nil {
		log.Fatal(err)
	}

	cfg := sluice.RedriveConfig{Client: b.SQSClient(), From: dlq, MatchError: regexp.MustCompile(`connection refused`),
		DryRun: true, Logger: slog.New(slog.DiscardHandler)}
	res, err := sluice.Redrive(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("dry run: %d of %d would move\n", res.Matched, res.Scanned)
	cfg.DryRun, cfg.RatePerSecond = false, 100
	res, err = sluice.Redrive(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("moved %d\n", res.Moved)
	// Output:
	// dry run: 1 of 2 would move
	// moved 1
}

// The operational patterns are configuration: a rate limit, a circuit breaker that stops
// fetching while the dependency is down, per-handler timeouts, autoscaling between 2 and 32
// handlers on depth and age, Prometheus metrics and a bounded graceful shutdown.
func ExampleWorkerConfig() {
	src, err := sluice.NewSQSSource(sluice.SQSSourceConfig{
		Endpoint:           "http://127.0.0.1:9324",
		QueueURL:           "http://127.0.0.1:9324/000000000000/thumbnails",
		VisibilityTimeout:  time.Minute, // extended every 30s while a handler runs
		DeadLetterQueueURL: "http://127.0.0.1:9324/000000000000/thumbnails-dlq",
	})
	if err != nil {
		log.Fatal(err)
	}
	w, err := sluice.NewWorker(sluice.WorkerConfig{
		Source:         src,
		Handler:        func(ctx context.Context, m *sluice.Message) error { return nil },
		RateLimit:      200, // messages per second
		HandlerTimeout: 30 * time.Second,
		Retry:          sluice.RetryPolicy{MaxAttempts: 5, InitialBackoff: 2 * time.Second, MaxBackoff: 5 * time.Minute},
		Breaker:        &sluice.BreakerConfig{ConsecutiveFailures: 10, OpenTimeout: 30 * time.Second},
		Autoscale: &sluice.AutoscaleConfig{Min: 2, Max: 32, Interval: 10 * time.Second, Cooldown: 30 * time.Second,
			ScaleUpDepth: 500, ScaleDownDepth: 10, ScaleUpAge: 2 * time.Minute,
			OnDecision: func(d sluice.ScaleDecision) { log.Printf("concurrency %d -> %d: %s", d.From, d.To, d.Reason) }},
		ShutdownTimeout: 20 * time.Second,
		Registerer:      prometheus.DefaultRegisterer,
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = w // w.Run(ctx) until the service stops
}
